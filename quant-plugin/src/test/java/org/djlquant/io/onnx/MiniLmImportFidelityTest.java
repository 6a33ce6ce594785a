package org.djlquant.io.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The imported MiniLM on PyTorch reproduces ONNX Runtime running the original file, token by token,
 * on real sentences batched with padding.
 */
class MiniLmImportFidelityTest {

    private static final int HIDDEN = 384;

    private static Path dir;
    private static ImportedModel imported;
    private static Model onnxRuntime;
    private static Model pytorch;
    private static HuggingFaceTokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        dir = Files.createTempDirectory("djlq-minilm");
        Path onnx = MiniLm.extract(MiniLm.ONNX, dir);
        tokenizer =
                HuggingFaceTokenizer.builder()
                        .optTokenizerPath(MiniLm.extract(MiniLm.TOKENIZER, dir))
                        .optPadding(false)
                        .optTruncation(false)
                        .build();
        onnxRuntime = Model.newInstance("minilm-ort", "OnnxRuntime");
        onnxRuntime.load(dir, "all-minilm-l6-v2");
        imported = OnnxImporter.importModel(onnx);
        pytorch = imported.newModel("minilm-djl", "PyTorch");
    }

    @AfterAll
    static void close() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {pytorch, onnxRuntime, tokenizer}) {
            if (c != null) {
                c.close();
            }
        }
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    @Test
    void importReadsMiniLmArchitecture() {
        assertEquals(
                new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f, -Float.MAX_VALUE),
                imported.getConfig());
        assertEquals("last_hidden_state", imported.getOutputName());
        assertEquals(11, imported.getOpsetVersion());
    }

    @Test
    void importedMiniLmOnPyTorchMatchesOnnxRuntimeOnRealSentences() throws Exception {
        Batch batch = batch(MiniLm.sentences(20), Integer.MAX_VALUE);
        assertTrue(batch.shortest < batch.tokens, "the batch must contain padding");
        assertClose("20 sentences", batch);
    }

    @Test
    void importedMiniLmMatchesOnnxRuntimeAt128Tokens() throws Exception {
        List<String> texts = new ArrayList<>();
        List<String> sentences = MiniLm.sentences(48);
        for (int i = 0; i < 4; i++) {
            texts.add(String.join(" ", sentences.subList(i * 12, i * 12 + 12)));
        }
        texts.add(sentences.get(0));
        Batch batch = batch(texts, 128);
        assertEquals(128, batch.tokens);
        assertClose("128-token inputs", batch);
    }

    @Test
    void importedMiniLmParametersRoundTripThroughModelSaveAndLoad(@TempDir Path saved)
            throws Exception {
        Batch batch = batch(MiniLm.sentences(4), Integer.MAX_VALUE);
        float[] before = run(pytorch, batch);
        pytorch.save(saved, "minilm");
        try (Model reloaded = Model.newInstance("minilm", "PyTorch")) {
            reloaded.setBlock(new BertModelBlock(imported.getConfig()));
            reloaded.load(saved, "minilm");
            assertArrayEquals(before, run(reloaded, batch));
        }
    }

    private static void assertClose(String label, Batch batch) throws Exception {
        float[] expected = run(onnxRuntime, batch);
        float[] actual = run(pytorch, batch);
        assertEquals(batch.ids.length * HIDDEN, actual.length);
        double maxAbs = 0;
        double minCosine = 1;
        int compared = 0;
        for (int i = 0; i < batch.ids.length; i++) {
            if (batch.mask[i] == 0) {
                continue;
            }
            int offset = i * HIDDEN;
            double dot = 0;
            double na = 0;
            double ne = 0;
            for (int h = 0; h < HIDDEN; h++) {
                double a = actual[offset + h];
                double e = expected[offset + h];
                maxAbs = Math.max(maxAbs, Math.abs(a - e));
                dot += a * e;
                na += a * a;
                ne += e * e;
            }
            minCosine = Math.min(minCosine, dot / Math.sqrt(na * ne));
            compared++;
        }
        System.out.printf(
                "MiniLM import fidelity, %s: batch %dx%d, %d real tokens, max |diff| %.3g,"
                        + " min cosine %.8f%n",
                label, batch.rows, batch.tokens, compared, maxAbs, minCosine);
        assertTrue(maxAbs <= 1e-3, "max abs diff " + maxAbs);
        assertTrue(minCosine >= 0.99999, "min cosine " + minCosine);
    }

    /** Row-major padded inputs. */
    private record Batch(
            int rows, int tokens, int shortest, long[] ids, long[] mask, long[] types) {}

    /** Tokenizes, cuts rows longer than maxLength (keeping [SEP]) and pads to the longest row. */
    private static Batch batch(List<String> texts, int maxLength) {
        Encoding[] encodings = tokenizer.batchEncode(texts);
        long[][] rows = new long[encodings.length][];
        int tokens = 0;
        int shortest = Integer.MAX_VALUE;
        for (int b = 0; b < rows.length; b++) {
            long[] id = encodings[b].getIds();
            if (id.length > maxLength) {
                long sep = id[id.length - 1];
                id = Arrays.copyOf(id, maxLength);
                id[maxLength - 1] = sep;
            }
            rows[b] = id;
            tokens = Math.max(tokens, id.length);
            shortest = Math.min(shortest, id.length);
        }
        long[] ids = new long[rows.length * tokens];
        long[] mask = new long[rows.length * tokens];
        for (int b = 0; b < rows.length; b++) {
            for (int t = 0; t < rows[b].length; t++) {
                ids[b * tokens + t] = rows[b][t];
                mask[b * tokens + t] = 1;
            }
        }
        return new Batch(rows.length, tokens, shortest, ids, mask, new long[ids.length]);
    }

    private static float[] run(Model model, Batch batch) throws Exception {
        Shape shape = new Shape(batch.rows, batch.tokens);
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
                NDManager manager = model.getNDManager().newSubManager()) {
            NDArray a = manager.create(batch.ids, shape);
            a.setName("input_ids");
            NDArray m = manager.create(batch.mask, shape);
            m.setName("attention_mask");
            NDArray t = manager.create(batch.types, shape);
            t.setName("token_type_ids");
            return predictor.predict(new NDList(a, m, t)).get(0).toFloatArray();
        }
    }
}
