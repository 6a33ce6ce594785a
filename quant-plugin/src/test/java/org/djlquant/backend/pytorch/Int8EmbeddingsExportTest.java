package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.training.ParameterStore;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertEmbeddings;
import org.djlquant.nn.transformer.BertModelBlock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A float tiny BERT exported with {@link TorchScriptExporter.Builder#optInt8Embeddings} (word and
 * position tables INT8 per row) against DJL's forward of the same model whose two tables hold the
 * dequantized values computed in Java ({@code q * scale}): only the storage of the tables differs,
 * so the outputs agree to float rounding; and the archive stores the two tables as one byte per
 * value.
 */
class Int8EmbeddingsExportTest {

    private static final int VOCAB = 300;
    private static final int HIDDEN = 32;
    private static final int POSITIONS = 64;

    @Test
    void int8TablesComputeTheDequantizedModelAndShrinkTheArchive(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert =
                    new BertModelBlock(
                            new BertConfig(VOCAB, HIDDEN, 1, 4, 64, POSITIONS, 2, 1e-12f, -1e4f));
            Shape s = new Shape(2, 9);
            bert.initialize(m, DataType.FLOAT32, s, s, s);
            Random random = new Random(17);
            for (var p : bert.getParameters()) {
                NDArray a = p.getValue().getArray();
                float[] v = new float[Math.toIntExact(a.size())];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (random.nextGaussian() * 0.2);
                }
                a.set(FloatBuffer.wrap(v));
            }
            TorchScriptExporter exporter = TorchScriptExporter.builder().setBlock(bert).build();
            TorchScriptExporter.builder()
                    .setBlock(bert)
                    .optInt8Embeddings(true)
                    .build()
                    .export(dir, "int8emb");
            byte[] floatTables = exporter.export().bytes();
            long int8Size = Files.size(dir.resolve("int8emb.pt"));
            // (300 + 64) x 32 floats become bytes plus one float scale per row
            long saved = (long) (VOCAB + POSITIONS) * HIDDEN * 3 - 4L * (VOCAB + POSITIONS);
            // two more zip records (the scales) and a longer forward: under 1 KiB
            assertEquals(floatTables.length - saved, int8Size, 1024.0, "archive bytes");

            BertEmbeddings emb = (BertEmbeddings) bert.getEmbeddings();
            dequantizeInPlace(emb.getWord());
            dequantizeInPlace(emb.getPosition());
            long[] ids = new long[18];
            long[] mask = new long[18];
            long[] types = new long[18];
            for (int i = 0; i < 18; i++) {
                ids[i] = random.nextInt(VOCAB);
                mask[i] = i < 15 ? 1 : 0;
                types[i] = i % 9 < 4 ? 0 : 1;
            }
            NDList in = new NDList(m.create(ids, s), m.create(mask, s), m.create(types, s));
            float[] expected =
                    bert.forward(new ParameterStore(m, false), in, false).head().toFloatArray();
            Criteria<NDList, NDList> criteria =
                    Criteria.builder()
                            .setTypes(NDList.class, NDList.class)
                            .optEngine("PyTorch")
                            .optModelPath(dir)
                            .optModelName("int8emb")
                            .build();
            float[] actual;
            try (ZooModel<NDList, NDList> model = criteria.loadModel();
                    Predictor<NDList, NDList> p = model.newPredictor()) {
                actual = p.predict(in).head().toFloatArray();
            }
            assertEquals(expected.length, actual.length);
            double diff = 0;
            for (int i = 0; i < expected.length; i++) {
                diff = Math.max(diff, Math.abs(expected[i] - actual[i]));
            }
            assertTrue(diff <= 1e-4, "max |diff| " + diff);
        }
    }

    /** Replaces a table by q * scale of its per-row INT8 form. */
    private static void dequantizeInPlace(Parameter table) {
        NDArray a = table.getArray();
        int rows = Math.toIntExact(a.getShape().get(0));
        int cols = Math.toIntExact(a.getShape().get(1));
        float[] v = a.toFloatArray();
        byte[] q = new byte[v.length];
        float[] scales = new float[rows];
        BuiltinLowerings.quantizeRows(v, rows, cols, q, scales);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                v[r * cols + c] = q[r * cols + c] * scales[r];
            }
        }
        a.set(FloatBuffer.wrap(v));
    }
}
