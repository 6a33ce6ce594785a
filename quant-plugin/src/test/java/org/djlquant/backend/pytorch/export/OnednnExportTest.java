package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import org.djlquant.backend.pytorch.AttentionKernel;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.transformer.BertModelBlock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same TorchScript archive packed for onednn (the engine current when it loads): a BERT with
 * static per-channel INT8 projections and dynamic INT8 FFN down-projections, full 8-bit
 * activations, as the MiniLM pipeline quantizes it. onednn runs the same integer products as
 * fbgemm; it requantizes in float and quantizes dynamic inputs with its own parameters, so the
 * outputs agree with the simulation and with the fbgemm load to within a quantization step, not bit
 * for bit.
 */
class OnednnExportTest {

    private static QEngine initial;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static BertModelBlock calibratedBert(NDManager m) {
        return ExportFixtures.calibratedTinyBert(
                m,
                QConfigMapping.builder()
                        .optGlobal(ExportFixtures.staticPerChannel8())
                        .optPathGlob("encoder.*.output", ExportFixtures.dynamicPerChannel8())
                        .build());
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    @Test
    void anArchivePackedForOnednnAgreesWithTheSimulationAndWithFbgemm(@TempDir Path dir)
            throws Exception {
        assumeTrue(
                QEngine.available().contains(QEngine.ONEDNN),
                "this libtorch has no onednn engine: " + QEngine.available());
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = calibratedBert(m);
            QuantizationManifest manifest =
                    TorchScriptExporter.builder()
                            .setBlock(bert)
                            .optEngine(QEngine.ONEDNN)
                            .optAttention(AttentionKernel.FUSED_SDPA)
                            .build()
                            .export(dir.resolve("onednn"), "bert");
            assertEquals(QEngine.ONEDNN, manifest.qengine());
            TorchScriptExporter.builder()
                    .setBlock(bert)
                    .optEngine(QEngine.FBGEMM)
                    .optAttention(AttentionKernel.FUSED_SDPA)
                    .build()
                    .export(dir.resolve("fbgemm"), "bert");
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            float[] sim = ExportFixtures.simulate(bert, m, inputs);
            QEngine.select(QEngine.ONEDNN);
            float[] onednn = ExportFixtures.runExported(dir.resolve("onednn"), "bert", inputs);
            QEngine.select(QEngine.FBGEMM);
            float[] fbgemm = ExportFixtures.runExported(dir.resolve("fbgemm"), "bert", inputs);
            double toSim = maxAbsDiff(sim, onednn);
            double toFbgemm = maxAbsDiff(fbgemm, onednn);
            double cosSim = cosine(sim, onednn);
            System.out.printf(
                    "onednn vs simulation max |diff| %.5f cosine %.6f; vs fbgemm %.5f; fbgemm vs"
                            + " simulation %.5f%n",
                    toSim, cosSim, toFbgemm, maxAbsDiff(sim, fbgemm));
            // LayerNorm outputs are O(1); a requantization step that moves by one, or the dynamic
            // input quantized with onednn's own parameters, moves a value by a fraction of that
            assertTrue(toSim <= 0.25, "onednn vs simulation max |diff| " + toSim);
            assertTrue(toFbgemm <= 0.25, "onednn vs fbgemm max |diff| " + toFbgemm);
            assertTrue(cosSim >= 0.999, "onednn vs simulation cosine " + cosSim);
        }
    }
}
