package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv1d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.translate.NoopTranslator;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QEngineUnavailableException;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Real INT8 in place: converted models against the fake-quant simulation of the same prepared model
 * (tight) and against FP32 (SQNR floor), on x86 (fbgemm) and qnnpack; resources; refusals.
 *
 * <p>Tolerance vs simulation, static: the simulation computes {@code fq_out(fq_in(x)·fq_w(W)ᵀ + b)}
 * in float; libtorch computes the same integer products exactly (int32) and requantizes with float
 * arithmetic in another order, so a requantized value differs from the simulation's only when the
 * exact value lies within float rounding of a .5 boundary: by one output step {@code s_out}. In a
 * chain, such a flipped hidden value moves the next layer's result by at most {@code s_h·Σ|w|};
 * these flips are rare, so we require every element within one output step for a single layer, and
 * at least 99% of the elements within one step (all within four) for two layers. Dynamic: the
 * output is float, the inputs are quantized with the same per-call parameters as the simulation, so
 * only float summation order differs: within 1e-4 relative to the output's largest magnitude.
 */
class ConverterTest {

    private static QEngine before;

    @BeforeAll
    static void remember() {
        before = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(before);
    }

    static SequentialBlock ffn() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(64).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(16).build());
    }

    static List<NDList> batches(NDManager m, int n, long... shape) {
        Random r = new Random(7);
        List<NDList> out = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            long size = 1;
            for (long d : shape) {
                size *= d;
            }
            float[] v = new float[(int) size];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            out.add(new NDList(m.create(v, new Shape(shape))));
        }
        return out;
    }

    static float[] run(Block block, NDManager m, NDList in) {
        return block.forward(new ParameterStore(m, false), in, false).head().toFloatArray();
    }

    static double sqnr(float[] ref, float[] got) {
        double s = 0;
        double n = 0;
        for (int i = 0; i < ref.length; i++) {
            s += (double) ref[i] * ref[i];
            double d = ref[i] - got[i];
            n += d * d;
        }
        return 10 * Math.log10(s / n);
    }

    private static BackendTarget target(QEngine e) {
        return e == QEngine.QNNPACK ? BackendTarget.QNNPACK : BackendTarget.FBGEMM;
    }

    private static Model ffnModel(String name) {
        Engine.getEngine("PyTorch").setRandomSeed(11);
        Model model = Model.newInstance(name, "PyTorch");
        SequentialBlock block = ffn();
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(8, 32));
        model.setBlock(block);
        return model;
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void staticFfnMatchesSimulationWithinOneStepAndFp32(QEngine engine) throws Exception {
        try (Model model = ffnModel("ffn-static");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<NDList> calib = batches(m, 8, 8, 32);
            NDList test = batches(m, 9, 16, 32).get(8);
            float[] fp32 = run(model.getBlock(), m, test);
            Preparer.prepare(model, QConfigMapping.global(QConfig.staticInt8(target(engine))));
            Calibrator.builder().setModel(model).optProgress(null).build().calibrate(calib);
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), true);
            float[] sim = run(model.getBlock(), m, test);

            ConvertReport report = Converter.convert(model, engine);
            assertEquals(engine, report.engine());
            assertEquals(2, report.quantizedLinears().size());
            assertEquals(1, report.fusedReluCount());
            QuantizedLinear first = report.quantizedLinears().get(0);
            QuantizedLinear last = report.quantizedLinears().get(1);
            assertTrue(first.isReluFused());
            assertEquals(QMode.STATIC, last.getMode());
            assertEquals(engine, last.getEngine());
            SequentialBlock seq = (SequentialBlock) model.getBlock();
            assertInstanceOf(QuantizedLinear.class, seq.getChildren().get(0).getValue());
            LambdaBlock fused = (LambdaBlock) seq.getChildren().get(1).getValue();
            assertTrue(fused.getName().startsWith("ReLU fused into"), fused.getName());

            float[] int8 = run(model.getBlock(), m, test);
            double step = last.getOutputParams().scale();
            int within = 0;
            double max = 0;
            for (int i = 0; i < sim.length; i++) {
                double d = Math.abs(sim[i] - int8[i]);
                max = Math.max(max, d);
                if (d <= step * 1.0001) {
                    within++;
                }
            }
            double s = sqnr(fp32, int8);
            System.out.printf(
                    Locale.ROOT,
                    "static FFN %s: %d/%d within one output step (%.5f) of the simulation, max"
                            + " %.2f steps; SQNR vs FP32 %.1f dB (simulation %.1f dB)%n",
                    engine,
                    within,
                    sim.length,
                    step,
                    max / step,
                    s,
                    sqnr(fp32, sim));
            assertTrue(within >= 0.99 * sim.length, within + " of " + sim.length);
            assertTrue(max <= 4 * step, "max " + max / step + " steps");
            assertTrue(s > 25, "SQNR " + s);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void singleStaticLinearIsWithinOneOutputStepOfTheSimulationEverywhere(QEngine engine)
            throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(5);
        try (Model model = Model.newInstance("one", "PyTorch");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock block =
                    new SequentialBlock().add(Linear.builder().setUnits(48).build());
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(8, 40));
            model.setBlock(block);
            Preparer.prepare(model, QConfigMapping.global(QConfig.staticInt8(target(engine))));
            Calibrator.builder()
                    .setModel(model)
                    .optProgress(null)
                    .build()
                    .calibrate(batches(m, 6, 8, 40));
            NDList test = batches(m, 7, 32, 40).get(6);
            Twins.setObserving(block, false);
            Twins.setFakeQuant(block, true);
            float[] sim = run(block, m, test);
            ConvertReport report = Converter.convert(model, engine);
            float[] int8 = run(block, m, test);
            org.djlquant.scheme.QParams out = report.quantizedLinears().get(0).getOutputParams();
            double step = out.scale();
            // elements the simulation clamped at the top of the output range are left out: there
            // qnnpack's requantization was seen to go past the calibrated maximum
            double top = (out.spec().qmax() - out.zeroPoint()) * step;
            int saturated = 0;
            for (int i = 0; i < sim.length; i++) {
                if (sim[i] >= top - step / 2) {
                    saturated++;
                    continue;
                }
                assertTrue(
                        Math.abs(sim[i] - int8[i]) <= step * 1.0001,
                        "element " + i + ": sim " + sim[i] + " int8 " + int8[i] + " step " + step);
            }
            assertTrue(saturated < sim.length / 100, saturated + " saturated");
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void dynamicFfnMatchesSimulationAndFp32(QEngine engine) throws Exception {
        try (Model model = ffnModel("ffn-dynamic");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList test = batches(m, 3, 16, 32).get(2);
            float[] fp32 = run(model.getBlock(), m, test);
            Preparer.prepare(model, QConfigMapping.global(QConfig.dynamicInt8(target(engine))));
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), true);
            float[] sim = run(model.getBlock(), m, test);
            ConvertReport report = Converter.convert(model, engine);
            // the ReLU after the first dynamic layer runs in its requantization
            assertEquals(1, report.fusedReluCount());
            assertEquals(QMode.DYNAMIC, report.quantizedLinears().get(0).getMode());
            float[] int8 = run(model.getBlock(), m, test);
            double scale = 0;
            for (float v : sim) {
                scale = Math.max(scale, Math.abs(v));
            }
            int far = 0;
            for (int i = 0; i < sim.length; i++) {
                if (Math.abs(sim[i] - int8[i]) > 1e-4 * scale) {
                    far++;
                }
            }
            double s = sqnr(fp32, int8);
            System.out.printf(
                    Locale.ROOT,
                    "dynamic FFN %s: %d/%d beyond 1e-4 of the simulation; SQNR vs FP32 %.1f dB%n",
                    engine,
                    far,
                    sim.length,
                    s);
            assertTrue(far <= sim.length / 100, far + " elements differ");
            assertTrue(s > 25, "SQNR " + s);
        }
    }

    private static Model attentionModel() {
        Engine.getEngine("PyTorch").setRandomSeed(3);
        Model model = Model.newInstance("attention", "PyTorch");
        BertSelfAttention block = new BertSelfAttention(64, 4);
        block.initialize(
                model.getNDManager(),
                DataType.FLOAT32,
                new Shape(2, 10, 64),
                new Shape(2, 1, 1, 10));
        model.setBlock(block);
        return model;
    }

    private static List<NDList> attentionBatches(NDManager m, int n, int seed) {
        List<NDList> out = new ArrayList<>();
        Random r = new Random(seed);
        for (int b = 0; b < n; b++) {
            float[] x = new float[2 * 10 * 64];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            // the second sequence has 3 padding tokens
            float[] mask = new float[20];
            for (int t = 7; t < 10; t++) {
                mask[10 + t] = -10000f;
            }
            out.add(
                    new NDList(
                            m.create(x, new Shape(2, 10, 64)),
                            m.create(mask, new Shape(2, 1, 1, 10))));
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void staticBertAttentionMatchesSimulationAndFp32(QEngine engine) throws Exception {
        try (Model model = attentionModel();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList test = attentionBatches(m, 1, 99).get(0);
            float[] fp32 = run(model.getBlock(), m, test);
            PrepareReport prep =
                    Preparer.prepare(
                            model, QConfigMapping.global(QConfig.staticInt8(target(engine))));
            assertInstanceOf(ObservedBertSelfAttention.class, model.getBlock());
            assertEquals(5, prep.twins().size());
            Calibrator.builder()
                    .setModel(model)
                    .optProgress(null)
                    .build()
                    .calibrate(attentionBatches(m, 6, 1));
            ObservedBertSelfAttention twin = (ObservedBertSelfAttention) model.getBlock();
            assertTrue(twin.control().observers().get(TwinControl.PROBS).hasData());
            Twins.setObserving(twin, false);
            Twins.setFakeQuant(twin, true);
            // the converted block runs P in float: compare with a simulation that does too
            twin.control().setFakeQuant(false);
            float[] sim = run(twin, m, test);

            ConvertReport report = Converter.convert(model, engine);
            QuantizedBertSelfAttention q =
                    assertInstanceOf(QuantizedBertSelfAttention.class, model.getBlock());
            assertEquals(4, report.quantizedLinears().size());
            assertTrue(q.getProbsParams().scale() > 0);
            assertEquals(QMode.STATIC, q.query().getMode());
            float[] int8 = run(model.getBlock(), m, test);
            double step = q.output().getOutputParams().scale();
            int within = 0;
            double max = 0;
            for (int i = 0; i < sim.length; i++) {
                double d = Math.abs(sim[i] - int8[i]);
                max = Math.max(max, d);
                if (d <= step * 1.0001) {
                    within++;
                }
            }
            double s = sqnr(fp32, int8);
            System.out.printf(
                    Locale.ROOT,
                    "static BertSelfAttention %s: %d/%d within one output step of the simulation,"
                            + " max %.2f steps; SQNR vs FP32 %.1f dB%n",
                    engine,
                    within,
                    sim.length,
                    max / step,
                    s);
            assertTrue(within >= 0.99 * sim.length, within + " of " + sim.length);
            assertTrue(max <= 4 * step, "max " + max / step + " steps");
            assertTrue(s > 20, "SQNR " + s);
        }
    }

    @Test
    void dynamicBertAttentionKeepsItsBlockWithInt8Projections() throws Exception {
        try (Model model = attentionModel();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList test = attentionBatches(m, 1, 99).get(0);
            float[] fp32 = run(model.getBlock(), m, test);
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            ConvertReport report = Converter.convert(model, QEngine.X86);
            BertSelfAttention a = assertInstanceOf(BertSelfAttention.class, model.getBlock());
            assertInstanceOf(QuantizedLinear.class, a.getQuery());
            assertInstanceOf(QuantizedLinear.class, a.getOutput());
            assertEquals(4, report.quantizedLinears().size());
            double s = sqnr(fp32, run(a, m, test));
            System.out.printf(Locale.ROOT, "dynamic BertSelfAttention: SQNR vs FP32 %.1f dB%n", s);
            assertTrue(s > 25, "SQNR " + s);
        }
    }

    @Test
    void closingTheModelFreesPackedWeightsOnceAndClosingTwiceIsHarmless() throws Exception {
        Model model = ffnModel("close");
        ConvertReport report;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            report = Converter.convert(model, QEngine.X86);
            for (QuantizedLinear l : report.quantizedLinears()) {
                assertFalse(l.isClosed());
            }
            // the user's predictor keeps working: same call, same output type
            try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator())) {
                NDList out = p.predict(batches(m, 1, 4, 32).get(0));
                assertEquals(new Shape(4, 16), out.head().getShape());
            }
        }
        model.close();
        for (QuantizedLinear l : report.quantizedLinears()) {
            assertTrue(l.isClosed());
        }
        model.close();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList in = batches(m, 1, 4, 32).get(0);
            QuantizedLinear first = report.quantizedLinears().get(0);
            assertThrows(
                    IllegalStateException.class,
                    () -> first.forward(new ParameterStore(m, false), in, false));
        }
    }

    @Test
    void int8WeightValuesAreFourTimesSmallerThanFloat() throws Exception {
        try (Model model = ffnModel("size")) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            ConvertReport report = Converter.convert(model, QEngine.X86);
            // hand count: 64x32 + 16x64 weights
            assertEquals(64 * 32 + 16 * 64, report.int8WeightBytes());
            assertEquals(4L * (64 * 32 + 16 * 64), report.fp32WeightBytes());
            QuantizedLinear l = report.quantizedLinears().get(0);
            assertEquals(64 * 32, l.getWeightInt8().length);
            assertEquals(64, l.getBias().length);
        }
    }

    // ---- bad input table ----------------------------------------------------------------------

    @Test
    void uncalibratedStaticModelIsRefusedNamingTheLayerAndNothingChanges() throws Exception {
        try (Model model = ffnModel("uncalibrated")) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            UncalibratedLayerException e =
                    assertThrows(
                            UncalibratedLayerException.class,
                            () -> Converter.convert(model, QEngine.X86));
            // the clean path (the Linear's index in the SequentialBlock); DJL's child name kept
            assertEquals("01", e.path());
            assertEquals("01Linear", e.rawPath());
            assertTrue(e.getMessage().startsWith("layer 01: the 'input'"), e.getMessage());
            assertEquals(TwinControl.INPUT, e.role());
            assertTrue(e.getMessage().contains("calibrate first"), e.getMessage());
            assertEquals(2, Twins.find(model.getBlock()).size());
        }
    }

    @Test
    void uncalibratedBertIsRefusedNamingTheCleanLayerPath() throws Exception {
        try (Model model = Model.newInstance("uncalibrated-bert", "PyTorch")) {
            BertModelBlock bert =
                    new BertModelBlock(new BertConfig(40, 8, 2, 2, 16, 16, 2, 1e-12f, -1e4f));
            Shape s = new Shape(1, 5);
            bert.initialize(model.getNDManager(), DataType.FLOAT32, s, s, s);
            model.setBlock(bert);
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            UncalibratedLayerException e =
                    assertThrows(
                            UncalibratedLayerException.class,
                            () -> Converter.convert(model, QEngine.X86));
            // the first static Linear of the first layer: its query projection
            assertEquals("encoder.01.attention.query", e.path());
            assertFalse(e.rawPath().equals(e.path()), e.rawPath());
            assertTrue(
                    e.getMessage().startsWith("layer encoder.01.attention.query: "),
                    e.getMessage());
            assertFalse(e.getMessage().contains(e.rawPath()), e.getMessage());
        }
    }

    @Test
    void engineNullIsRefusedAndAnUnavailableEngineThrowsTyped() throws Exception {
        try (Model model = ffnModel("engine")) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            assertThrows(IllegalArgumentException.class, () -> Converter.convert(model, null));
            QEngine missing = null;
            for (QEngine e : QEngine.values()) {
                if (!QEngine.available().contains(e)) {
                    missing = e;
                }
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(
                    missing != null, "this libtorch has every engine: " + QEngine.available());
            QEngine absent = missing;
            assertThrows(QEngineUnavailableException.class, () -> Converter.convert(model, absent));
        }
    }

    @Test
    void convertingTwiceIsRefusedAndSoIsAnUnpreparedModel() throws Exception {
        try (Model model = ffnModel("twice")) {
            IllegalStateException never =
                    assertThrows(
                            IllegalStateException.class,
                            () -> Converter.convert(model, QEngine.X86));
            assertTrue(never.getMessage().contains("prepare"), never.getMessage());
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            Converter.convert(model, QEngine.X86);
            IllegalStateException twice =
                    assertThrows(
                            IllegalStateException.class,
                            () -> Converter.convert(model, QEngine.X86));
            assertTrue(twice.getMessage().contains("converted already"), twice.getMessage());
        }
    }

    @Test
    void aTwinKindWithoutInt8FormIsRefusedNamingPathAndClass() throws Exception {
        try (Model model = Model.newInstance("conv", "PyTorch")) {
            SequentialBlock block =
                    new SequentialBlock()
                            .add(
                                    Conv1d.builder()
                                            .setKernelShape(new Shape(3))
                                            .setFilters(4)
                                            .build());
            block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 2, 8));
            model.setBlock(block);
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            UnsupportedBlockException e =
                    assertThrows(
                            UnsupportedBlockException.class,
                            () -> Converter.convert(model, QEngine.X86));
            assertEquals("01", e.path());
            assertEquals("01Conv1d", e.rawPath());
            assertTrue(e.getMessage().startsWith("block 01 (ObservedConv1d)"), e.getMessage());
            assertEquals("ObservedConv1d", e.blockClass());
        }
    }

    @Test
    void aConfigTheBackendCannotRunIsRefusedUnlessTheLayerIsMappedToFp32() throws Exception {
        try (Model model = ffnModel("capability");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            // per-channel static weights: fbgemm yes, qnnpack no
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            Calibrator.builder()
                    .setModel(model)
                    .optProgress(null)
                    .build()
                    .calibrate(batches(m, 2, 8, 32));
            BackendCapabilityException e =
                    assertThrows(
                            BackendCapabilityException.class,
                            () -> Converter.convert(model, QEngine.QNNPACK));
            assertEquals("01", e.path());
            assertEquals("01Linear", e.rawPath());
            assertTrue(e.getMessage().startsWith("layer 01: "), e.getMessage());
            assertTrue(e.getMessage().contains("PER_CHANNEL"), e.getMessage());
        }
        try (Model model = ffnModel("capability-fp32");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            QConfigMapping mapping =
                    QConfigMapping.builder()
                            .optGlobal(QConfig.staticInt8(BackendTarget.FBGEMM))
                            .optPathGlob("01Linear", null)
                            .optPathGlob("03Linear", QConfig.staticInt8(BackendTarget.QNNPACK))
                            .build();
            Preparer.prepare(model, mapping);
            Calibrator.builder()
                    .setModel(model)
                    .optProgress(null)
                    .build()
                    .calibrate(batches(m, 2, 8, 32));
            ConvertReport report = Converter.convert(model, QEngine.QNNPACK);
            assertEquals(1, report.quantizedLinears().size());
            assertEquals("03Linear", report.quantizedLinears().get(0).path());
            assertInstanceOf(
                    Linear.class,
                    ((SequentialBlock) model.getBlock()).getChildren().get(0).getValue());
        }
    }
}
