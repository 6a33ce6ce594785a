package org.djlquant.policy.measure;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.djlquant.QuantizationException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.BackendCapabilities;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.EvaluationException;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.LayerSelector;
import org.djlquant.policy.PolicyRules;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.RuleException;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.SensitivityTable;
import org.junit.jupiter.api.Test;

/** The policy search driven end to end by a measured table and the simulator's evaluator. */
class SearchOnSimulatorTest {

    private static final Set<Precision> ALLOWED =
            EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC);

    private static CostTable costs(List<LayerInfo> layers) {
        CostTable.Builder b = CostTable.builder();
        for (LayerInfo l : layers) {
            b.put(l.path(), Precision.FP32, 1.0, 4 * l.params());
            b.put(l.path(), Precision.BF16, 0.6, 2 * l.params());
            b.put(l.path(), Precision.INT8_DYNAMIC, 0.3, l.params());
        }
        return b.build();
    }

    @Test
    void evaluatorFailuresNameTheLayerBeingTriedAndLeaveTheModelFp32()
            throws QuantizationException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 7, true);
            List<NDList> batches = Mlp.batches(m, 11, 1, 16);
            float[] fp32 =
                    mlp.block
                            .forward(
                                    new ai.djl.training.ParameterStore(m, false),
                                    batches.get(0),
                                    false)
                            .head()
                            .toFloatArray();
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                SensitivityTable table =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(m)
                                .setBatches(batches)
                                .optCandidates(EnumSet.of(Precision.BF16, Precision.INT8_DYNAMIC))
                                .build()
                                .run()
                                .table(ProxyMetric.SQNR_DB);
                ResolvedRules rules =
                        PolicyRules.empty()
                                .resolve(
                                        sim.layers(),
                                        BackendCapabilities.uniform("pytorch", ALLOWED));
                PolicySearch search = new PolicySearch(rules, table, costs(sim.layers()));

                // baseline 1.0, fastest (uniform INT8) 0.5 (over budget), uniform BF16 seed 1.0;
                // the least damaging assignment is the FP32 baseline (no call); raising the most
                // sensitive layer 03 to FP32 gives 1.0 (within budget), then NaN while refining
                // 03 down to BF16
                AtomicInteger calls = new AtomicInteger();
                double[] answers = {1.0, 0.5, 1.0, 1.0, Double.NaN};
                EvaluationException nan =
                        assertThrows(
                                EvaluationException.class,
                                () ->
                                        search.fallback(
                                                sim.evaluator(
                                                        () -> answers[calls.getAndIncrement()]),
                                                0.01));
                assertEquals(5, calls.get());
                assertTrue(nan.trying().contains("lower 03 FP32 -> BF16"), nan.trying());
                assertTrue(nan.getMessage().contains("NaN"), nan.getMessage());
                // the outlier layer 03 is the most sensitive, so it is the one being raised
                assertTrue(nan.getMessage().contains("03"), nan.getMessage());
                assertEquals(Precision.BF16, nan.assignment().get("03"), nan.getMessage());
                assertEquals(Precision.INT8_DYNAMIC, nan.assignment().get("01"));

                EvaluationException thrown =
                        assertThrows(
                                EvaluationException.class,
                                () ->
                                        search.fallback(
                                                sim.evaluator(
                                                        () -> {
                                                            throw new QuantizationException(
                                                                    "held-out data unreadable");
                                                        }),
                                                0.01));
                assertTrue(
                        thrown.getMessage().contains("held-out data unreadable"),
                        thrown.getMessage());

                // after the failures the model is back at FP32
                float[] after = sim.forward(batches.get(0), m).head().toFloatArray();
                assertArrayEquals(fp32, after, 0f);

                // a working task metric: output agreement on the batch, 1 = FP32
                SearchResult ok =
                        search.fallback(
                                sim.evaluator(
                                        () -> {
                                            float[] y =
                                                    sim.forward(batches.get(0), m)
                                                            .head()
                                                            .toFloatArray();
                                            double s = 0;
                                            double n = 0;
                                            for (int i = 0; i < y.length; i++) {
                                                s += (double) fp32[i] * fp32[i];
                                                n += (double) (y[i] - fp32[i]) * (y[i] - fp32[i]);
                                            }
                                            return 1 - n / s;
                                        }),
                                0.01);
                assertTrue(ok.policy().precision("03") != Precision.INT8_DYNAMIC, ok.toTable());
                assertEquals(Precision.INT8_DYNAMIC, ok.policy().precision("05"));
            }
        }
    }

    @Test
    void ruleForALayerTheModelDoesNotHaveIsRefused() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 7, false);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                PolicyRules rules =
                        PolicyRules.builder()
                                .pin(LayerSelector.path("encoder.09.query"), Precision.FP32)
                                .build();
                RuleException e =
                        assertThrows(
                                RuleException.class,
                                () ->
                                        rules.resolve(
                                                sim.layers(),
                                                BackendCapabilities.uniform("pytorch", ALLOWED)));
                assertTrue(e.getMessage().contains("encoder.09.query"), e.getMessage());
            }
        }
    }
}
