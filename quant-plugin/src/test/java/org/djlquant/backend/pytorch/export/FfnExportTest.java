package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.SequentialBlock;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A prepared, calibrated FFN with static, chained static and dynamic layers, exported whole. */
class FfnExportTest {

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

    @Test
    void exportedFfnLoadsInPlainDjlAndMatchesTheFakeQuantSimulation(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ExportFixtures.calibratedFfn(m);
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(net).build().export(dir, "ffn");
            assertEquals(4, manifest.layers().size(), manifest.toJson());
            assertEquals("01", manifest.layers().get(0).path());
            // static twins observe their outputs: INT8 kernel requantizing to those parameters
            assertEquals("quantized::linear", manifest.layers().get(0).kernel());
            assertTrue(manifest.layers().get(0).outputQuantized());
            assertEquals(QMode.DYNAMIC, manifest.layers().get(2).mode());
            assertEquals("quantized::linear", manifest.layers().get(3).kernel());
            assertEquals(manifest, QuantizedArtifacts.readManifest(dir.resolve("ffn.pt")));
            assertEquals(
                    TorchScriptExporter.sourceChecksum(ExportFixtures.ffn0(m)),
                    manifest.sourceSha256());
            List<NDArray> inputs = ExportFixtures.batches(m, 555, 5, 6, ExportFixtures.FFN_IN);
            double worst = 0;
            for (NDArray x : inputs) {
                float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
                float[] real = ExportFixtures.runExported(dir, "ffn", new NDList(x));
                worst = Math.max(worst, maxAbsDiff(sim, real));
            }
            System.out.println("FFN export vs simulation, max |diff| = " + worst);
            // derived bound: both sides sum the same INT8 products; only the float order of the
            // dequantized sums differs (<= K u sum|terms| ~ 24 * 6e-8 * 10 = 1.4e-5 for K <= 24
            // terms of size <= ~1); every static output is requantized (snapped to its grid),
            // so the observed difference is 0; a requantization tie would exceed the bound and
            // fail this test (none occurs on these seeded inputs)
            assertTrue(worst <= 1.5e-5, "max |diff| " + worst);
        }
    }
}
