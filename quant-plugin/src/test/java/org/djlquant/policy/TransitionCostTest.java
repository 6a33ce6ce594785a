package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Boundary costs between precision families: every expected value is derived in a comment. */
class TransitionCostTest {

    @TempDir Path dir;

    private static final Precision F = Precision.FP32;
    private static final Precision B = Precision.BF16;
    private static final Precision S = Precision.INT8_STATIC;
    private static final Precision D = Precision.INT8_DYNAMIC;

    private static Map<String, Precision> assign(Object... pairs) {
        Map<String, Precision> m = new LinkedHashMap<>();
        for (int k = 0; k < pairs.length; k += 2) {
            m.put((String) pairs[k], (Precision) pairs[k + 1]);
        }
        return m;
    }

    /**
     * Layers a, b, c at 1 ms in every precision; round trips b: BF16 0.5, INT8 1; c: 0.25, 0.75.
     */
    private static CostTable threeLayers() {
        CostTable.Builder t = CostTable.builder();
        for (String path : List.of("a", "b", "c")) {
            for (Precision p : List.of(F, B, S, D)) {
                t.put(path, p, 1.0, 100);
            }
        }
        return t.putRoundTrip("b", PrecisionFamily.BFLOAT16, 0.5)
                .putRoundTrip("b", PrecisionFamily.INT8_ACTIVATION, 1.0)
                .putRoundTrip("c", PrecisionFamily.BFLOAT16, 0.25)
                .putRoundTrip("c", PrecisionFamily.INT8_ACTIVATION, 0.75)
                .build();
    }

    /** A cost model: every layer 1 ms and 10 bytes, round trips from {@code ms}. */
    private static CostModel roundTrips(
            java.util.function.ToDoubleBiFunction<LayerInfo, PrecisionFamily> ms) {
        return new CostModel() {
            @Override
            public LayerCost measure(LayerInfo layer, Precision precision) {
                return new LayerCost(1.0, 10);
            }

            @Override
            public OptionalDouble roundTripMs(LayerInfo layer, PrecisionFamily family) {
                return OptionalDouble.of(ms.applyAsDouble(layer, family));
            }
        };
    }

    @Test
    void familiesOfThePrecisions() {
        assertEquals(PrecisionFamily.FLOAT32, F.family());
        assertEquals(PrecisionFamily.FLOAT32, D.family());
        assertEquals(PrecisionFamily.FLOAT32, Precision.INT8_WEIGHT_ONLY.family());
        assertEquals(PrecisionFamily.FLOAT32, Precision.INT4_WEIGHT_ONLY.family());
        assertEquals(PrecisionFamily.BFLOAT16, B.family());
        assertEquals(PrecisionFamily.FLOAT16, Precision.FP16.family());
        assertEquals(PrecisionFamily.INT8_ACTIVATION, S.family());
    }

    @Test
    void boundariesBetweenFamiliesCostHalfOfEachSidesRoundTrip() {
        CostTable t = threeLayers();
        assertTrue(t.hasTransitions());
        // F | B | S: into b (0 + 0.5) / 2 = 0.25; into c (0.25 + 0.75) / 2 = 0.5; total 0.75
        Map<String, Precision> mix = assign("a", F, "b", B, "c", S);
        assertEquals(0.75, t.transitionsMs(mix));
        assertEquals(3.75, t.latencyMs(mix));
        // one family throughout: no boundary; FP32 and dynamic INT8 are both float32
        assertEquals(0.0, t.transitionsMs(assign("a", B, "b", B, "c", B)));
        assertEquals(0.0, t.transitionsMs(assign("a", F, "b", D, "c", F)));
        // S S B: into c (0.75 + 0.25) / 2 = 0.5
        assertEquals(0.5, t.transitionsMs(assign("a", S, "b", S, "c", B)));
        // B S F: into b (0.5 + 1) / 2 = 0.75, into c (0.75 + 0) / 2 = 0.375
        assertEquals(1.125, t.transitionsMs(assign("a", B, "b", S, "c", F)));
    }

    @Test
    void aTableWithoutRoundTripsChargesNothingAndAMissingOneIsNamed() {
        CostTable plain = CostTable.builder().put("a", F, 1, 1).put("b", B, 1, 1).build();
        assertFalse(plain.hasTransitions());
        assertEquals(0.0, plain.transitionsMs(assign("a", F, "b", B)));
        CostTable partial =
                CostTable.builder()
                        .put("a", F, 1, 1)
                        .put("b", S, 1, 1)
                        .putRoundTrip("b", PrecisionFamily.BFLOAT16, 0.5)
                        .build();
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> partial.transitionsMs(assign("a", F, "b", S)));
        assertTrue(e.getMessage().contains("INT8_ACTIVATION round trip"), e.getMessage());
        assertTrue(e.getMessage().contains("layer b"), e.getMessage());
        IllegalArgumentException neg =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> CostTable.builder().putRoundTrip("b", PrecisionFamily.FLOAT16, -1));
        assertTrue(neg.getMessage().contains("was -1.0 ms"), neg.getMessage());
    }

    @Test
    void measureAsksTheCostModelForEveryFamilyAtEveryLayerAfterTheFirst()
            throws QuantizationException {
        List<LayerInfo> layers =
                List.of(
                        new LayerInfo("a", "Linear", 10),
                        new LayerInfo("b", "Linear", 10),
                        new LayerInfo("c", "Linear", 10));
        ResolvedRules rules =
                ResolvedRules.unrestricted(
                        layers, BackendCapabilities.uniform("test", EnumSet.of(F, B, S)));
        List<String> asked = new java.util.ArrayList<>();
        CostModel model =
                roundTrips(
                        (layer, family) -> {
                            asked.add(layer.path() + " " + family);
                            return family == PrecisionFamily.BFLOAT16 ? 0.5 : 1.5;
                        });
        CostTable t = CostTable.measure(rules, model);
        assertEquals(
                List.of("b BFLOAT16", "b INT8_ACTIVATION", "c BFLOAT16", "c INT8_ACTIVATION"),
                asked);
        // F | S | B: into b (0 + 1.5) / 2, into c (1.5 + 0.5) / 2: 0.75 + 1
        assertEquals(1.75, t.transitionsMs(assign("a", F, "b", S, "c", B)));
        // a model that measures no conversions leaves the table without transitions
        CostTable plain = CostTable.measure(rules, (layer, p) -> new LayerCost(1.0, 10));
        assertFalse(plain.hasTransitions());
    }

    @Test
    void theCostCacheKeepsRoundTripsByRoleAndReadsThemBack() throws QuantizationException {
        CostCacheKey key = new CostCacheKey("machine", "backend", 1, "work");
        CostCache cache = CostCache.open(dir, key);
        int[] calls = {0};
        CostModel counting =
                roundTrips(
                        (layer, family) -> {
                            calls[0]++;
                            return 0.125;
                        });
        CostModel cached = cache.caching(counting);
        LayerInfo l1 = new LayerInfo("encoder.1.ffn", "Linear", 10);
        LayerInfo l2 = new LayerInfo("encoder.2.ffn", "Linear", 10);
        assertEquals(0.125, cached.roundTripMs(l1, PrecisionFamily.BFLOAT16).getAsDouble());
        // same role encoder.#.ffn: from the cache
        assertEquals(0.125, cached.roundTripMs(l2, PrecisionFamily.BFLOAT16).getAsDouble());
        assertEquals(1, calls[0]);
        cache.save();
        CostCache back = CostCache.open(dir, key);
        assertEquals(OptionalDouble.of(0.125), back.getRoundTrip(l2, PrecisionFamily.BFLOAT16));
        assertEquals(OptionalDouble.empty(), back.getRoundTrip(l2, PrecisionFamily.FLOAT16));
    }

    /**
     * Two layers a, b. FP32 8 ms, BF16 4.5 ms, static INT8 2 ms; drops of static INT8: a 0.1, b
     * 1.0; budget 0.3. Round trips into b: BF16 1, INT8 6.
     */
    @Test
    void theSearchChargesBoundariesAndPrefersTheUniformAssignmentTheyMakeFaster()
            throws QuantizationException {
        List<LayerInfo> layers =
                List.of(new LayerInfo("a", "Linear", 1024), new LayerInfo("b", "Linear", 1024));
        Set<Precision> ps = EnumSet.of(F, B, S);
        SensitivityTable.Builder sens = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        CostTable.Builder plain = CostTable.builder();
        Map<String, Map<Precision, Double>> drops = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            double s = l.path().equals("a") ? 0.1 : 1.0;
            for (Precision p : ps) {
                double d = p == S ? s : 0.0;
                double ms = p == F ? 8 : p == B ? 4.5 : 2;
                sens.put(l.path(), p, d);
                plain.put(l.path(), p, ms, p.estimatedBytes(1024));
                drops.computeIfAbsent(l.path(), k -> new LinkedHashMap<>()).put(p, d);
            }
        }
        ResolvedRules rules =
                ResolvedRules.unrestricted(layers, BackendCapabilities.uniform("test", ps));
        Evaluator ev = a -> 10 - drops.get("a").get(a.get("a")) - drops.get("b").get(a.get("b"));
        CostTable without = plain.build();
        CostTable withTransitions =
                plain.putRoundTrip("b", PrecisionFamily.BFLOAT16, 1.0)
                        .putRoundTrip("b", PrecisionFamily.INT8_ACTIVATION, 6.0)
                        .build();
        // without transitions the fallback (raise b to FP32, refine b to BF16) keeps S,B at 6.5
        // ms over uniform BF16 at 9 ms
        SearchResult r0 = new PolicySearch(rules, sens.build(), without).fallback(ev, 0.3);
        assertEquals(assign("a", S, "b", B), r0.chosen().assignment());
        assertEquals(6.5, r0.chosen().latencyMs());
        // with them: S,B = 6.5 + (6 + 1) / 2 = 10; S,F = 10 + (6 + 0) / 2 = 13; B,B = 9: uniform
        SearchResult r1 = new PolicySearch(rules, sens.build(), withTransitions).fallback(ev, 0.3);
        assertEquals(assign("a", B, "b", B), r1.chosen().assignment());
        assertEquals(9.0, r1.chosen().latencyMs());
        for (Candidate c : r1.tried()) {
            if (c.assignment().equals(assign("a", S, "b", B))) {
                assertEquals(10.0, c.latencyMs());
            }
            if (c.assignment().equals(assign("a", S, "b", F))) {
                assertEquals(13.0, c.latencyMs());
            }
        }
    }

    /**
     * Layers a (FP32 8, BF16 6, static INT8 2, dynamic INT8 7 ms) and b (FP32 8, BF16 3, static
     * INT8 2, dynamic INT8 3.25 ms); round trips into b: BF16 1, INT8 5. Drops: only b's, static
     * INT8 1.0, dynamic INT8 0.1; budget 0.3. The fallback starts at the fastest S,S (4 ms, drop
     * 1.0); seeds B,B = 9 and D,D = 10.25; raising b gives S,F = 10 + (5 + 0) / 2 = 12.5. Refining
     * b (static INT8 excluded): per layer BF16 (3) beats dynamic INT8 (3.25), but with the boundary
     * S,B = 5 + (5 + 1) / 2 = 8 and S,D = 5.25 + (5 + 0) / 2 = 7.75, so the move goes to dynamic
     * INT8, the exhaustive optimum within budget (B,D 9.75, D,B 10.5 and the rest are slower).
     */
    @Test
    void theFallbackRefinesARaisedLayerByTheAssignmentLatencyBoundariesIncluded()
            throws QuantizationException {
        List<LayerInfo> layers =
                List.of(new LayerInfo("a", "Linear", 1024), new LayerInfo("b", "Linear", 1024));
        Set<Precision> ps = EnumSet.of(F, B, S, D);
        Map<Precision, Double> msA = Map.of(F, 8.0, B, 6.0, S, 2.0, D, 7.0);
        Map<Precision, Double> msB = Map.of(F, 8.0, B, 3.0, S, 2.0, D, 3.25);
        Map<Precision, Double> dropB = Map.of(F, 0.0, B, 0.0, S, 1.0, D, 0.1);
        SensitivityTable.Builder sens = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        CostTable.Builder t = CostTable.builder();
        for (Precision p : ps) {
            sens.put("a", p, 0.0).put("b", p, dropB.get(p));
            t.put("a", p, msA.get(p), p.estimatedBytes(1024));
            t.put("b", p, msB.get(p), p.estimatedBytes(1024));
        }
        t.putRoundTrip("b", PrecisionFamily.BFLOAT16, 1.0)
                .putRoundTrip("b", PrecisionFamily.INT8_ACTIVATION, 5.0);
        ResolvedRules rules =
                ResolvedRules.unrestricted(layers, BackendCapabilities.uniform("test", ps));
        Evaluator ev = a -> 10 - dropB.get(a.get("b"));
        SearchResult r = new PolicySearch(rules, sens.build(), t.build()).fallback(ev, 0.3);
        assertEquals(assign("a", S, "b", D), r.chosen().assignment());
        assertEquals(7.75, r.chosen().latencyMs());
        Candidate refine = r.tried().get(r.tried().size() - 1);
        assertEquals(Stage.REFINE, refine.stage());
        assertEquals(assign("a", S, "b", D), refine.assignment());
        for (Candidate c : r.tried()) {
            assertFalse(c.assignment().equals(assign("a", S, "b", B)), c.toString());
        }
    }

    /**
     * Layers a (FP32 4 ms, BF16 2 ms) and b (FP32 only, 4 ms); BF16 round trip into b 1 ms. Whole
     * model: FP32 10 ms, calibration assignment of BF16 (a BF16, b FP32) 9 ms, which has one
     * boundary costing (1 + 0) / 2 = 0.5. So w[a][BF16] = 9 − 10 − 0.5 = −1.5, K[a] = 1.5,
     * remainder 10 − 1.5 = 8.5, and predict(B, F) = 10 − 1.5 + 0.5 = 9.
     */
    @Test
    void calibrationSubtractsTheBoundariesOfItsOwnRunsAndPredictsThemBack() {
        List<LayerInfo> layers =
                List.of(new LayerInfo("a", "Linear", 10), new LayerInfo("b", "Linear", 10));
        Map<String, Set<Precision>> allowed = new LinkedHashMap<>();
        allowed.put("a", EnumSet.of(F, B));
        allowed.put("b", EnumSet.of(F));
        Map<String, String> by = new LinkedHashMap<>();
        by.put("a", "test");
        by.put("b", "test");
        ResolvedRules rules = new ResolvedRules(layers, allowed, by, List.of());
        CostTable isolated =
                CostTable.builder()
                        .put("a", F, 4, 40)
                        .put("a", B, 2, 20)
                        .put("b", F, 4, 40)
                        .putRoundTrip("b", PrecisionFamily.BFLOAT16, 1.0)
                        .build();
        Map<Precision, Double> whole = new LinkedHashMap<>();
        whole.put(F, 10.0);
        whole.put(B, 9.0);
        LatencyCalibration cal = LatencyCalibration.of(rules, isolated, whole);
        assertEquals(-1.5, cal.effectMs("a", B));
        assertEquals(8.5, cal.remainderMs());
        Map<String, Precision> bf = assign("a", B, "b", F);
        assertEquals(9.0, cal.predictMs(bf));
        assertEquals(9.0, cal.remainderMs() + cal.calibrated().latencyMs(bf));
        assertEquals(10.0, cal.predictMs(assign("a", F, "b", F)));
        assertTrue(cal.calibrated().hasTransitions());
    }
}
