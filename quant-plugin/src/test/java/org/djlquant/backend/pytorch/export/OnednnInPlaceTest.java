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
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.transformer.BertModelBlock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A BERT converted in place for onednn ({@link Converter} with {@link QEngine#ONEDNN}) runs what
 * its onednn TorchScript export runs and what the same model converted for fbgemm runs: the
 * in-place path has no fbgemm-only choice (dynamic layers take reduce_range from the config, not
 * from the engine). onednn's {@code quantized::linear_dynamic} applies scales and bias in another
 * float order than fbgemm (outputs differ in the last bits on real MiniLM activations, never by an
 * integer step), so the comparisons allow float rounding, not a quantization step.
 */
class OnednnInPlaceTest {

    private static QEngine initial;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static void assumeOnednn() {
        assumeTrue(
                QEngine.available().contains(QEngine.ONEDNN),
                "this libtorch has no onednn engine: " + QEngine.available());
    }

    @Test
    void dynamicBertInPlaceOnOnednnRunsWhatItsOnednnExportRuns(@TempDir Path dir) throws Exception {
        assumeOnednn();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert =
                    ExportFixtures.calibratedTinyBert(
                            m, QConfigMapping.global(ExportFixtures.dynamicPerChannel8()));
            TorchScriptExporter.builder()
                    .setBlock(bert)
                    .optEngine(QEngine.ONEDNN)
                    .optAttention(AttentionKernel.MATMUL_SOFTMAX)
                    .build()
                    .export(dir, "bert");
            ConvertReport report = Converter.convert(bert, m, QEngine.ONEDNN);
            assertEquals(QEngine.ONEDNN, report.engine());
            // batches of several shapes, the first shape again last (onednn caches a primitive
            // for the first input shape of each layer)
            int[][] shapes = {{3, 7}, {2, 5}, {4, 9}, {3, 7}};
            for (int[] s : shapes) {
                NDList inputs = ExportFixtures.bertInputs(m, 900 + s[1], s[0], s[1]);
                float[] inPlace = ExportFixtures.run(bert, m, inputs).head().toFloatArray();
                QEngine.select(QEngine.ONEDNN);
                float[] exported = ExportFixtures.runExported(dir, "bert", inputs);
                double d = maxAbsDiff(inPlace, exported);
                System.out.printf(
                        "%dx%d: in place onednn vs onednn export max |diff| %.7f%n", s[0], s[1], d);
                assertTrue(d <= 1e-4, s[0] + "x" + s[1] + ": in place vs export max |diff| " + d);
            }
        }
    }

    @Test
    void staticRecipeBertInPlaceOnOnednnEqualsInPlaceOnFbgemm() throws Exception {
        assumeOnednn();
        QConfigMapping recipe =
                QConfigMapping.builder()
                        .optGlobal(ExportFixtures.staticPerChannel8())
                        .optPathGlob("encoder.*.output", ExportFixtures.dynamicPerChannel8())
                        .build();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            BertModelBlock fbgemm = ExportFixtures.calibratedTinyBert(m, recipe);
            float[] sim = ExportFixtures.simulate(fbgemm, m, inputs);
            Converter.convert(fbgemm, m, QEngine.FBGEMM);
            BertModelBlock onednn = ExportFixtures.calibratedTinyBert(m, recipe);
            ConvertReport report = Converter.convert(onednn, m, QEngine.ONEDNN);
            assertEquals(QEngine.ONEDNN, report.engine());
            float[] a = ExportFixtures.run(fbgemm, m, inputs).head().toFloatArray();
            float[] b = ExportFixtures.run(onednn, m, inputs).head().toFloatArray();
            double d = maxAbsDiff(a, b);
            System.out.printf(
                    "in place onednn vs fbgemm max |diff| %.7f; each vs simulation %.5f / %.5f%n",
                    d, maxAbsDiff(b, sim), maxAbsDiff(a, sim));
            assertTrue(d <= 1e-4, "in place onednn vs fbgemm max |diff| " + d);
            // the same bound as fbgemm's own distance to the simulation (one requantization step)
            assertTrue(maxAbsDiff(b, sim) <= 0.25, "onednn vs simulation " + maxAbsDiff(b, sim));
        }
    }
}
