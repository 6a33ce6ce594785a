package org.djlquant.backend.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.Random;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A two-layer BERT built from our blocks (random weights, padded batch) exported float (fused and
 * decomposed LayerNorm), static INT8 and dynamic INT8 agrees with DJL running the same block tree.
 *
 * <p>Float: the graphs differ only in summation order, so ≤ 1e-4. Quantized: the comparison is with
 * the fake-quant simulation of the same prepared tree; the differences are float summation order
 * (int32 exact sums in ORT), the INT32 bias grid and rare one-step tie flips (see {@link
 * FfnExportTest}). LayerNorm divides by the row's standard deviation (≈ 1 here, gamma = 1), so a
 * one-step flip of an input of a layer moves a normalised output by about {@code s_x · max|W|}: the
 * test bounds every element by 0.05 and asks 99 % of them to agree within 1e-3.
 */
class TinyBertExportTest {

    private static final int ROWS = 3;
    private static final int TOKENS = 7;
    private static final BertConfig CONFIG =
            new BertConfig(40, 16, 2, 2, 32, 16, 2, 1e-12f, -Float.MAX_VALUE);

    private static final long[] IDS = new long[ROWS * TOKENS];
    private static final long[] MASK = new long[ROWS * TOKENS];
    private static final long[] TYPES = new long[ROWS * TOKENS];

    static {
        Random r = new Random(3);
        int[] lengths = {7, 5, 3};
        for (int b = 0; b < ROWS; b++) {
            for (int t = 0; t < TOKENS; t++) {
                int i = b * TOKENS + t;
                boolean real = t < lengths[b];
                IDS[i] = real ? 1 + r.nextInt(39) : 0;
                MASK[i] = real ? 1 : 0;
                TYPES[i] = real && t > 3 ? 1 : 0;
            }
        }
    }

    private static BertModelBlock bert(NDManager m) {
        Engine.getEngine("PyTorch").setRandomSeed(5);
        BertModelBlock b = new BertModelBlock(CONFIG);
        Shape s = new Shape(ROWS, TOKENS);
        b.initialize(m, DataType.FLOAT32, s, s, s);
        return b;
    }

    private static float[] djl(BertModelBlock b, NDManager m, long[] ids) {
        Shape s = new Shape(ROWS, TOKENS);
        try (NDManager batch = m.newSubManager()) {
            NDList in =
                    new NDList(batch.create(ids, s), batch.create(MASK, s), batch.create(TYPES, s));
            return b.forward(new ParameterStore(batch, false), in, false).head().toFloatArray();
        }
    }

    private static float[] ort(byte[] onnx, Path dir, String name) throws Exception {
        try (OrtModel model = new OrtModel(onnx, dir, name)) {
            return model.runBert(IDS, MASK, TYPES, new Shape(ROWS, TOKENS));
        }
    }

    @Test
    void floatTinyBertMatchesDjlWithFusedAndDecomposedLayerNorm(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock b = bert(m);
            float[] expected = djl(b, m, IDS);
            for (ExportOptions.LayerNormForm form : ExportOptions.LayerNormForm.values()) {
                byte[] onnx =
                        OnnxExporter.builder().setBlock(b).optLayerNorm(form).build().toBytes();
                float[] actual = ort(onnx, dir, "bert_" + form.name().toLowerCase());
                double d = FfnExportTest.maxAbs(expected, actual);
                System.out.printf("tiny BERT float, LayerNorm %s: max abs %.3g%n", form, d);
                assertTrue(d <= 1e-4, form + ": max abs " + d);
            }
        }
    }

    @Test
    void staticAndDynamicTinyBertMatchFakeQuant(@TempDir Path dir) throws Exception {
        for (QConfig config :
                new QConfig[] {
                    QConfig.staticInt8(BackendTarget.ONNXRUNTIME),
                    QConfig.dynamicInt8(BackendTarget.ONNXRUNTIME)
                }) {
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                BertModelBlock b = bert(m);
                Preparer.prepare(b, QConfigMapping.global(config));
                Random r = new Random(9);
                for (int i = 0; i < 4; i++) {
                    long[] ids = IDS.clone();
                    for (int k = 0; k < ids.length; k++) {
                        ids[k] = MASK[k] == 1 ? 1 + r.nextInt(39) : 0;
                    }
                    djl(b, m, ids);
                }
                Twins.setObserving(b, false);
                Twins.setFakeQuant(b, true);
                float[] fake = djl(b, m, IDS);
                Twins.setFakeQuant(b, false);
                float[] fp32 = djl(b, m, IDS);
                byte[] onnx = OnnxExporter.builder().setBlock(b).build().toBytes();
                float[] actual = ort(onnx, dir, "bert_" + config.mode().name().toLowerCase());
                assertEquals(fake.length, actual.length);
                int close = 0;
                for (int i = 0; i < fake.length; i++) {
                    if (Math.abs(fake[i] - actual[i]) <= 1e-3) {
                        close++;
                    }
                }
                double d = FfnExportTest.maxAbs(fake, actual);
                System.out.printf(
                        "tiny BERT %s: ORT vs fake-quant max abs %.3g, %d of %d within 1e-3;"
                                + " fake-quant vs FP32 max abs %.3g%n",
                        config.mode(), d, close, fake.length, FfnExportTest.maxAbs(fake, fp32));
                assertTrue(d <= 0.05, config.mode() + ": max abs " + d);
                assertTrue(close >= fake.length * 0.99, close + " of " + fake.length);
                // the quantized graph is not the float one: quantization changed the outputs
                assertTrue(FfnExportTest.maxAbs(fp32, actual) > 1e-3);
            }
        }
    }
}
