package org.djlquant.policy.measure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.SensitivityTable;
import org.djlquant.policy.apply.UnknownLayerException;
import org.junit.jupiter.api.Test;

/** Sensitivity of a 3-layer MLP whose middle layer has an outlier weight per row. */
class SensitivityRunnerTest {

    @Test
    void outlierLayerRanksFirstAndMatchesHandDerivedError() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 7, true);
            List<NDList> batches = Mlp.batches(m, 11, 2, 32);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                assertEquals(
                        List.of("01", "03", "05"),
                        sim.layers().stream().map(l -> l.path()).toList());
                SensitivityReport r =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(m)
                                .setBatches(batches)
                                .optLogits(true)
                                .build()
                                .run();
                for (Precision p :
                        EnumSet.of(
                                Precision.INT8_WEIGHT_ONLY,
                                Precision.INT8_DYNAMIC,
                                Precision.INT8_STATIC,
                                Precision.INT4_WEIGHT_ONLY)) {
                    assertEquals("03", r.ranking(p, ProxyMetric.SQNR_DB).get(0), p.toString());
                    assertEquals("03", r.ranking(p, ProxyMetric.KL).get(0), p.toString());
                }
                // hand-derived: weight-only INT8 of layer 03 rounds every weight but the outlier
                // to 0 and the outlier multiplies a zero input, so the model equals the plain-Java
                // MLP with layer 03's weights zeroed
                double signal = 0;
                double noise = 0;
                for (NDList batch : batches) {
                    float[] x = batch.head().toFloatArray();
                    for (int row = 0; row < x.length / Mlp.IN; row++) {
                        float[] xr = new float[Mlp.IN];
                        System.arraycopy(x, row * Mlp.IN, xr, 0, Mlp.IN);
                        float[] ref = mlp.forward(xr, -1);
                        float[] q = mlp.forward(xr, 1);
                        for (int o = 0; o < ref.length; o++) {
                            signal += (double) ref[o] * ref[o];
                            noise += (double) (ref[o] - q[o]) * (ref[o] - q[o]);
                        }
                    }
                }
                double expected = 10 * Math.log10(signal / noise);
                assertEquals(expected, r.onlyThis("03", Precision.INT8_WEIGHT_ONLY).sqnrDb(), 0.01);
                // the ordinary layers lose far less
                assertTrue(
                        r.onlyThis("01", Precision.INT8_WEIGHT_ONLY).sqnrDb() > expected + 20,
                        r.toTable());
                // half precisions barely change anything
                assertTrue(r.onlyThis("03", Precision.BF16).sqnrDb() > 35, r.toTable());
                assertTrue(r.onlyThis("03", Precision.FP16).sqnrDb() > 55, r.toTable());
                // all-but-this: keeping 03 in FP32 is what saves the model
                assertEquals(3, r.allButThis().size());
                assertTrue(
                        r.allButThis().get("03").sqnrDb() > r.allButThis().get("01").sqnrDb() + 20,
                        r.toTable());
                SensitivityTable t = r.table(ProxyMetric.COSINE);
                assertTrue(
                        t.damage("03", Precision.INT8_DYNAMIC)
                                > t.damage("05", Precision.INT8_DYNAMIC));
                assertTrue(t.allButThis("03").isPresent());
                assertTrue(r.toJson().contains("\"INT4_WEIGHT_ONLY\""));
            }
            // closing put the prepared twins back
            Block second = mlp.block.getChildren().get(2).getValue();
            assertSame(report.twin("03"), second);
            assertTrue(second instanceof ObservedLinear);
        }
    }

    @Test
    void simulatorAtFp32ComputesThePlainModelAndRecordsShapes() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 3, false);
            NDList batch = Mlp.batches(m, 5, 1, 6).get(0);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                float[] got = sim.forward(batch, m).head().toFloatArray();
                float[] x = batch.head().toFloatArray();
                for (int row = 0; row < 6; row++) {
                    float[] xr = new float[Mlp.IN];
                    System.arraycopy(x, row * Mlp.IN, xr, 0, Mlp.IN);
                    float[] ref = mlp.forward(xr, -1);
                    for (int o = 0; o < Mlp.OUT; o++) {
                        assertEquals(ref[o], got[row * Mlp.OUT + o], 1e-5);
                    }
                }
                assertEquals(
                        Map.of(
                                "01",
                                new Shape(6, 32),
                                "03",
                                new Shape(6, 32),
                                "05",
                                new Shape(6, 32)),
                        sim.inputShapes());
                IllegalStateException e =
                        assertThrows(
                                IllegalStateException.class,
                                () -> sim.set(Map.of("05", Precision.INT8_STATIC)));
                assertTrue(e.getMessage().contains("layer 05"), e.getMessage());
                UnknownLayerException u =
                        assertThrows(
                                UnknownLayerException.class,
                                () -> sim.set(Map.of("encoder.07", Precision.BF16)));
                assertTrue(u.getMessage().contains("'encoder.07'"), u.getMessage());
                assertTrue(u.getMessage().contains("[01, 03, 05]"), u.getMessage());
            }
        }
    }
}
