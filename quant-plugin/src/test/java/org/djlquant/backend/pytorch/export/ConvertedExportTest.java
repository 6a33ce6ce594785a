package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbs;
import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantizedBertSelfAttention;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Models converted in place ({@link Converter}: {@link QuantizedLinear}, {@link
 * QuantizedBertSelfAttention}, fused ReLU) exported whole and loaded with plain DJL: the archive
 * must compute what the in-place model computes. Both run the same libtorch kernels on the same
 * INT8 weights, input/output parameters and float ops in the same order, so the expected difference
 * is float-reordering noise only (observed 0); the bounds are 1e-6 relative to the output's
 * magnitude, far below one quantization step of any layer here (~1e-2).
 */
class ConvertedExportTest {

    private static QEngine initial;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static BackendTarget target(QEngine e) {
        return e == QEngine.QNNPACK ? BackendTarget.QNNPACK : BackendTarget.FBGEMM;
    }

    /**
     * 01 Linear 24 static · 02 ReLU (DJL's reluBlock, fused) · 03 Linear 16 static · 04 GELU · 05
     * Linear 12 dynamic · 06 LayerNorm · 07 Linear 8 static · 08 Linear 5 FP32.
     */
    private static SequentialBlock ffn(NDManager m, QEngine engine) {
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(24).build());
        net.add(Activation.reluBlock());
        net.add(Linear.builder().setUnits(16).build());
        net.add(ExportableBlocks.gelu());
        net.add(Linear.builder().setUnits(12).build());
        net.add(LayerNorm.builder().axis(1).build());
        net.add(Linear.builder().setUnits(8).build());
        net.add(Linear.builder().setUnits(5).build());
        net.initialize(m, DataType.FLOAT32, new Shape(6, ExportFixtures.FFN_IN));
        ExportFixtures.fill(net, 7);
        QConfig st = QConfig.staticInt8(target(engine));
        Preparer.prepare(
                net,
                QConfigMapping.builder()
                        .optPathGlob("01", st)
                        .optPathGlob("03", st)
                        .optPathGlob("05", QConfig.dynamicInt8(target(engine)))
                        .optPathGlob("07", st)
                        .build());
        for (NDArray x : ExportFixtures.batches(m, 100, 8, 6, ExportFixtures.FFN_IN)) {
            ExportFixtures.run(net, m, new NDList(x));
        }
        Twins.setObserving(net, false);
        return net;
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void convertedFfnExportsToAnArchiveThatMatchesTheInPlaceModel(QEngine engine, @TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ffn(m, engine);
            ConvertReport report = Converter.convert(net, m, engine);
            assertEquals(1, report.fusedReluCount());
            QuantizationManifest manifest =
                    TorchScriptExporter.builder()
                            .setBlock(net)
                            .optEngine(engine)
                            .build()
                            .export(dir, "ffn");
            assertEquals(4, manifest.layers().size(), manifest.toJson());
            assertEquals(manifest, QuantizedArtifacts.readManifest(dir.resolve("ffn.pt")));
            QuantizationManifest.Layer first = manifest.layers().get(0);
            assertEquals("01", first.path());
            assertEquals(QMode.STATIC, first.mode());
            assertEquals("quantized::linear_relu", first.kernel());
            assertTrue(first.outputQuantized());
            QuantizedLinear l01 = (QuantizedLinear) net.getChildren().get(0).getValue();
            assertEquals(l01.getInputParams().scale(), first.inputScale(), 0.0);
            assertEquals(l01.getInputParams().zeroPoint(), (long) first.inputZeroPoint());
            assertEquals(24L * ExportFixtures.FFN_IN + 5 * 24, first.storedWeightBytes());
            assertEquals("quantized::linear", manifest.layers().get(1).kernel());
            QuantizationManifest.Layer dyn = manifest.layers().get(2);
            assertEquals("05", dyn.path());
            assertEquals(QMode.DYNAMIC, dyn.mode());
            assertEquals("quantized::linear_dynamic", dyn.kernel());
            assertNull(dyn.inputScale());
            assertFalse(dyn.outputQuantized());
            assertEquals("07", manifest.layers().get(3).path());

            double worst = 0;
            double magnitude = 0;
            for (NDArray x : ExportFixtures.batches(m, 555, 4, 6, ExportFixtures.FFN_IN)) {
                float[] inPlace = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();
                float[] exported = ExportFixtures.runExported(dir, "ffn", new NDList(x));
                worst = Math.max(worst, maxAbsDiff(inPlace, exported));
                magnitude = Math.max(magnitude, maxAbs(inPlace));
            }
            System.out.println(
                    "converted FFN (" + engine + ") export vs in place, max |diff| = " + worst);
            assertTrue(magnitude > 0.1, "outputs are not trivially zero: " + magnitude);
            assertTrue(worst <= 1e-6 * Math.max(1, magnitude), "max |diff| " + worst);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void convertedTinyBertExportsToAnArchiveThatMatchesTheInPlaceModel(
            boolean staticLinears, @TempDir Path dir) throws Exception {
        QEngine.select(QEngine.X86);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = ExportFixtures.calibratedTinyBert(m, staticLinears);
            ConvertReport report = Converter.convert(bert, m, QEngine.X86);
            org.djlquant.nn.transformer.BertEncoder encoder =
                    (org.djlquant.nn.transformer.BertEncoder) bert.getEncoder();
            Object attention =
                    ((org.djlquant.nn.transformer.BertLayer) encoder.getLayers().get(0))
                            .getAttention();
            if (staticLinears) {
                assertInstanceOf(QuantizedBertSelfAttention.class, attention);
            } else {
                // dynamic: the attention block stays, its projections are QuantizedLinear
                assertInstanceOf(BertSelfAttention.class, attention);
            }
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(bert).build().export(dir, "bert");
            // 2 layers x (q, k, v, attention output, intermediate, output)
            assertEquals(12, manifest.layers().size(), manifest.toJson());
            assertEquals("encoder.01.attention.query", manifest.layers().get(0).path());
            assertEquals(
                    staticLinears ? QMode.STATIC : QMode.DYNAMIC, manifest.layers().get(0).mode());
            assertEquals("encoder.01.intermediate", manifest.layers().get(4).path());
            // the manifest records each converted layer's own mode
            assertEquals(
                    report.quantizedLinears().stream()
                            .filter(l -> l.getMode() == QMode.DYNAMIC)
                            .count(),
                    manifest.layers().stream().filter(l -> l.mode() == QMode.DYNAMIC).count());
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            float[] inPlace = ExportFixtures.run(bert, m, inputs).head().toFloatArray();
            float[] exported = ExportFixtures.runExported(dir, "bert", inputs);
            double diff = maxAbsDiff(inPlace, exported);
            System.out.println(
                    "converted tiny BERT (static "
                            + staticLinears
                            + ") export vs in place, max |diff| = "
                            + diff);
            // LayerNorm outputs are O(1)
            assertTrue(maxAbs(inPlace) > 0.5, "outputs are not trivially small");
            assertTrue(diff <= 1e-6 * Math.max(1, maxAbs(inPlace)), "max |diff| " + diff);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void convertedBertAttentionAloneExportsToAnArchiveThatMatchesTheInPlaceBlock(
            QEngine engine, @TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock attention = new SequentialBlock().add(new BertSelfAttention(16, 4));
            attention.initialize(m, DataType.FLOAT32, new Shape(2, 5, 16), new Shape(2, 1, 1, 5));
            ExportFixtures.fill(attention, 3);
            Preparer.prepare(attention, QConfigMapping.global(QConfig.staticInt8(target(engine))));
            NDArray mask = m.create(new float[] {0, 0, 0, 0, 0, 0, 0, 0, -10000, -10000});
            mask = mask.reshape(2, 1, 1, 5);
            for (NDArray x : ExportFixtures.batches(m, 5, 4, 2, 5, 16)) {
                ExportFixtures.run(attention, m, new NDList(x, mask));
            }
            Twins.setObserving(attention, false);
            Converter.convert(attention, m, engine);
            assertInstanceOf(
                    QuantizedBertSelfAttention.class, attention.getChildren().get(0).getValue());
            QuantizationManifest manifest =
                    TorchScriptExporter.builder()
                            .setBlock(attention)
                            .optEngine(engine)
                            .build()
                            .export(dir, "attn");
            List<String> paths =
                    manifest.layers().stream().map(QuantizationManifest.Layer::path).toList();
            assertEquals(
                    List.of("01.query", "01.key", "01.value", "01.output"),
                    paths,
                    manifest.toJson());
            NDArray x = ExportFixtures.batches(m, 6, 1, 2, 5, 16).get(0);
            float[] inPlace =
                    ExportFixtures.run(attention, m, new NDList(x, mask)).head().toFloatArray();
            float[] exported = ExportFixtures.runExported(dir, "attn", new NDList(x, mask));
            double diff = maxAbsDiff(inPlace, exported);
            System.out.println(
                    "converted BERT attention ("
                            + engine
                            + ") export vs in place, max |diff| = "
                            + diff);
            assertTrue(maxAbs(inPlace) > 0.1, "outputs are not trivially small");
            assertTrue(diff <= 1e-6 * Math.max(1, maxAbs(inPlace)), "max |diff| " + diff);
        }
    }
}
