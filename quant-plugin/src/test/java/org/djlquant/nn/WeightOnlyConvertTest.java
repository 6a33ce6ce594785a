package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Weight-only INT8 and INT4 in place: converted models against the fake-quant simulation of the
 * same prepared model and against FP32 (SQNR floor), memory held, closing, refusals.
 *
 * <p>Tolerance vs simulation: the simulation computes {@code x · fq(W)ᵀ + b} with DJL's float32
 * matmul; the kernel computes the same products with the same dequantized weights ({@code q · s},
 * and {@code (u - 8) · s + (-s · z)} for INT4, equal to {@code s · (q - z)} up to one float32
 * rounding) in a float32 loop of another summation order. Activations are float32 (the kernels'
 * bfloat16 paths are not used), so the difference is float32 rounding only: we require {@code max|y
 * - y_sim| ≤ 2e-5 · max|y_sim|} (K up to 3072 terms at float32 epsilon 1.2e-7 gives a worst-case
 * relative bound of 4e-4 and a random-walk one of about 1e-5; measured below).
 */
class WeightOnlyConvertTest {

    private static QEngine before;

    @BeforeAll
    static void remember() {
        before = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(before);
    }

    private static float[] run(Block block, NDManager m, NDList in) {
        try (NDManager scope = m.newSubManager()) {
            return block.forward(new ParameterStore(scope, false), in, false).head().toFloatArray();
        }
    }

    private static NDList gaussian(NDManager m, long... shape) {
        Random r = new Random(3);
        int n = (int) new Shape(shape).size();
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDList(m.create(v, new Shape(shape)));
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float f : v) {
            m = Math.max(m, Math.abs(f));
        }
        return m;
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static SequentialBlock ffn768() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(3072).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(768).build());
    }

    /** FFN 768→3072→768: simulation, FP32, conversion, comparison; returns the SQNR vs FP32. */
    private static double ffnCase(QConfig config, int bits, String label) throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(21);
        try (Model model = Model.newInstance("wo-ffn", "PyTorch")) {
            SequentialBlock block = ffn768();
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 8, 768));
            model.setBlock(block);
            NDManager m = model.getNDManager();
            NDList x = gaussian(m, 1, 8, 768);
            float[] fp32 = run(block, m, x);
            Preparer.prepare(model, QConfigMapping.global(config));
            Twins.setFakeQuant(model.getBlock(), true);
            float[] sim = run(model.getBlock(), m, x);

            ConvertReport report = Converter.convert(model, QEngine.X86);
            assertEquals(2, report.weightOnlyLinears().size());
            for (ConvertReport.Entry e : report.entries()) {
                assertEquals(QMode.WEIGHT_ONLY, e.mode());
                assertEquals("WeightOnlyLinear", e.convertedTo());
            }
            SequentialBlock converted = (SequentialBlock) model.getBlock();
            assertInstanceOf(WeightOnlyLinear.class, converted.getChildren().get(0).getValue());
            float[] got = run(converted, m, x);

            double rel = maxDiff(got, sim) / maxAbs(sim);
            double sqnr = ConverterTest.sqnr(fp32, got);
            double sqnrSim = ConverterTest.sqnr(fp32, sim);
            long fp32Bytes = report.fp32WeightBytes();
            long wBytes = report.int8WeightBytes();
            long pBytes =
                    report.weightOnlyLinears().stream()
                            .mapToLong(WeightOnlyLinear::paramBytes)
                            .sum();
            System.out.printf(
                    Locale.ROOT,
                    "%s FFN 768-3072-768: max|y-sim|/max|sim| %.2e, SQNR vs FP32 %.2f dB (sim %.2f"
                            + " dB), weights %d B vs FP32 %d B (%.2fx; %.2fx with scales/zeros)%n",
                    label,
                    rel,
                    sqnr,
                    sqnrSim,
                    wBytes,
                    fp32Bytes,
                    (double) fp32Bytes / wBytes,
                    (double) fp32Bytes / (wBytes + pBytes));
            assertTrue(rel <= 2e-5, label + " vs simulation: " + rel);
            assertEquals(sqnrSim, sqnr, 0.01, label);
            assertEquals(bits == 8 ? 4.0 : 8.0, (double) fp32Bytes / wBytes, 1e-9);
            return sqnr;
        }
    }

    @Test
    void int8FfnMatchesTheSimulationAndHoldsWeightsFourTimesSmaller() throws Exception {
        double sqnr = ffnCase(QConfig.weightOnlyInt8(BackendTarget.FBGEMM), 8, "INT8");
        assertTrue(sqnr > 35, "INT8 weight-only SQNR " + sqnr);
    }

    @Test
    void int4FfnMatchesTheSimulationAndHoldsWeightsEightTimesSmaller() throws Exception {
        double sqnr = ffnCase(QConfig.weightOnlyInt4(128, BackendTarget.FBGEMM), 4, "INT4 g128");
        assertTrue(sqnr > 15, "INT4 weight-only SQNR " + sqnr);
        double fine = ffnCase(QConfig.weightOnlyInt4(32, BackendTarget.FBGEMM), 4, "INT4 g32");
        assertTrue(fine > sqnr, "smaller groups are more accurate: " + fine + " vs " + sqnr);
    }

    /**
     * BFLOAT16 compute rounds the activations, scales and outputs to bfloat16 (8-bit mantissa,
     * relative error up to 2^-9 per rounding, about 2^-9/√3 RMS), so against the simulation it is
     * not within float32 rounding; we require the converted output within 40 dB SQNR of the
     * simulation (bfloat16 rounding noise alone is about 50 dB for one layer, two layers and the
     * output rounding take a few dB) and its SQNR vs FP32 within 0.5 dB of the simulation's.
     */
    @Test
    void bfloat16ComputeStaysCloseToTheSimulation() throws Exception {
        for (QConfig qc :
                List.of(
                        QConfig.weightOnlyInt8(BackendTarget.FBGEMM),
                        QConfig.weightOnlyInt4(128, BackendTarget.FBGEMM))) {
            Engine.getEngine("PyTorch").setRandomSeed(21);
            try (Model model = Model.newInstance("wo-bf16", "PyTorch")) {
                SequentialBlock block = ffn768();
                block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 8, 768));
                model.setBlock(block);
                NDManager m = model.getNDManager();
                NDList x = gaussian(m, 1, 8, 768);
                float[] fp32 = run(block, m, x);
                Preparer.prepare(model, QConfigMapping.global(qc));
                Twins.setFakeQuant(model.getBlock(), true);
                float[] sim = run(model.getBlock(), m, x);
                ConvertReport report =
                        Converter.convert(
                                model, QEngine.X86, WeightOnlyPackedLinear.Compute.BFLOAT16);
                assertEquals(
                        WeightOnlyPackedLinear.Compute.BFLOAT16,
                        report.weightOnlyLinears().get(0).getCompute());
                float[] got = run(model.getBlock(), m, x);
                double vsSim = ConverterTest.sqnr(sim, got);
                double sqnr = ConverterTest.sqnr(fp32, got);
                double sqnrSim = ConverterTest.sqnr(fp32, sim);
                System.out.printf(
                        Locale.ROOT,
                        "BFLOAT16 compute %s FFN: SQNR vs simulation %.2f dB, vs FP32 %.2f dB (sim"
                                + " %.2f dB)%n",
                        qc.weightSpec(),
                        vsSim,
                        sqnr,
                        sqnrSim);
                assertTrue(vsSim > 40, "vs simulation " + vsSim);
                assertEquals(sqnrSim, sqnr, 0.5);
            }
        }
    }

    @Test
    void bertEncoderConvertedWeightOnlyMatchesTheSimulation() throws Exception {
        BertConfig config = new BertConfig(50, 64, 2, 4, 256, 16, 2, 1e-12f, -1e4f);
        for (QConfig qc :
                List.of(
                        QConfig.weightOnlyInt8(BackendTarget.FBGEMM),
                        QConfig.weightOnlyInt4(64, BackendTarget.FBGEMM))) {
            Engine.getEngine("PyTorch").setRandomSeed(5);
            try (Model model = Model.newInstance("wo-bert", "PyTorch")) {
                BertModelBlock bert = new BertModelBlock(config);
                bert.setInitializer(new NormalInitializer(0.05f), p -> true);
                Shape ids = new Shape(2, 8);
                NDManager m = model.getNDManager();
                bert.initialize(m, DataType.FLOAT32, ids, ids, ids);
                model.setBlock(bert);
                long[] tokens = new long[16];
                long[] mask = new long[16];
                for (int i = 0; i < 16; i++) {
                    tokens[i] = 1 + (i * 7) % 49;
                    mask[i] = i % 8 < 6 || i < 8 ? 1 : 0;
                }
                NDList in =
                        new NDList(
                                m.create(tokens, ids),
                                m.create(mask, ids),
                                m.zeros(ids, DataType.INT64));
                float[] fp32 = run(bert, m, in);
                Preparer.prepare(model, QConfigMapping.global(qc));
                Twins.setFakeQuant(model.getBlock(), true);
                float[] sim = run(model.getBlock(), m, in);
                ConvertReport report = Converter.convert(model, QEngine.X86);
                // per layer: query, key, value, output, intermediate, output
                assertEquals(12, report.weightOnlyLinears().size(), report.toTable());
                assertTrue(Twins.find(model.getBlock()).isEmpty());
                float[] got = run(model.getBlock(), m, in);
                double rel = maxDiff(got, sim) / maxAbs(sim);
                double sqnr = ConverterTest.sqnr(fp32, got);
                System.out.printf(
                        Locale.ROOT,
                        "BERT (2 layers, hidden 64) %s: max|y-sim|/max|sim| %.2e, SQNR vs FP32"
                                + " %.2f dB (sim %.2f dB)%n",
                        qc.weightSpec(),
                        rel,
                        sqnr,
                        ConverterTest.sqnr(fp32, sim));
                assertTrue(rel <= 2e-5, "BERT vs simulation " + rel);
                assertTrue(sqnr > (qc.weightSpec().dtype() == QDataType.INT8 ? 30 : 12), "" + sqnr);
            }
        }
    }

    @Test
    void closingTheModelFreesTheWeightsOnceAndClosingAgainIsHarmless() throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(1);
        Model model = Model.newInstance("wo-close", "PyTorch");
        SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(32).build());
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 64));
        model.setBlock(block);
        Preparer.prepare(
                model, QConfigMapping.global(QConfig.weightOnlyInt4(32, BackendTarget.FBGEMM)));
        ConvertReport report = Converter.convert(model, QEngine.X86);
        WeightOnlyLinear l = report.weightOnlyLinears().get(0);
        assertTrue(!l.isClosed());
        model.close();
        assertTrue(l.isClosed());
        model.close();
        l.packed().close();
        assertTrue(l.isClosed());
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertThrows(
                    IllegalStateException.class,
                    () -> l.packed().forward(m.create(new float[64], new Shape(1, 64))));
        }
    }

    private static QConfig int4(int group) {
        return QConfig.builder()
                .setMode(QMode.WEIGHT_ONLY)
                .setWeightObserver(
                        Observers.perChannelMinMax(
                                new QSpec(
                                        QDataType.INT4,
                                        QScheme.AFFINE,
                                        Granularity.perGroup(1, group),
                                        false)))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    private static WeightOnlyShapeException refused(QConfig config, int in, int out) {
        try (Model model = Model.newInstance("wo-bad", "PyTorch")) {
            SequentialBlock block =
                    new SequentialBlock().add(Linear.builder().setUnits(out).build());
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, in));
            model.setBlock(block);
            Preparer.prepare(model, QConfigMapping.global(config));
            WeightOnlyShapeException e =
                    assertThrows(
                            WeightOnlyShapeException.class,
                            () -> Converter.convert(model, QEngine.X86));
            // a refusal leaves the prepared model as it was
            assertEquals(1, Twins.find(model.getBlock()).size());
            assertEquals("01", e.path());
            assertEquals("01Linear", e.rawPath());
            assertTrue(e.getMessage().startsWith("layer 01: "), e.getMessage());
            return e;
        }
    }

    @Test
    void shapesTheInt4KernelCannotTakeAreRefusedNamingLayerValueAndAllowed() {
        WeightOnlyShapeException group = refused(int4(16), 64, 32);
        assertTrue(group.getMessage().contains("groupSize was 16"), group.getMessage());
        assertTrue(group.getMessage().contains("[32, 64, 128, 256]"), group.getMessage());
        WeightOnlyShapeException k =
                refused(QConfig.weightOnlyInt4(64, BackendTarget.FBGEMM), 96, 32);
        assertTrue(k.getMessage().contains("was 96"), k.getMessage());
        assertTrue(k.getMessage().contains("multiple of groupSize 64"), k.getMessage());
        WeightOnlyShapeException n =
                refused(QConfig.weightOnlyInt4(32, BackendTarget.FBGEMM), 64, 24);
        assertTrue(n.getMessage().contains("was 24"), n.getMessage());
        assertTrue(n.getMessage().contains("multiple of 16"), n.getMessage());
    }
}
