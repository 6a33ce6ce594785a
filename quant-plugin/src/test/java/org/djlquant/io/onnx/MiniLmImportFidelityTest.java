package org.djlquant.io.onnx;

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
import java.nio.file.Path;
import java.util.List;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The imported MiniLM on PyTorch reproduces ONNX Runtime running the original file, token by token,
 * on real sentences batched with padding.
 */
class MiniLmImportFidelityTest {

    private static final int SENTENCES = 20;

    @Test
    void importedMiniLmOnPyTorchMatchesOnnxRuntimeOnRealSentences(@TempDir Path dir)
            throws Exception {
        Path onnx = MiniLm.extract(MiniLm.ONNX, dir);
        Path tokenizerFile = MiniLm.extract(MiniLm.TOKENIZER, dir);
        List<String> sentences = MiniLm.sentences(SENTENCES);

        ImportedModel imported = OnnxImporter.importModel(onnx);
        BertConfig config = imported.getConfig();
        assertEquals(
                new BertConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f, -Float.MAX_VALUE), config);
        assertEquals("last_hidden_state", imported.getOutputName());

        Encoding[] encodings;
        try (HuggingFaceTokenizer tokenizer =
                HuggingFaceTokenizer.builder()
                        .optTokenizerPath(tokenizerFile)
                        .optPadding(false)
                        .optTruncation(false)
                        .build()) {
            encodings = tokenizer.batchEncode(sentences);
        }
        int batch = encodings.length;
        int tokens = 0;
        int shortest = Integer.MAX_VALUE;
        for (Encoding e : encodings) {
            tokens = Math.max(tokens, e.getIds().length);
            shortest = Math.min(shortest, e.getIds().length);
        }
        assertTrue(shortest < tokens, "the batch must contain padding");
        long[] ids = new long[batch * tokens];
        long[] mask = new long[batch * tokens];
        long[] types = new long[batch * tokens];
        for (int b = 0; b < batch; b++) {
            long[] id = encodings[b].getIds();
            for (int t = 0; t < id.length; t++) {
                ids[b * tokens + t] = id[t];
                mask[b * tokens + t] = 1;
                types[b * tokens + t] = encodings[b].getTypeIds()[t];
            }
        }
        Shape shape = new Shape(batch, tokens);

        float[] expected;
        try (Model ort = Model.newInstance("minilm-ort", "OnnxRuntime")) {
            ort.load(dir, "all-minilm-l6-v2");
            expected = run(ort, ids, mask, types, shape);
        }
        float[] actual;
        try (Model djl = imported.newModel("minilm-djl", "PyTorch")) {
            actual = run(djl, ids, mask, types, shape);
        }

        int hidden = config.hiddenSize();
        assertEquals(batch * tokens * hidden, actual.length);
        double maxAbs = 0;
        double minCosine = 1;
        int compared = 0;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < tokens; t++) {
                if (mask[b * tokens + t] == 0) {
                    continue;
                }
                int offset = (b * tokens + t) * hidden;
                double dot = 0;
                double na = 0;
                double ne = 0;
                for (int h = 0; h < hidden; h++) {
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
        }
        System.out.printf(
                "MiniLM import fidelity: %d sentences, %d real tokens (batch %dx%d), max |diff| %.3g,"
                        + " min cosine %.8f%n",
                batch, compared, batch, tokens, maxAbs, minCosine);
        assertTrue(maxAbs <= 1e-3, "max abs diff " + maxAbs);
        assertTrue(minCosine >= 0.99999, "min cosine " + minCosine);
    }

    private static float[] run(Model model, long[] ids, long[] mask, long[] types, Shape shape)
            throws Exception {
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
                NDManager manager = model.getNDManager().newSubManager()) {
            NDArray a = manager.create(ids, shape);
            a.setName("input_ids");
            NDArray m = manager.create(mask, shape);
            m.setName("attention_mask");
            NDArray t = manager.create(types, shape);
            t.setName("token_type_ids");
            NDList out = predictor.predict(new NDList(a, m, t));
            return out.get(0).toFloatArray();
        }
    }
}
