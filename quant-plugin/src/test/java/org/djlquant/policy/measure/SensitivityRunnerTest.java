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
import org.djlquant.QuantizationException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.EvaluationException;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.SensitivityTable;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.policy.apply.UnknownLayerException;
import org.junit.jupiter.api.Test;

/** Sensitivity of a 3-layer MLP whose middle layer has an outlier weight per row. */
class SensitivityRunnerTest {

    @Test
    void outlierLayerRanksFirstAndMatchesHandDerivedError() throws QuantizationException {
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

    /** Plain-Java relative noise power of the simulator's current output against a reference. */
    private static double noise(
            PrecisionSimulator sim, List<NDList> batches, NDManager m, List<float[]> ref) {
        double signal = 0;
        double noise = 0;
        for (int b = 0; b < batches.size(); b++) {
            try (NDManager sub = m.newSubManager()) {
                float[] out = sim.forward(batches.get(b), sub).head().toFloatArray();
                float[] r = ref.get(b);
                for (int i = 0; i < r.length; i++) {
                    signal += (double) r[i] * r[i];
                    noise += (double) (r[i] - out[i]) * (r[i] - out[i]);
                }
            }
        }
        return noise / signal;
    }

    private static List<float[]> outputs(
            PrecisionSimulator sim, List<NDList> batches, NDManager m) {
        List<float[]> out = new java.util.ArrayList<>();
        for (NDList b : batches) {
            try (NDManager sub = m.newSubManager()) {
                out.add(sim.forward(b, sub).head().toFloatArray());
            }
        }
        return out;
    }

    @Test
    void taskMetricRunsOnlyOnTheLayersTheProxiesRankFirstAtTheirWorstPrecision()
            throws QuantizationException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 7, true);
            List<NDList> batches = Mlp.batches(m, 11, 2, 32);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(
                            mlp.block, report, PrecisionConfigs.perChannel(BackendTarget.FBGEMM))) {
                List<float[]> ref = outputs(sim, batches, m);
                int[] calls = {0};
                // task metric computed in plain Java: 100 minus 100 x relative noise power
                TaskMetric metric =
                        () -> {
                            calls[0]++;
                            return 100 - 100 * noise(sim, batches, m, ref);
                        };
                SensitivityReport r =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(m)
                                .setBatches(batches)
                                .optCandidates(
                                        EnumSet.of(
                                                Precision.INT8_DYNAMIC, Precision.INT4_WEIGHT_ONLY))
                                .optAllButThis(null)
                                .optTaskMetric(metric, 3)
                                .build()
                                .run();
                assertEquals(3, calls[0]);
                assertEquals(100.0, r.taskMetricFp32(), 1e-12);
                assertEquals(2, r.taskOnlyThis().size());
                assertEquals("03", r.taskOnlyThis().keySet().iterator().next());
                // the layer left out is the one whose worst candidate has the highest SQNR
                String least = null;
                double best = -1;
                for (String path : List.of("01", "03", "05")) {
                    double worstSqnr =
                            Math.min(
                                    r.onlyThis(path, Precision.INT8_DYNAMIC).sqnrDb(),
                                    r.onlyThis(path, Precision.INT4_WEIGHT_ONLY).sqnrDb());
                    if (worstSqnr > best) {
                        best = worstSqnr;
                        least = path;
                    }
                }
                assertTrue(!r.taskOnlyThis().containsKey(least), r.toTable());
                for (SensitivityReport.TaskMeasurement t : r.taskOnlyThis().values()) {
                    double dyn = r.onlyThis(t.path(), Precision.INT8_DYNAMIC).sqnrDb();
                    double int4 = r.onlyThis(t.path(), Precision.INT4_WEIGHT_ONLY).sqnrDb();
                    // ties go to the precision declared first (INT8_DYNAMIC)
                    Precision worst =
                            dyn <= int4 ? Precision.INT8_DYNAMIC : Precision.INT4_WEIGHT_ONLY;
                    assertEquals(worst, t.precision(), t.path());
                    // the plain-Java drop equals the noise power the runner measured as SQNR
                    double expected = 100 * Math.pow(10, -Math.min(dyn, int4) / 10);
                    assertEquals(expected, t.drop(), 1e-4 * expected + 1e-9, t.path());
                    assertEquals(100 - t.drop(), t.metric(), 1e-9);
                }
                assertTrue(r.toTable().contains("task drop"), r.toTable());
                assertTrue(r.toJson().contains("\"taskOnlyThis\""), r.toJson());
            }
        }
    }

    @Test
    void taskMetricFailuresNameTheLayerAndLeaveTheModelFp32() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 7, true);
            List<NDList> batches = Mlp.batches(m, 11, 1, 8);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                List<float[]> ref = outputs(sim, batches, m);
                int[] calls = {0};
                SensitivityRunner nanOnLayer =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(m)
                                .setBatches(batches)
                                .optCandidates(EnumSet.of(Precision.INT8_DYNAMIC))
                                .optAllButThis(null)
                                .optTaskMetric(() -> ++calls[0] == 1 ? 90.0 : Double.NaN, 2)
                                .build();
                EvaluationException nan = assertThrows(EvaluationException.class, nanOnLayer::run);
                assertTrue(nan.getMessage().contains("NaN"), nan.getMessage());
                assertTrue(nan.trying().contains("layer 03 at INT8_DYNAMIC"), nan.trying());
                assertEquals(Map.of("03", Precision.INT8_DYNAMIC), nan.assignment());
                assertEquals(0.0, noise(sim, batches, m, ref), 0.0);

                SensitivityRunner throwing =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(m)
                                .setBatches(batches)
                                .optCandidates(EnumSet.of(Precision.INT8_DYNAMIC))
                                .optAllButThis(null)
                                .optTaskMetric(
                                        () -> {
                                            throw new IllegalStateException("probe missing");
                                        },
                                        2)
                                .build();
                EvaluationException thrown = assertThrows(EvaluationException.class, throwing::run);
                assertTrue(thrown.getMessage().contains("probe missing"), thrown.getMessage());
                assertTrue(thrown.trying().contains("FP32 baseline"), thrown.trying());
                assertSame(IllegalStateException.class, thrown.getCause().getClass());
                assertEquals(0.0, noise(sim, batches, m, ref), 0.0);

                IllegalArgumentException bound =
                        assertThrows(
                                IllegalArgumentException.class,
                                () ->
                                        SensitivityRunner.builder()
                                                .setSimulator(sim)
                                                .setManager(m)
                                                .setBatches(batches)
                                                .optTaskMetric(() -> 1.0, 1)
                                                .build());
                assertTrue(bound.getMessage().contains("at least 2"), bound.getMessage());
            }
        }
    }

    @Test
    void staticStandInQuantizesItsOutputLikeThePreparedTwin() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<NDList> batches = Mlp.batches(m, 11, 2, 32);
            // reference: Preparer's own static twin of the last layer, calibrated on the batches
            Mlp prepared = new Mlp(m, 5, false);
            PrepareReport pr =
                    Preparer.prepare(
                            prepared.block,
                            QConfigMapping.builder()
                                    .optPathGlob("05", QConfig.staticInt8(BackendTarget.FBGEMM))
                                    .build());
            ObservedLinear twin = (ObservedLinear) pr.twin("05");
            ai.djl.training.ParameterStore ps = new ai.djl.training.ParameterStore(m, false);
            for (NDList b : batches) {
                try (NDManager sub = m.newSubManager()) {
                    sub.tempAttachAll(b);
                    prepared.block.forward(ps, b, false);
                }
            }
            twin.control().setObserving(false);
            twin.control().setFakeQuant(true);
            List<float[]> expected = new java.util.ArrayList<>();
            for (NDList b : batches) {
                try (NDManager sub = m.newSubManager()) {
                    sub.tempAttachAll(b);
                    expected.add(prepared.block.forward(ps, b, false).head().toFloatArray());
                }
            }
            Mlp plain = new Mlp(m, 5, false);
            PrepareReport report =
                    Preparer.prepare(
                            plain.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(plain.block, report, BackendTarget.FBGEMM)) {
                List<float[]> fp32 = outputs(sim, batches, m);
                sim.calibrate(batches, m);
                sim.set(Map.of("05", Precision.INT8_STATIC));
                List<float[]> got = outputs(sim, batches, m);
                // hand-derived: a fake-quantized output is scale x (q - zeroPoint), an integer
                // multiple of the output scale the prepared twin calibrated
                float scale = twin.control().computeParams().get("output").scale();
                int offGrid = 0;
                for (int b = 0; b < batches.size(); b++) {
                    for (int i = 0; i < got.get(b).length; i++) {
                        assertEquals(expected.get(b)[i], got.get(b)[i], 1e-6);
                        double q = got.get(b)[i] / scale;
                        assertEquals(Math.rint(q), q, 1e-3, "output " + i + " is off the grid");
                        double f = fp32.get(b)[i] / scale;
                        if (Math.abs(f - Math.rint(f)) > 1e-3) {
                            offGrid++;
                        }
                    }
                }
                // while the FP32 outputs are not on that grid
                assertTrue(offGrid > 200, offGrid + " FP32 outputs off the grid");
            }
        }
    }
}
