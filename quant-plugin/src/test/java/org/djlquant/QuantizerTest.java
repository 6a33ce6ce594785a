package org.djlquant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.training.ParameterStore;
import ai.djl.translate.NoopTranslator;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Random;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QEngineUnavailableException;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.WeightOnlyLinear;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.policy.Strategy;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.scheme.Granularity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The facade on a small FFN built here (Linear 32 → ReLU → Linear 4, input [6, 8]): each path ends
 * in a model that runs and stays close to the FP32 outputs computed before quantization.
 */
class QuantizerTest {

    private static final Shape INPUT = new Shape(6, 8);

    private static Model ffn() {
        return ffn(false);
    }

    /**
     * The FFN. The two exporters know ReLU by different blocks today: the TorchScript exporter
     * {@link ExportableBlocks#relu()}, the ONNX exporter DJL's {@code Activation.reluBlock()}.
     */
    private static Model ffn(boolean onnxRelu) {
        Model model = Model.newInstance("ffn", "PyTorch");
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(32).build());
        net.add(onnxRelu ? Activation.reluBlock() : ExportableBlocks.relu());
        net.add(Linear.builder().setUnits(4).build());
        net.initialize(model.getNDManager(), DataType.FLOAT32, INPUT);
        Random r = new Random(3);
        for (var p : net.getParameters()) {
            Parameter param = p.getValue();
            NDArray a = param.getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 0.4);
            }
            a.set(FloatBuffer.wrap(v));
        }
        model.setBlock(net);
        return model;
    }

    private static float[] input(long seed) {
        Random r = new Random(seed);
        float[] v = new float[(int) INPUT.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Fresh batches on every iteration (the calibrator closes what it is given). */
    private static Iterable<NDList> batches(NDManager m) {
        return () -> {
            List<NDList> out = new ArrayList<>();
            for (int b = 0; b < 8; b++) {
                out.add(new NDList(m.create(input(100 + b), INPUT)));
            }
            return out.iterator();
        };
    }

    private static float[] forward(Model model, float[] x) {
        try (NDManager s = model.getNDManager().newSubManager()) {
            return model.getBlock()
                    .forward(new ParameterStore(s, false), new NDList(s.create(x, INPUT)), false)
                    .head()
                    .toFloatArray();
        }
    }

    /** Signal-to-noise ratio of y against the reference, in dB. */
    private static double sqnr(float[] reference, float[] y) {
        double s = 0;
        double n = 0;
        for (int i = 0; i < y.length; i++) {
            s += reference[i] * reference[i];
            n += (reference[i] - y[i]) * (reference[i] - y[i]);
        }
        return 10 * Math.log10(s / n);
    }

    @Test
    void dynamicQuantizeInPlaceConvertsEveryLinearAndStaysCloseToFp32() throws Exception {
        try (Model model = ffn()) {
            float[] x = input(7);
            float[] fp32 = forward(model, x);
            ConvertReport report =
                    Quantizer.builder().setMethod(Quantizer.Method.DYNAMIC).build().quantize(model);
            assertEquals(2, report.entries().size());
            SequentialBlock net = (SequentialBlock) model.getBlock();
            assertInstanceOf(QuantizedLinear.class, net.getChildren().get(0).getValue());
            assertInstanceOf(QuantizedLinear.class, net.getChildren().get(2).getValue());
            float[] int8 = forward(model, x);
            // 8-bit weights and activations: ~40 dB per layer in theory; 25 dB is a loose floor,
            // and the output is not the FP32 one bit for bit (it really is quantized)
            double db = sqnr(fp32, int8);
            assertTrue(db > 25 && Double.isFinite(db), "SQNR " + db);
        }
    }

    @Test
    void staticQuantizeToTorchScriptWritesAnArtifactThatDjlLoads(@TempDir Path dir)
            throws Exception {
        float[] x = input(7);
        float[] fp32;
        Quantizer.Artifact artifact;
        try (Model model = ffn()) {
            fp32 = forward(model, x);
            artifact =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.STATIC)
                            .optBackend(BackendTarget.FBGEMM)
                            .optCalibration(batches(model.getNDManager()))
                            .optProgress(null)
                            .build()
                            .quantizeTo(model, dir.resolve("ffn.pt"));
        }
        assertEquals(Quantizer.ArtifactKind.TORCHSCRIPT, artifact.kind());
        assertEquals(Files.size(dir.resolve("ffn.pt")), artifact.sizeBytes());
        assertEquals(List.of("01", "03"), new ArrayList<>(artifact.layers().keySet()));
        assertEquals(QEngine.FBGEMM, artifact.manifest().qengine());
        artifact.manifest().layers().forEach(l -> assertEquals(QMode.STATIC, l.mode()));
        QEngine.select(QEngine.FBGEMM);
        try (ZooModel<NDList, NDList> loaded =
                        QuantizedArtifacts.load(
                                dir,
                                "ffn",
                                Criteria.builder()
                                        .setTypes(NDList.class, NDList.class)
                                        .optTranslator(new NoopTranslator()));
                Predictor<NDList, NDList> p = loaded.newPredictor();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] y = p.predict(new NDList(m.create(x, INPUT))).head().toFloatArray();
            double db = sqnr(fp32, y);
            assertTrue(db > 20 && Double.isFinite(db), "SQNR " + db);
        }
    }

    @Test
    void onnxRuntimeBackendWritesAnOnnxModelThatOrtRuns(@TempDir Path dir) throws Exception {
        float[] x = input(7);
        float[] fp32;
        Quantizer.Artifact artifact;
        try (Model model = ffn(true)) {
            fp32 = forward(model, x);
            artifact =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.DYNAMIC)
                            .optBackend(BackendTarget.ONNXRUNTIME)
                            .build()
                            .quantizeTo(model, dir.resolve("ffn.onnx"));
        }
        assertEquals(Quantizer.ArtifactKind.ONNX, artifact.kind());
        assertEquals(null, artifact.manifest());
        try (Model ort = Model.newInstance("ffn", "OnnxRuntime")) {
            ort.load(dir, "ffn");
            try (Predictor<NDList, NDList> p = ort.newPredictor(new NoopTranslator());
                    NDManager m = NDManager.newBaseManager("OnnxRuntime")) {
                NDArray in = m.create(x, INPUT);
                in.setName("input0");
                float[] y = p.predict(new NDList(in)).head().toFloatArray();
                double db = sqnr(fp32, y);
                assertTrue(db > 25 && Double.isFinite(db), "SQNR " + db);
            }
        }
    }

    @Test
    void policyQuantizesOnlyTheLayersItNames(@TempDir Path dir) throws Exception {
        Map<String, LayerDecision> layers = new LinkedHashMap<>();
        layers.put("01", new LayerDecision(Precision.INT8_DYNAMIC, DecisionSource.MANUAL, ""));
        layers.put("03", new LayerDecision(Precision.FP32, DecisionSource.MANUAL, ""));
        MixedPrecisionPolicy policy =
                new MixedPrecisionPolicy(
                        Strategy.MANUAL,
                        layers,
                        OptionalDouble.empty(),
                        OptionalDouble.empty(),
                        OptionalDouble.empty());
        try (Model model = ffn()) {
            Quantizer.Artifact artifact =
                    Quantizer.builder()
                            .setPolicy(policy)
                            .build()
                            .quantizeTo(model, dir.resolve("mixed.pt"));
            assertEquals(List.of("01"), new ArrayList<>(artifact.layers().keySet()));
            assertEquals(QMode.DYNAMIC, artifact.manifest().layers().get(0).mode());
            assertEquals(
                    policy,
                    QuantizedArtifacts.readManifest(dir.resolve("mixed.pt")).policy(),
                    "the archive's manifest records the policy it was quantized with");
        }
    }

    @Test
    void weightOnlyInt8ExportsInt8WeightsThatDjlLoads(@TempDir Path dir) throws Exception {
        float[] x = input(7);
        float[] fp32;
        Quantizer.Artifact artifact;
        try (Model model = ffn()) {
            fp32 = forward(model, x);
            artifact =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.WEIGHT_ONLY_INT8)
                            .build()
                            .quantizeTo(model, dir.resolve("wo.pt"));
        }
        assertEquals(2, artifact.manifest().layers().size());
        // one byte per weight plus one float32 scale per output channel: 8x32 + 4x32, 32x4 + 4x4
        long[] stored = {8 * 32 + 4 * 32, 32 * 4 + 4 * 4};
        for (int i = 0; i < 2; i++) {
            var l = artifact.manifest().layers().get(i);
            assertEquals(QMode.WEIGHT_ONLY, l.mode());
            assertEquals("aten::_weight_int8pack_mm", l.kernel());
            assertEquals(stored[i], l.storedWeightBytes());
        }
        QEngine.select(QEngine.FBGEMM);
        try (ZooModel<NDList, NDList> loaded =
                        QuantizedArtifacts.load(
                                dir,
                                "wo",
                                Criteria.builder()
                                        .setTypes(NDList.class, NDList.class)
                                        .optTranslator(new NoopTranslator()));
                Predictor<NDList, NDList> p = loaded.newPredictor();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] y = p.predict(new NDList(m.create(x, INPUT))).head().toFloatArray();
            double db = sqnr(fp32, y);
            // weights only: per-channel INT8 weight error alone, well above the 8-bit floor
            assertTrue(db > 30 && Double.isFinite(db), "SQNR " + db);
        }
    }

    @Test
    void weightOnlyInt8ConvertsInPlaceThroughTheConverter() throws Exception {
        try (Model model = ffn()) {
            float[] x = input(7);
            float[] fp32 = forward(model, x);
            ConvertReport report =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.WEIGHT_ONLY_INT8)
                            .build()
                            .quantize(model);
            assertEquals(2, report.entries().size());
            SequentialBlock net = (SequentialBlock) model.getBlock();
            assertInstanceOf(WeightOnlyLinear.class, net.getChildren().get(0).getValue());
            double db = sqnr(fp32, forward(model, x));
            assertTrue(db > 30 && Double.isFinite(db), "SQNR " + db);
        }
    }

    @Test
    void perChannelFormAndKeptLayersReachThePreparer() throws Exception {
        try (Model model = ffn()) {
            Quantizer q =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.DYNAMIC)
                            .optInt8Form(PrecisionConfigs.Form.PER_CHANNEL)
                            .optKeepFloat("03")
                            .build();
            PrepareReport report = q.prepare(model);
            assertEquals(1, report.twins().size());
            QuantTwin twin = report.twins().get(0);
            assertEquals("01Linear", twin.path()); // the raw DJL path
            QConfig config =
                    report.entries().stream()
                            .filter(e -> "01".equals(e.cleanPath()))
                            .findFirst()
                            .orElseThrow()
                            .config();
            // per-channel weights, and the full 8-bit activation spec (no reduced range)
            QConfig expected =
                    PrecisionConfigs.perChannel(BackendTarget.FBGEMM)
                            .config(Precision.INT8_DYNAMIC);
            assertEquals(Granularity.Kind.PER_CHANNEL, config.weightSpec().granularity().kind());
            assertEquals(expected.weightSpec(), config.weightSpec());
            assertEquals(expected.activationSpec(), config.activationSpec());
            assertFalse(
                    config.activationSpec()
                            .equals(QConfig.dynamicInt8(BackendTarget.FBGEMM).activationSpec()));
            assertTrue(report.warnings().isEmpty(), report.warnings().toString());
            ConvertReport converted = q.convert(model);
            assertEquals(1, converted.entries().size());
            SequentialBlock net = (SequentialBlock) model.getBlock();
            assertInstanceOf(QuantizedLinear.class, net.getChildren().get(0).getValue());
            assertInstanceOf(Linear.class, net.getChildren().get(2).getValue());
            assertFalse(net.getChildren().get(2).getValue() instanceof QuantizedLinear);
        }
    }

    @Test
    void buildRefusesAFormTheBackendCannotRunAndKeptLayersWithAPolicy() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                Quantizer.builder()
                                        .setMethod(Quantizer.Method.DYNAMIC)
                                        .optBackend(BackendTarget.QNNPACK)
                                        .optInt8Form(PrecisionConfigs.Form.PER_CHANNEL)
                                        .build());
        assertTrue(e.getMessage().contains("QNNPACK"), e.getMessage());
        Map<String, LayerDecision> layers = new LinkedHashMap<>();
        layers.put("01", new LayerDecision(Precision.INT8_DYNAMIC, DecisionSource.MANUAL, ""));
        MixedPrecisionPolicy policy =
                new MixedPrecisionPolicy(
                        Strategy.MANUAL,
                        layers,
                        OptionalDouble.empty(),
                        OptionalDouble.empty(),
                        OptionalDouble.empty());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Quantizer.builder().setPolicy(policy).optKeepFloat("03").build());
        assertTrue(e.getMessage().contains("[03] with a policy"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Quantizer.builder().optKeepFloat(" "));
    }

    @Test
    void optQEngineMustFitTheBackendAndThisLibtorch() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                Quantizer.builder()
                                        .setMethod(Quantizer.Method.DYNAMIC)
                                        .optBackend(BackendTarget.QNNPACK)
                                        .optQEngine(QEngine.ONEDNN)
                                        .build());
        assertEquals(
                "qengine was ONEDNN with backend QNNPACK, must be one of [QNNPACK] for that"
                        + " backend",
                e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                Quantizer.builder()
                                        .setMethod(Quantizer.Method.DYNAMIC)
                                        .optQEngine(QEngine.QNNPACK)
                                        .build());
        assertEquals(
                "qengine was QNNPACK with backend FBGEMM, must be one of [FBGEMM, ONEDNN, X86]"
                        + " for that backend",
                e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                Quantizer.builder()
                                        .setMethod(Quantizer.Method.DYNAMIC)
                                        .optBackend(BackendTarget.ONNXRUNTIME)
                                        .optQEngine(QEngine.FBGEMM)
                                        .build());
        assertTrue(e.getMessage().startsWith("qengine was FBGEMM with backend ONNXRUNTIME"));
        // an engine this libtorch lacks: the typed exception names it and what is available
        java.util.Set<QEngine> available = QEngine.available();
        for (QEngine engine : Quantizer.compatibleQEngines(BackendTarget.FBGEMM)) {
            Quantizer.Builder b =
                    Quantizer.builder().setMethod(Quantizer.Method.DYNAMIC).optQEngine(engine);
            if (available.contains(engine)) {
                assertEquals(engine, b.build().getQEngine());
            } else {
                QEngineUnavailableException u =
                        assertThrows(QEngineUnavailableException.class, b::build);
                assertEquals(engine, u.getRequested());
                assertEquals(available, u.getAvailable());
                assertTrue(u.getMessage().contains(engine.toString()), u.getMessage());
            }
        }
        // defaults: the backend's engine, none for ONNX Runtime
        assertEquals(
                QEngine.FBGEMM,
                Quantizer.builder().setMethod(Quantizer.Method.DYNAMIC).build().getQEngine());
        assertEquals(
                null,
                Quantizer.builder()
                        .setMethod(Quantizer.Method.DYNAMIC)
                        .optBackend(BackendTarget.ONNXRUNTIME)
                        .build()
                        .getQEngine());
    }

    @Test
    void onednnQEngineIsWhatTheExportPacksForAndTheConverterSelects(@TempDir Path dir)
            throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                QEngine.available().contains(QEngine.ONEDNN),
                "this libtorch has no onednn engine: " + QEngine.available());
        QEngine initial = QEngine.current();
        try {
            float[] x = input(7);
            float[] fp32;
            Quantizer.Artifact artifact;
            try (Model model = ffn()) {
                fp32 = forward(model, x);
                artifact =
                        Quantizer.builder()
                                .setMethod(Quantizer.Method.STATIC)
                                .optQEngine(QEngine.ONEDNN)
                                .optCalibration(batches(model.getNDManager()))
                                .optProgress(null)
                                .build()
                                .quantizeTo(model, dir.resolve("ffn.pt"));
            }
            assertEquals(QEngine.ONEDNN, artifact.manifest().qengine());
            // the manifest is checked on load: refused under fbgemm, loaded under onednn
            QEngine.select(QEngine.FBGEMM);
            org.djlquant.backend.pytorch.IncompatibleArtifactException refused =
                    assertThrows(
                            org.djlquant.backend.pytorch.IncompatibleArtifactException.class,
                            () ->
                                    QuantizedArtifacts.load(
                                            dir,
                                            "ffn",
                                            Criteria.builder()
                                                    .setTypes(NDList.class, NDList.class)
                                                    .optTranslator(new NoopTranslator())));
            assertTrue(refused.getMessage().contains("QEngine.ONEDNN"), refused.getMessage());
            QEngine.select(QEngine.ONEDNN);
            try (ZooModel<NDList, NDList> loaded =
                            QuantizedArtifacts.load(
                                    dir,
                                    "ffn",
                                    Criteria.builder()
                                            .setTypes(NDList.class, NDList.class)
                                            .optTranslator(new NoopTranslator()));
                    Predictor<NDList, NDList> p = loaded.newPredictor();
                    NDManager m = NDManager.newBaseManager("PyTorch")) {
                float[] y = p.predict(new NDList(m.create(x, INPUT))).head().toFloatArray();
                double db = sqnr(fp32, y);
                assertTrue(db > 20 && Double.isFinite(db), "SQNR " + db);
            }
            // the same through a djlq: URL (Criteria): accepted under onednn, refused under fbgemm
            Criteria<NDList, NDList> byUrl =
                    Criteria.builder()
                            .setTypes(NDList.class, NDList.class)
                            .optModelUrls(
                                    org.djlquant.backend.pytorch.QuantizedRepositoryFactory.url(
                                            dir))
                            .optModelName("ffn")
                            .optEngine("PyTorch")
                            .optTranslator(new NoopTranslator())
                            .build();
            try (ZooModel<NDList, NDList> loaded = byUrl.loadModel()) {
                assertEquals("ffn", loaded.getName());
            }
            QEngine.select(QEngine.FBGEMM);
            java.io.IOException viaUrl = assertThrows(java.io.IOException.class, byUrl::loadModel);
            assertInstanceOf(
                    org.djlquant.backend.pytorch.IncompatibleArtifactException.class,
                    viaUrl.getCause());
            assertTrue(viaUrl.getMessage().contains("qengine is onednn"), viaUrl.getMessage());
            try (Model model = ffn()) {
                float[] before = forward(model, x);
                ConvertReport report =
                        Quantizer.builder()
                                .setMethod(Quantizer.Method.DYNAMIC)
                                .optQEngine(QEngine.ONEDNN)
                                .build()
                                .quantize(model);
                assertEquals(QEngine.ONEDNN, report.engine());
                assertEquals(QEngine.ONEDNN, QEngine.current());
                double db = sqnr(before, forward(model, x));
                assertTrue(db > 25 && Double.isFinite(db), "SQNR " + db);
            }
        } finally {
            QEngine.select(initial);
        }
    }

    @Test
    void buildRefusesStaticWithoutCalibrationAndNamesWhatIsNeeded() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Quantizer.builder().setMethod(Quantizer.Method.STATIC).build());
        assertTrue(e.getMessage().contains("calibration batches were not given"), e.getMessage());
    }

    @Test
    void buildRefusesNeitherOrBothOfMethodAndPolicy() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Quantizer.builder().build());
        assertTrue(
                e.getMessage()
                        .contains(
                                "must set exactly one: a method from [DYNAMIC, STATIC,"
                                        + " WEIGHT_ONLY_INT8, WEIGHT_ONLY_INT4] or a policy"),
                e.getMessage());
    }

    @Test
    void onnxRuntimeHasNoInPlaceForm() {
        try (Model model = ffn()) {
            Quantizer q =
                    Quantizer.builder()
                            .setMethod(Quantizer.Method.DYNAMIC)
                            .optBackend(BackendTarget.ONNXRUNTIME)
                            .build();
            q.prepare(model);
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> q.convert(model));
            assertTrue(e.getMessage().contains("backend was ONNXRUNTIME"), e.getMessage());
        }
    }

    @Test
    void artifactFileNameMustFitTheBackend() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Quantizer.checkFileName(BackendTarget.QNNPACK, Path.of("m.onnx")));
        assertEquals(
                "output file was 'm.onnx', must be a NAME.pt file (NAME of letters, digits, '_'"
                        + " and '-') for backend QNNPACK",
                e.getMessage());
        Quantizer.checkFileName(BackendTarget.ONNXRUNTIME, Path.of("out", "m.onnx"));
    }
}
