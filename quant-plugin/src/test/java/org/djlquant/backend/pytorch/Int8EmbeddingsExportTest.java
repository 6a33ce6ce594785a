package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.djlquant.config.QMode;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertEmbeddings;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A float tiny BERT exported with {@link TorchScriptExporter.Builder#optInt8Embeddings} (word and
 * position tables INT8 per row) against DJL's forward of the same model whose two tables hold the
 * dequantized values computed in Java ({@code q * scale}): only the storage of the tables differs,
 * so the outputs agree to float rounding; and the archive stores the two tables as one byte per
 * value; the manifest lists the two tables only when they are stored INT8.
 */
class Int8EmbeddingsExportTest {

    private static final int VOCAB = 300;
    private static final int HIDDEN = 32;
    private static final int POSITIONS = 64;

    @Test
    void int8TablesComputeTheDequantizedModelAndShrinkTheArchive(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = tinyBert(m);
            Shape s = new Shape(2, 9);
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
            QuantizationManifest int8Manifest = exportInt8Tables(bert, dir, "int8emb");
            TorchScriptExporter.Exported floatTables = exporter.export();
            long int8Size = Files.size(dir.resolve("int8emb.pt"));
            // (300 + 64) x 32 floats become bytes plus one float scale per row
            long saved = (long) (VOCAB + POSITIONS) * HIDDEN * 3 - 4L * (VOCAB + POSITIONS);
            // the manifest (stored as is) lists the two tables
            long manifestGrowth =
                    int8Manifest.toJson().getBytes(StandardCharsets.UTF_8).length
                            - floatTables
                                    .manifest()
                                    .toJson()
                                    .getBytes(StandardCharsets.UTF_8)
                                    .length;
            // two more zip records (the scales) and a longer forward: under 1 KiB
            assertEquals(
                    floatTables.bytes().length - saved + manifestGrowth,
                    int8Size,
                    1024.0,
                    "archive bytes");

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

    @Test
    void manifestRecordsTheInt8TablesOnlyWhenAsked(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = tinyBert(m);
            BertEmbeddings emb = (BertEmbeddings) bert.getEmbeddings();
            // word row r: values ((c % 5) - 2) * 0.1 * (1 + r % 3), max |x| 0.2, 0.4 or 0.6
            // -> scales 0.2/127.5 .. 0.6/127.5; position row r: max |x| 1.275 * (1 + r % 2) ->
            // scales 0.01 .. 0.02
            fill(emb.getWord(), (r, c) -> ((c % 5) - 2) * 0.1f * (1 + r % 3));
            fill(emb.getPosition(), (r, c) -> (c == 3 ? -1.275f : 0.5f) * (1 + r % 2));

            QuantizationManifest plain =
                    TorchScriptExporter.builder().setBlock(bert).build().export(dir, "plain");
            assertEquals(List.of(), plain.layers(), plain.toJson());

            QuantizationManifest int8 = exportInt8Tables(bert, dir, "int8");
            assertEquals(2, int8.layers().size(), int8.toJson());
            QuantizationManifest.Layer word = int8.layers().get(0);
            QuantizationManifest.Layer position = int8.layers().get(1);
            assertEquals("embeddings.word", word.path());
            assertEquals("embeddings.position", position.path());
            for (QuantizationManifest.Layer l : int8.layers()) {
                assertEquals(QMode.WEIGHT_ONLY, l.mode(), l.path());
                assertEquals(QDataType.INT8, l.weightDtype(), l.path());
                assertEquals(QScheme.SYMMETRIC, l.weightScheme(), l.path());
                assertEquals("per-channel(axis=0)", l.weightGranularity(), l.path());
                assertEquals(0, l.weightZeroPointMin(), l.path());
                assertEquals(0, l.weightZeroPointMax(), l.path());
                assertNull(l.inputScale(), l.path());
                assertNull(l.inputZeroPoint(), l.path());
                assertFalse(l.outputQuantized(), l.path());
            }
            assertTrue(word.kernel().startsWith("aten::embedding"), word.kernel());
            assertTrue(position.kernel().startsWith("aten::slice"), position.kernel());
            assertEquals(0.2 / 127.5, word.weightScaleMin(), 1e-7);
            assertEquals(0.6 / 127.5, word.weightScaleMax(), 1e-7);
            assertEquals(0.01, position.weightScaleMin(), 1e-7);
            assertEquals(0.02, position.weightScaleMax(), 1e-7);
            // one byte per value and one float scale per row, against four bytes per value
            assertEquals((long) VOCAB * HIDDEN + 4L * VOCAB, word.storedWeightBytes());
            assertEquals(4L * VOCAB * HIDDEN, word.float32WeightBytes());
            assertEquals((long) POSITIONS * HIDDEN + 4L * POSITIONS, position.storedWeightBytes());
            assertEquals(4L * POSITIONS * HIDDEN, position.float32WeightBytes());
            // the archive carries the same manifest, and it passes the load-time check
            QuantizationManifest read = QuantizedArtifacts.readManifest(dir.resolve("int8.pt"));
            assertEquals(int8, read);
            QuantizedArtifacts.checkCompatible(read);
        }
    }

    /** A float one-layer BERT, initialized for [2, 9] inputs. */
    private static BertModelBlock tinyBert(NDManager m) {
        BertModelBlock bert =
                new BertModelBlock(
                        new BertConfig(VOCAB, HIDDEN, 1, 4, 64, POSITIONS, 2, 1e-12f, -1e4f));
        Shape s = new Shape(2, 9);
        bert.initialize(m, DataType.FLOAT32, s, s, s);
        return bert;
    }

    /** Exports with INT8 tables as {@code <dir>/<name>.pt}. */
    private static QuantizationManifest exportInt8Tables(BertModelBlock bert, Path dir, String name)
            throws QuantizationException {
        return TorchScriptExporter.builder()
                .setBlock(bert)
                .optInt8Embeddings(true)
                .build()
                .export(dir, name);
    }

    /** Sets {@code table[r][c] = f(r, c)}. */
    private static void fill(Parameter table, RowColumn f) {
        NDArray a = table.getArray();
        int rows = Math.toIntExact(a.getShape().get(0));
        int cols = Math.toIntExact(a.getShape().get(1));
        float[] v = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                v[r * cols + c] = f.value(r, c);
            }
        }
        a.set(FloatBuffer.wrap(v));
    }

    /** A table's value at a row and column. */
    private interface RowColumn {
        float value(int r, int c);
    }

    /** Replaces a table by q * scale of its per-row INT8 form. */
    private static void dequantizeInPlace(Parameter table) {
        NDArray a = table.getArray();
        int rows = Math.toIntExact(a.getShape().get(0));
        int cols = Math.toIntExact(a.getShape().get(1));
        float[] v = a.toFloatArray();
        byte[] q = new byte[v.length];
        float[] scales = QuantMath.quantizeRowsInt8(v, rows, cols, q).scales();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                v[r * cols + c] = q[r * cols + c] * scales[r];
            }
        }
        a.set(FloatBuffer.wrap(v));
    }
}
