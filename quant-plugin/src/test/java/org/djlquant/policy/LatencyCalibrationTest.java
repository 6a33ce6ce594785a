package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@link LatencyCalibration} on synthetic numbers whose calibrated values are derived by hand in
 * the comments, from the formulas of the class comment.
 */
class LatencyCalibrationTest {

    private static final double EPS = 1e-9;

    private static final List<LayerInfo> LAYERS =
            List.of(new LayerInfo("a", "Linear", 100), new LayerInfo("b", "Linear", 300));

    /**
     * Isolated costs (ms): a: FP32 2, BF16 1.5, INT8_DYNAMIC 0.5; b: FP32 6, BF16 2.5, INT8_DYNAMIC
     * 1.5. Isolated sums: BF16 4, INT8_DYNAMIC 2, so in isolation dynamic INT8 is the faster.
     */
    private static CostTable isolated() {
        return CostTable.builder()
                .put("a", Precision.FP32, 2, 400)
                .put("a", Precision.BF16, 1.5, 200)
                .put("a", Precision.INT8_DYNAMIC, 0.5, 104)
                .put("b", Precision.FP32, 6, 1200)
                .put("b", Precision.BF16, 2.5, 600)
                .put("b", Precision.INT8_DYNAMIC, 1.5, 305)
                .build();
    }

    private static ResolvedRules rules(Set<Precision> precisions) {
        return ResolvedRules.unrestricted(LAYERS, BackendCapabilities.uniform("test", precisions));
    }

    private static Map<String, Precision> assign(Precision a, Precision b) {
        Map<String, Precision> m = new LinkedHashMap<>();
        m.put("a", a);
        m.put("b", b);
        return m;
    }

    /**
     * Whole model: FP32 20 ms, BF16 14 ms, INT8_DYNAMIC 16 ms (BF16 faster, as on MiniLM).
     *
     * <pre>
     * w[a][BF16] = (14 − 20) · 1.5 / 4 = −2.25   w[b][BF16] = −6 · 2.5 / 4 = −3.75
     * w[a][DYN]  = (16 − 20) · 0.5 / 2 = −1.0    w[b][DYN]  = −4 · 1.5 / 2 = −3.0
     * K[a] = 2.25, K[b] = 3.75, remainder = 20 − 6 = 14
     * calibrated a: FP32 2.25, BF16 0, DYN 1.25;  b: FP32 3.75, BF16 0, DYN 0.75
     * predict(BF16 on a, DYN on b) = 20 − 2.25 − 3.0 = 14.75
     * </pre>
     */
    @Test
    void calibratedCostsFollowTheDocumentedFormulaAndReproduceWholeModelRuns() {
        Set<Precision> ps = EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC);
        Map<Precision, Double> whole = new EnumMap<>(Precision.class);
        whole.put(Precision.FP32, 20.0);
        whole.put(Precision.BF16, 14.0);
        whole.put(Precision.INT8_DYNAMIC, 16.0);
        LatencyCalibration cal = LatencyCalibration.of(rules(ps), isolated(), whole);

        assertEquals(-2.25, cal.effectMs("a", Precision.BF16), EPS);
        assertEquals(-3.75, cal.effectMs("b", Precision.BF16), EPS);
        assertEquals(-1.0, cal.effectMs("a", Precision.INT8_DYNAMIC), EPS);
        assertEquals(-3.0, cal.effectMs("b", Precision.INT8_DYNAMIC), EPS);
        assertEquals(0.0, cal.effectMs("a", Precision.FP32), EPS);
        assertEquals(14.0, cal.remainderMs(), EPS);

        CostTable t = cal.calibrated();
        assertEquals(2.25, t.cost("a", Precision.FP32).latencyMs(), EPS);
        assertEquals(0.0, t.cost("a", Precision.BF16).latencyMs(), EPS);
        assertEquals(1.25, t.cost("a", Precision.INT8_DYNAMIC).latencyMs(), EPS);
        assertEquals(3.75, t.cost("b", Precision.FP32).latencyMs(), EPS);
        assertEquals(0.0, t.cost("b", Precision.BF16).latencyMs(), EPS);
        assertEquals(0.75, t.cost("b", Precision.INT8_DYNAMIC).latencyMs(), EPS);
        // bytes are the isolated ones
        assertEquals(305, t.cost("b", Precision.INT8_DYNAMIC).bytes());

        // uniform assignments reproduce the whole-model runs, through both routes
        for (Precision p : ps) {
            Map<String, Precision> u = assign(p, p);
            double viaTable =
                    cal.remainderMs() + t.cost("a", p).latencyMs() + t.cost("b", p).latencyMs();
            assertEquals(whole.get(p), cal.predictMs(u), EPS, p.name());
            assertEquals(whole.get(p), viaTable, EPS, p.name());
        }
        assertEquals(14.75, cal.predictMs(assign(Precision.BF16, Precision.INT8_DYNAMIC)), EPS);
        // the isolated table ranks uniform dynamic INT8 (2.0) ahead of BF16 (4.0); calibrated,
        // BF16 (0) is ahead of dynamic INT8 (2.0), as the whole model measured
        assertTrue(
                t.cost("a", Precision.BF16).latencyMs() + t.cost("b", Precision.BF16).latencyMs()
                        < t.cost("a", Precision.INT8_DYNAMIC).latencyMs()
                                + t.cost("b", Precision.INT8_DYNAMIC).latencyMs());
    }

    /**
     * A precision only layer a may use is calibrated on "a in it, b in FP32": with INT4 on a only
     * and a whole model of 19 ms, w[a][INT4] = (19 − 20) · c / c = −1 whatever a's isolated cost,
     * and b has no INT4 entry.
     */
    @Test
    void aPrecisionSomeLayersCannotRunIsCalibratedOnTheLayersThatCan() {
        Map<String, Set<Precision>> allowed = new LinkedHashMap<>();
        allowed.put("a", EnumSet.of(Precision.FP32, Precision.INT4_WEIGHT_ONLY));
        allowed.put("b", EnumSet.of(Precision.FP32));
        ResolvedRules r = new ResolvedRules(LAYERS, allowed, Map.of(), List.of());
        assertEquals(
                assign(Precision.INT4_WEIGHT_ONLY, Precision.FP32),
                LatencyCalibration.calibrationAssignment(r, Precision.INT4_WEIGHT_ONLY));
        CostTable iso =
                CostTable.builder()
                        .put("a", Precision.FP32, 2, 400)
                        .put("a", Precision.INT4_WEIGHT_ONLY, 3, 60)
                        .put("b", Precision.FP32, 6, 1200)
                        .build();
        Map<Precision, Double> whole = new EnumMap<>(Precision.class);
        whole.put(Precision.FP32, 20.0);
        whole.put(Precision.INT4_WEIGHT_ONLY, 19.0);
        LatencyCalibration cal = LatencyCalibration.of(r, iso, whole);
        assertEquals(-1.0, cal.effectMs("a", Precision.INT4_WEIGHT_ONLY), EPS);
        assertEquals(19.0, cal.predictMs(assign(Precision.INT4_WEIGHT_ONLY, Precision.FP32)), EPS);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> cal.effectMs("b", Precision.INT4_WEIGHT_ONLY));
        assertTrue(e.getMessage().contains("layer b"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> LatencyCalibration.calibrationAssignment(r, Precision.BF16));
    }

    /** A missing or non-positive whole-model latency is refused with the precision named. */
    @Test
    void missingOrInvalidWholeModelLatencyIsRefused() {
        Set<Precision> ps = EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC);
        Map<Precision, Double> whole = new EnumMap<>(Precision.class);
        whole.put(Precision.FP32, 20.0);
        whole.put(Precision.BF16, 14.0);
        IllegalArgumentException missing =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LatencyCalibration.of(rules(ps), isolated(), whole));
        assertTrue(missing.getMessage().contains("INT8_DYNAMIC"), missing.getMessage());
        whole.put(Precision.INT8_DYNAMIC, -1.0);
        IllegalArgumentException negative =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LatencyCalibration.of(rules(ps), isolated(), whole));
        assertTrue(negative.getMessage().contains("-1.0"), negative.getMessage());
    }

    /**
     * The search's latency objective follows the calibration: with no accuracy cost (every
     * evaluation returns the baseline) and a latency objective, the search picks uniform dynamic
     * INT8 on the isolated table and uniform BF16 on the calibrated one.
     */
    @Test
    void searchOnTheCalibratedTableChoosesWhatTheWholeModelMeasuredFaster()
            throws org.djlquant.QuantizationException {
        Set<Precision> ps = EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC);
        Map<Precision, Double> whole = new EnumMap<>(Precision.class);
        whole.put(Precision.FP32, 20.0);
        whole.put(Precision.BF16, 14.0);
        whole.put(Precision.INT8_DYNAMIC, 16.0);
        ResolvedRules r = rules(ps);
        LatencyCalibration cal = LatencyCalibration.of(r, isolated(), whole);
        SensitivityTable.Builder sb = SensitivityTable.builder(ProxyMetric.SQNR_DB);
        for (LayerInfo l : LAYERS) {
            sb.put(l.path(), Precision.BF16, 50);
            sb.put(l.path(), Precision.INT8_DYNAMIC, 40);
        }
        SensitivityTable sens = sb.build();
        Evaluator flat = a -> 90.0;
        SearchBudget budget = SearchBudget.ofDrop(0.5).withObjective(Objective.LATENCY);
        Map<String, Precision> isolatedChoice =
                new PolicySearch(r, sens, isolated()).optimise(flat, budget).policy().assignment();
        Map<String, Precision> calibratedChoice =
                new PolicySearch(r, sens, cal.calibrated())
                        .optimise(flat, budget)
                        .policy()
                        .assignment();
        assertEquals(assign(Precision.INT8_DYNAMIC, Precision.INT8_DYNAMIC), isolatedChoice);
        assertEquals(assign(Precision.BF16, Precision.BF16), calibratedChoice);
    }
}
