package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbs;
import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.ZipInputStream;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.UnsupportedExportException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.ObservedConv2d;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.Twins;
import org.djlquant.nn.UncalibratedLayerException;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A small CNN (Conv2d · ReLU · max pool · Conv2d · ReLU · max pool · flatten · Linear · ReLU ·
 * Linear), prepared static INT8, calibrated, exported and loaded with plain DJL: the convolutions
 * run {@code quantized::conv2d_relu} on {@code quint8} activations handed from layer to layer, and
 * the outputs are those of the fake-quant simulation up to a few requantization steps.
 */
class ConvExportTest {

    private static final Shape INPUT = new Shape(4, 3, 12, 12);

    private static QEngine initial;

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    /** 01 conv 3→8 k3 p1 · 02 ReLU · 03 pool 2 · 04 conv 8→16 k3 p1 · 05 ReLU · 06 pool 2 · ... */
    private static SequentialBlock cnn() {
        return new SequentialBlock()
                .add(conv(8, 3, 1, 1, 1))
                .add(Activation.reluBlock())
                .add(ExportableBlocks.maxPool2d(2, 2, 0))
                .add(conv(16, 3, 1, 1, 1))
                .add(Activation.reluBlock())
                .add(ExportableBlocks.maxPool2d(2, 2, 0))
                .add(ExportableBlocks.flatten())
                .add(Linear.builder().setUnits(32).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    private static Conv2d conv(int filters, int kernel, int stride, int padding, int groups) {
        return Conv2d.builder()
                .setKernelShape(new Shape(kernel, kernel))
                .setFilters(filters)
                .optStride(new Shape(stride, stride))
                .optPadding(new Shape(padding, padding))
                .optGroups(groups)
                .build();
    }

    /** Static, per-channel weights, full 8-bit min/max activations. */
    private static QConfig perChannel8() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(
                        Observers.minMax(
                                new QSpec(
                                        QDataType.UINT8,
                                        QScheme.AFFINE,
                                        Granularity.perTensor(),
                                        false)))
                .build();
    }

    private static List<NDArray> images(NDManager m, long seed, int count, Shape shape) {
        return ExportFixtures.batches(m, seed, count, shape.getShape());
    }

    /** Initializes, fills, prepares and calibrates on 6 batches. */
    private static SequentialBlock calibrated(
            NDManager m, SequentialBlock net, Shape input, QConfigMapping mapping) {
        net.initialize(m, DataType.FLOAT32, input);
        ExportFixtures.fill(net, 11);
        Preparer.prepare(net, mapping);
        for (NDArray x : images(m, 300, 6, input)) {
            ExportFixtures.run(net, m, new NDList(x));
        }
        Twins.setObserving(net, false);
        return net;
    }

    private static float[] fp32(SequentialBlock prepared, NDManager m, NDArray x) {
        // observing and fake quantization off: the twins compute what the originals compute
        return ExportFixtures.run(prepared, m, new NDList(x)).head().toFloatArray();
    }

    private static double sqnrDb(float[] reference, float[] test) {
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < reference.length; i++) {
            signal += (double) reference[i] * reference[i];
            double d = (double) reference[i] - test[i];
            noise += d * d;
        }
        return 10 * Math.log10(signal / noise);
    }

    /** The output scale of the last layer (a static Linear that observes its output). */
    private static double outputStep(SequentialBlock net) {
        var last = (QuantTwin) net.getChildren().get(9).getValue();
        return last.control().computeParams().get(TwinControl.OUTPUT).scale();
    }

    /** The generated module's {@code forward} source. */
    private static String forwardCode(byte[] archive) throws IOException {
        try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(archive))) {
            for (var e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                if (e.getName().endsWith("export.py")) {
                    String code = new String(zip.readAllBytes(), StandardCharsets.UTF_8);
                    return code.substring(code.indexOf("  def forward("));
                }
            }
        }
        throw new IllegalStateException("no export.py in the archive");
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    private static TorchScriptExporter exporter(SequentialBlock net) {
        return TorchScriptExporter.builder().setBlock(net).optEngine(QEngine.X86).build();
    }

    @Test
    void fbgemmPresetCnnRunsInt8ConvsAndMatchesTheSimulation(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    calibrated(
                            m,
                            cnn(),
                            INPUT,
                            QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            NDArray x = images(m, 777, 1, INPUT).get(0);
            float[] reference = fp32(net, m, x);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            TorchScriptExporter.Exported archive = exporter(net).export();
            QuantizationManifest manifest = archive.manifest();
            Files.write(dir.resolve("cnn.pt"), archive.bytes());
            String forward = forwardCode(archive.bytes());
            // one quantize (the image), the activation stays quint8 through both convs, both
            // pools, the flatten and the first Linear, one dequantize (the last Linear's output)
            assertEquals(1, count(forward, ".quant("), forward);
            assertEquals(1, count(forward, "torch.dequantize("), forward);
            assertEquals(2, count(forward, "torch.max_pool2d("), forward);
            assertEquals(0, count(forward, "torch.conv2d("), forward);

            List<String> paths = new ArrayList<>();
            List<String> kernels = new ArrayList<>();
            for (QuantizationManifest.Layer l : manifest.layers()) {
                paths.add(l.path());
                kernels.add(l.kernel());
            }
            assertEquals(List.of("01", "04", "08", "10"), paths, manifest.toJson());
            assertEquals(
                    List.of(
                            "quantized::conv2d_relu",
                            "quantized::conv2d_relu",
                            "quantized::linear_relu",
                            "quantized::linear"),
                    kernels);
            // the manifest's conv entries are the twins' calibrated parameters
            for (int i : new int[] {0, 3}) {
                ObservedConv2d twin = (ObservedConv2d) net.getChildren().get(i).getValue();
                Map<String, QParams> p = twin.control().computeParams();
                QuantizationManifest.Layer entry = manifest.layers().get(i == 0 ? 0 : 1);
                QParams w = p.get(TwinControl.WEIGHT);
                assertEquals(QMode.STATIC, entry.mode());
                assertEquals(QDataType.INT8, entry.weightDtype());
                assertEquals(w.spec().scheme(), entry.weightScheme());
                assertEquals(w.spec().granularity().toString(), entry.weightGranularity());
                assertEquals(Granularity.Kind.PER_CHANNEL, w.spec().granularity().kind());
                double smin = Double.MAX_VALUE;
                double smax = 0;
                for (int k = 0; k < w.size(); k++) {
                    smin = Math.min(smin, w.scaleAt(k));
                    smax = Math.max(smax, w.scaleAt(k));
                }
                assertEquals(smin, entry.weightScaleMin(), 0.0);
                assertEquals(smax, entry.weightScaleMax(), 0.0);
                assertEquals(p.get(TwinControl.INPUT).scale(), entry.inputScale(), 0.0);
                assertEquals(p.get(TwinControl.INPUT).zeroPoint(), (long) entry.inputZeroPoint());
                assertTrue(entry.outputQuantized());
                long weights = twin.getDirectParameters().get("weight").getArray().size();
                assertEquals(weights + 5L * w.size(), entry.storedWeightBytes());
                assertEquals(4L * weights, entry.float32WeightBytes());
            }

            float[] exported = ExportFixtures.runExported(dir, "cnn", new NDList(x));
            double step = outputStep(net);
            double toSim = maxAbsDiff(sim, exported) / step;
            double sqnrInt8 = sqnrDb(reference, exported);
            double sqnrSim = sqnrDb(reference, sim);
            System.out.printf(
                    Locale.ROOT,
                    "CNN staticInt8(FBGEMM) on x86: max |sim - exported| %.2f output steps;"
                            + " SQNR vs FP32 exported %.1f dB, simulation %.1f dB%n",
                    toSim,
                    sqnrInt8,
                    sqnrSim);
            assertTrue(maxAbs(exported) > 0.1, "outputs are not trivially small");
            assertTrue(toSim <= 3, "max |sim - exported| " + toSim + " output steps");
            assertTrue(sqnrInt8 >= 20, "SQNR vs FP32 " + sqnrInt8 + " dB");
            assertTrue(Math.abs(sqnrInt8 - sqnrSim) <= 3, sqnrInt8 + " vs " + sqnrSim);
        }
    }

    @Test
    void aConvertedCnnExportsToTheArchiveThatComputesWhatItComputesInPlace(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                NDManager owner = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    calibrated(
                            m,
                            cnn(),
                            INPUT,
                            QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            double step = outputStep(net);
            NDArray x = images(m, 778, 1, INPUT).get(0);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            ConvertReport report = Converter.convert(net, owner, QEngine.X86);
            assertEquals(2, report.quantizedConv2ds().size(), report.toTable());
            float[] inPlace = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();
            TorchScriptExporter.Exported archive = exporter(net).export();
            Files.write(dir.resolve("converted.pt"), archive.bytes());
            String forward = forwardCode(archive.bytes());
            // the converted convs hand quint8 on as the prepared export does
            assertEquals(0, count(forward, "torch.conv2d("), forward);
            assertEquals(1, count(forward, "torch.dequantize("), forward);
            List<String> kernels = new ArrayList<>();
            archive.manifest().layers().forEach(l -> kernels.add(l.kernel()));
            assertEquals(
                    List.of(
                            "quantized::conv2d_relu",
                            "quantized::conv2d_relu",
                            "quantized::linear_relu",
                            "quantized::linear"),
                    kernels);
            float[] exported = ExportFixtures.runExported(dir, "converted", new NDList(x));
            double toInPlace = maxAbsDiff(inPlace, exported) / step;
            double inPlaceToSim = maxAbsDiff(inPlace, sim) / step;
            System.out.printf(
                    Locale.ROOT,
                    "converted CNN on x86: max |in place - exported| %.2f output steps, |in place -"
                            + " sim| %.2f%n",
                    toInPlace,
                    inPlaceToSim);
            assertTrue(maxAbs(exported) > 0.1, "outputs are not trivially small");
            // the same integer kernels on the same parameters: at most one requantization step
            assertTrue(toInPlace <= 1, "max |in place - exported| " + toInPlace + " steps");
            assertTrue(inPlaceToSim <= 3, "max |in place - sim| " + inPlaceToSim + " steps");
        }
    }

    @Test
    void oneArchiveGivesTheSameOutputsOnEveryEngine(@TempDir Path dir) throws Exception {
        QConfig perTensor = QConfig.staticInt8(BackendTarget.QNNPACK);
        assertEquals(Granularity.Kind.PER_TENSOR, perTensor.weightSpec().granularity().kind());
        for (QConfig config : List.of(perChannel8(), perTensor)) {
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                SequentialBlock net = calibrated(m, cnn(), INPUT, QConfigMapping.global(config));
                NDArray x = images(m, 778, 1, INPUT).get(0);
                float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
                float[] reference = fp32(net, m, x);
                String name = "cnn" + config.weightSpec().granularity().kind().ordinal();
                exporter(net).export(dir, name);
                double step = outputStep(net);
                float[] first = null;
                for (QEngine engine :
                        List.of(QEngine.X86, QEngine.FBGEMM, QEngine.ONEDNN, QEngine.QNNPACK)) {
                    if (!QEngine.available().contains(engine)) {
                        System.out.println("engine " + engine + " not available: skipped");
                        continue;
                    }
                    QEngine.select(engine);
                    float[] out;
                    try {
                        out = ExportFixtures.runExported(dir, name, new NDList(x));
                    } finally {
                        QEngine.select(QEngine.X86);
                    }
                    double toSim = maxAbsDiff(sim, out) / step;
                    double toFirst = first == null ? 0 : maxAbsDiff(first, out) / step;
                    System.out.printf(
                            Locale.ROOT,
                            "CNN %s weights on %s: max |sim - exported| %.2f steps, vs x86 %.2f"
                                    + " steps, SQNR vs FP32 %.1f dB%n",
                            config.weightSpec().granularity(),
                            engine,
                            toSim,
                            toFirst,
                            sqnrDb(reference, out));
                    assertTrue(toSim <= 3, engine + ": " + toSim + " steps from the simulation");
                    assertTrue(toFirst <= 2, engine + ": " + toFirst + " steps from x86");
                    if (first == null) {
                        first = out;
                    }
                }
            }
        }
    }

    @Test
    void qatConvTwinsExportWithTheirObserverScales(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    calibrated(
                            m,
                            cnn(),
                            INPUT,
                            QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
            NDArray x = images(m, 781, 1, INPUT).get(0);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            QuantizationManifest manifest = exporter(net).export(dir, "qat");
            assertEquals(QMode.QAT, manifest.layers().get(0).mode());
            assertEquals("quantized::conv2d_relu", manifest.layers().get(0).kernel());
            assertEquals("quantized::conv2d_relu", manifest.layers().get(1).kernel());
            float[] out = ExportFixtures.runExported(dir, "qat", new NDList(x));
            double toSim = maxAbsDiff(sim, out) / outputStep(net);
            System.out.printf(
                    Locale.ROOT, "CNN qatInt8(FBGEMM): max |sim - exported| %.2f steps%n", toSim);
            assertTrue(maxAbs(out) > 0.1, "outputs are not trivially small");
            assertTrue(toSim <= 3, toSim + " output steps");
        }
    }

    @Test
    void strideDilationAndGroupsMatchTheSimulation(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Conv2d dilated =
                    Conv2d.builder()
                            .setKernelShape(new Shape(3, 3))
                            .setFilters(8)
                            .optPadding(new Shape(2, 2))
                            .optDilation(new Shape(2, 2))
                            .optGroups(4)
                            .build();
            SequentialBlock net =
                    new SequentialBlock()
                            .add(conv(8, 3, 2, 1, 1)) // stride 2
                            .add(ExportableBlocks.maxPool2d(2, 1, 0))
                            .add(ExportableBlocks.relu()) // after the pool: not fused
                            .add(dilated) // 4 groups of 2 channels, dilation 2
                            .add(ExportableBlocks.relu())
                            .add(conv(12, 1, 1, 0, 4)) // 1x1, 4 groups
                            .add(ExportableBlocks.maxPool2d(3, 2, 1))
                            .add(ExportableBlocks.flatten())
                            .add(Linear.builder().setUnits(6).build());
            Shape input = new Shape(2, 4, 11, 11);
            calibrated(m, net, input, QConfigMapping.global(perChannel8()));
            NDArray x = images(m, 779, 1, input).get(0);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            TorchScriptExporter.Exported archive = exporter(net).export();
            Files.write(dir.resolve("groups.pt"), archive.bytes());
            QuantizationManifest manifest = archive.manifest();
            String forward = forwardCode(archive.bytes());
            assertEquals(1, count(forward, ".quant("), forward);
            assertEquals(1, count(forward, "torch.dequantize("), forward);
            assertEquals(4, manifest.layers().size(), manifest.toJson());
            assertEquals("quantized::conv2d", manifest.layers().get(0).kernel());
            assertEquals("quantized::conv2d_relu", manifest.layers().get(1).kernel());
            assertEquals("quantized::conv2d", manifest.layers().get(2).kernel());
            float[] out = ExportFixtures.runExported(dir, "groups", new NDList(x));
            double step =
                    ((QuantTwin) net.getChildren().get(8).getValue())
                            .control()
                            .computeParams()
                            .get(TwinControl.OUTPUT)
                            .scale();
            double toSim = maxAbsDiff(sim, out) / step;
            System.out.printf(
                    Locale.ROOT,
                    "stride 2, pool, ReLU / dilation 2 + groups 4 / 1x1 groups 4: max |sim -"
                            + " exported| %.2f"
                            + " output steps%n",
                    toSim);
            assertTrue(maxAbs(out) > 0.05, "outputs are not trivially small");
            assertTrue(toSim <= 3, toSim + " output steps");

            // libtorch saves a loaded module through QConv2d.__getstate__ (conv2d_unpack)
            Path saved = dir.resolve("resaved");
            Files.createDirectories(saved);
            Criteria<NDList, NDList> criteria =
                    Criteria.builder()
                            .setTypes(NDList.class, NDList.class)
                            .optEngine("PyTorch")
                            .optModelPath(dir)
                            .optModelName("groups")
                            .build();
            try (ZooModel<NDList, NDList> model = criteria.loadModel();
                    OutputStream os = Files.newOutputStream(saved.resolve("groups.pt"))) {
                JniUtils.writeModule((PtSymbolBlock) model.getBlock(), os, false);
            }
            float[] again = ExportFixtures.runExported(saved, "groups", new NDList(x));
            assertEquals(0.0, maxAbsDiff(out, again), "the re-saved archive computes differently");
        }
    }

    @Test
    void aConvWithoutParametersToRequantizeToComputesTheSimulationInFloat(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(conv(6, 3, 1, 1, 1))
                            .add(ExportableBlocks.relu())
                            .add(ExportableBlocks.globalAvgPool2d())
                            .add(Linear.builder().setUnits(5).build());
            Shape input = new Shape(2, 3, 8, 8);
            // the conv static, the Linear FP32: nothing downstream gives output parameters
            calibrated(
                    m,
                    net,
                    input,
                    QConfigMapping.builder().optPathGlob("01", perChannel8()).build());
            NDArray x = images(m, 780, 1, input).get(0);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            QuantizationManifest manifest = exporter(net).export(dir, "float");
            assertEquals(1, manifest.layers().size());
            QuantizationManifest.Layer l = manifest.layers().get(0);
            assertTrue(l.kernel().startsWith("aten::conv2d (fake-quantized"), l.kernel());
            assertEquals(false, l.outputQuantized());
            float[] out = ExportFixtures.runExported(dir, "float", new NDList(x));
            double d = maxAbsDiff(sim, out);
            assertTrue(d <= 1e-5 * Math.max(1, maxAbs(sim)), "max |sim - exported| " + d);
        }
    }

    @Test
    void dynamicAndWeightOnlyConvsAreRefusedNamingPathClassAndModes() {
        for (QConfig config :
                List.of(
                        QConfig.dynamicInt8(BackendTarget.FBGEMM),
                        QConfig.weightOnlyInt8(BackendTarget.FBGEMM))) {
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                SequentialBlock net =
                        new SequentialBlock()
                                .add(Linear.builder().setUnits(4).build())
                                .add(
                                        new SequentialBlock()
                                                .add(conv(4, 3, 1, 1, 1))
                                                .add(ExportableBlocks.relu()));
                // shapes: the Linear acts on the last axis of [N, C, H, W]
                Shape input = new Shape(2, 3, 6, 6);
                net.initialize(m, DataType.FLOAT32, input);
                Preparer.prepare(
                        net, QConfigMapping.builder().optPathGlob("02.01", config).build());
                UnsupportedExportException e =
                        assertThrows(
                                UnsupportedExportException.class, () -> exporter(net).export());
                assertEquals("02.01", e.path());
                assertEquals(ObservedConv2d.class.getName(), e.blockClass());
                assertTrue(e.getMessage().contains("mode was " + config.mode()), e.getMessage());
                assertTrue(
                        e.getMessage().contains("STATIC") && e.getMessage().contains("QAT"),
                        e.getMessage());
            }
        }
    }

    @Test
    void anUncalibratedStaticConvIsRefused() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(conv(4, 3, 1, 1, 1))
                            .add(ExportableBlocks.flatten())
                            .add(Linear.builder().setUnits(3).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 2, 5, 5));
            Preparer.prepare(net, QConfigMapping.global(perChannel8()));
            UncalibratedLayerException e =
                    assertThrows(UncalibratedLayerException.class, () -> exporter(net).export());
            assertEquals("01", e.path(), e.getMessage());
            assertEquals(TwinControl.INPUT, e.role());
        }
    }
}
