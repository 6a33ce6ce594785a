package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.djlquant.backend.pytorch.AttentionKernel;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
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
import org.junit.jupiter.api.io.TempDir;

/**
 * The faster attention lowerings: full 8-bit static BERT (Q, K, V share one quantized input; the
 * probabilities quantized and dequantized instead of fake-quantized) against the simulation, the
 * fused scaled-dot-product attention against DJL's float forward, and compressed tensor records.
 */
class FastAttentionExportTest {

    private static QEngine initial;

    @BeforeAll
    static void fbgemm() {
        initial = QEngine.current();
        QEngine.select(QEngine.FBGEMM);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    /** Static INT8 with full 8-bit activations (no range reduction), per-channel weights. */
    private static QConfig static8Bit() {
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

    private static BertModelBlock tinyBert(NDManager m, boolean quantize) {
        BertModelBlock bert = new BertModelBlock(ExportFixtures.tinyBertConfig());
        bert.initialize(m, DataType.FLOAT32, new Shape(2, 7), new Shape(2, 7), new Shape(2, 7));
        ExportFixtures.fill(bert, 21);
        if (quantize) {
            Preparer.prepare(bert, QConfigMapping.global(static8Bit()));
            for (int b = 0; b < 6; b++) {
                ExportFixtures.run(bert, m, ExportFixtures.bertInputs(m, 200 + b, 3, 7));
            }
            Twins.setObserving(bert, false);
        }
        return bert;
    }

    private static String code(byte[] archive) throws Exception {
        try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(archive))) {
            for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                if (e.getName().endsWith("export.py")) {
                    return new String(zip.readAllBytes(), StandardCharsets.UTF_8);
                }
            }
        }
        throw new AssertionError("no export.py in the archive");
    }

    private static int count(String text, String part) {
        return text.split(java.util.regex.Pattern.quote(part), -1).length - 1;
    }

    @Test
    void full8BitStaticBertQuantizesTheHiddenStatesOnceAndMatchesTheSimulation(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = tinyBert(m, true);
            TorchScriptExporter.Exported exported =
                    TorchScriptExporter.builder().setBlock(bert).build().export();
            Files.write(dir.resolve("bert.pt"), exported.bytes());
            String code = code(exported.bytes());
            // 2 layers: the probabilities are quantized + dequantized, never fake-quantized
            assertEquals(0, count(code, "fake_quantize"), code);
            // per layer: the hidden states once (shared by Q, K, V) and P in the forward; the
            // attention output, intermediate and output projections quantize their own input
            String forward = code.substring(code.indexOf("def forward"));
            assertEquals(2 * 2, count(forward, "torch.quantize_per_tensor("), code);
            assertEquals(2 * 3, count(forward, ".quant("), code);
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            float[] sim = ExportFixtures.simulate(bert, m, inputs);
            float[] real = ExportFixtures.runExported(dir, "bert", inputs);
            double diff = maxAbsDiff(sim, real);
            System.out.println("full 8-bit tiny BERT export vs simulation, max |diff| = " + diff);
            assertTrue(diff <= 1e-4, "max |diff| " + diff);
        }
    }

    @Test
    void fusedAttentionOfAFloatBertMatchesDjlsForwardWithPadding(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = tinyBert(m, false);
            TorchScriptExporter.builder()
                    .setBlock(bert)
                    .optAttention(AttentionKernel.FUSED_SDPA)
                    .build()
                    .export(dir, "bert");
            // row 1 has a padding tail: the additive mask must reach the fused kernel
            NDList inputs = ExportFixtures.bertInputs(m, 77, 3, 7);
            float[] expected = ExportFixtures.run(bert, m, inputs).head().toFloatArray();
            float[] real = ExportFixtures.runExported(dir, "bert", inputs);
            double diff = maxAbsDiff(expected, real);
            System.out.println("float tiny BERT fused attention vs DJL, max |diff| = " + diff);
            assertTrue(diff <= 1e-4, "max |diff| " + diff);
        }
    }

    @Test
    void fusedAttentionOfTheQuantizedBertStaysWithinOneProbabilityStepOfTheSimulation(
            @TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = tinyBert(m, true);
            TorchScriptExporter.builder()
                    .setBlock(bert)
                    .optAttention(AttentionKernel.FUSED_SDPA)
                    .build()
                    .export(dir, "bert");
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            float[] sim = ExportFixtures.simulate(bert, m, inputs);
            float[] real = ExportFixtures.runExported(dir, "bert", inputs);
            double diff = maxAbsDiff(sim, real);
            System.out.println("quantized tiny BERT fused attention vs simulation, " + diff);
            // only P's rounding (half a step of P's scale) differs; later requantizations can move
            // a value by a step; LayerNorm outputs are O(1) (observed ~0.1)
            assertTrue(diff > 0 && diff <= 0.25, "max |diff| " + diff);
        }
    }

    @Test
    void compressedArchivesDeflateTheLargeTensorRecordsAndComputeTheSameOutputs(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // hidden 64, intermediate 256: the INT8 weight records are 4 and 16 KiB
            BertModelBlock bert =
                    new BertModelBlock(new BertConfig(40, 64, 2, 4, 256, 12, 2, 1e-12f, -10000f));
            bert.initialize(m, DataType.FLOAT32, new Shape(2, 7), new Shape(2, 7), new Shape(2, 7));
            ExportFixtures.fill(bert, 21);
            Preparer.prepare(bert, QConfigMapping.global(static8Bit()));
            for (int b = 0; b < 3; b++) {
                ExportFixtures.run(bert, m, ExportFixtures.bertInputs(m, 300 + b, 3, 7));
            }
            Twins.setObserving(bert, false);
            byte[] stored = TorchScriptExporter.builder().setBlock(bert).build().export().bytes();
            byte[] deflated =
                    TorchScriptExporter.builder()
                            .setBlock(bert)
                            .optCompressed(true)
                            .build()
                            .export()
                            .bytes();
            int large = 0;
            int small = 0;
            try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(deflated))) {
                for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                    int length = zip.readAllBytes().length;
                    boolean tensor = e.getName().contains("/data/");
                    if (tensor && length >= 1024) {
                        assertEquals(ZipEntry.DEFLATED, e.getMethod(), e.getName());
                        large++;
                    } else {
                        assertEquals(ZipEntry.STORED, e.getMethod(), e.getName());
                        small++;
                    }
                }
            }
            // 6 weights per layer and the word-embedding table (40 x 64 floats)
            assertTrue(large >= 13, "large records " + large);
            assertTrue(small > 0, "small records " + small);
            Files.write(dir.resolve("s.pt"), stored);
            Files.write(dir.resolve("z.pt"), deflated);
            NDList inputs = ExportFixtures.bertInputs(m, 5, 2, 7);
            assertArrayEquals(
                    ExportFixtures.runExported(dir, "s", inputs),
                    ExportFixtures.runExported(dir, "z", inputs));
        }
    }
}
