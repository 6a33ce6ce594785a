package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;

/**
 * Measured verification against a synthetic oracle: the true whole-model latency of an assignment
 * is its predicted latency (the cost-table sum) plus a hidden penalty per boundary between adjacent
 * layers of different precision families, which the cost table does not know. The expected choices
 * come from exhaustive search over the oracle in this test.
 */
class VerificationTest {

    private static final double BASE = 10.0;
    private static final double PENALTY = 6.0;

    /** Families of the oracle: FP32 and dynamic INT8 take float32, BF16, FP16, static INT8. */
    private static int family(Precision p) {
        return switch (p) {
            case FP32, INT8_DYNAMIC, INT8_WEIGHT_ONLY, INT4_WEIGHT_ONLY -> 0;
            case BF16 -> 1;
            case FP16 -> 2;
            case INT8_STATIC -> 3;
        };
    }

    private static double trueMs(CostTable costs, Map<String, Precision> a) {
        double s = 0;
        Precision prev = null;
        for (Map.Entry<String, Precision> e : a.entrySet()) {
            s += costs.cost(e.getKey(), e.getValue()).latencyMs();
            if (prev != null && family(prev) != family(e.getValue())) {
                s += PENALTY;
            }
            prev = e.getValue();
        }
        return s;
    }

    /**
     * Four layers a, b, c, d. FP32: 8 ms, drop 0. BF16: 4.5 ms, drop 0. Static INT8: 2 ms, drop 0.1
     * on a and b, 1.0 on c and d. Budget 0.3.
     */
    private static final class Hand {
        final List<LayerInfo> layers = new ArrayList<>();
        final SensitivityTable.Builder sens = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        final CostTable.Builder costsB = CostTable.builder();
        final Map<String, Map<Precision, Double>> drops = new LinkedHashMap<>();
        final Set<Precision> ps = EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_STATIC);
        CostTable costs;
        ResolvedRules rules;

        Hand() {
            for (String path : List.of("a", "b", "c", "d")) {
                layers.add(new LayerInfo(path, "Linear", 1024));
                put(path, Precision.FP32, 0, 8);
                put(path, Precision.BF16, 0, 4.5);
                put(
                        path,
                        Precision.INT8_STATIC,
                        path.equals("a") || path.equals("b") ? 0.1 : 1.0,
                        2);
            }
            costs = costsB.build();
            rules = ResolvedRules.unrestricted(layers, BackendCapabilities.uniform("test", ps));
        }

        void put(String path, Precision p, double drop, double ms) {
            sens.put(path, p, drop);
            costsB.put(path, p, ms, p.estimatedBytes(1024));
            drops.computeIfAbsent(path, k -> new LinkedHashMap<>()).put(p, drop);
        }

        double drop(Map<String, Precision> a) {
            double d = 0;
            for (Map.Entry<String, Precision> e : a.entrySet()) {
                d += drops.get(e.getKey()).get(e.getValue());
            }
            return d;
        }

        Evaluator evaluator() {
            return a -> BASE - drop(a);
        }

        PolicySearch search() {
            return new PolicySearch(rules, sens.build(), costs);
        }

        /** The truly fastest assignment within budget, by brute force over all 3^4. */
        Map<String, Precision> exhaustive(double budget) {
            Map<String, Precision> best = null;
            for (Precision pa : ps) {
                for (Precision pb : ps) {
                    for (Precision pc : ps) {
                        for (Precision pd : ps) {
                            Map<String, Precision> m = assign(pa, pb, pc, pd);
                            if (drop(m) <= budget + 1e-12
                                    && (best == null || trueMs(costs, m) < trueMs(costs, best))) {
                                best = m;
                            }
                        }
                    }
                }
            }
            return best;
        }
    }

    private static Map<String, Precision> assign(Precision... p) {
        Map<String, Precision> m = new LinkedHashMap<>();
        String[] names = {"a", "b", "c", "d"};
        for (int i = 0; i < p.length; i++) {
            m.put(names[i], p[i]);
        }
        return m;
    }

    private static final Precision F = Precision.FP32;
    private static final Precision B = Precision.BF16;
    private static final Precision S = Precision.INT8_STATIC;

    @Test
    void verificationReplacesAPredictedMixWithTheTrulyFastestUniformAssignment()
            throws QuantizationException {
        Hand h = new Hand();
        // Exhaustive: uniform BF16 18 ms and no boundary. S,S,B,B: 13 + 6 = 19; S,S,F,B: 16.5 +
        // 12 = 28.5; S,S,F,F: 20 + 6 = 26; FP32: 32.
        Map<String, Precision> truth = h.exhaustive(0.3);
        assertEquals(assign(B, B, B, B), truth);
        assertEquals(18.0, trueMs(h.costs, truth));

        // Without verification the fallback (trace: start all S, drop 2.2; raise c, d to FP32 ->
        // S,S,F,F drop 0.2; refine d FP32 -> BF16 kept; refine c -> S over budget) picks S,S,F,B,
        // predicted 16.5 ms < uniform BF16's 18 ms.
        SearchResult plain = h.search().fallback(h.evaluator(), 0.3);
        assertEquals(assign(S, S, F, B), plain.chosen().assignment());
        assertEquals(16.5, plain.chosen().latencyMs());
        assertTrue(plain.verified().isEmpty());

        List<Map<String, Precision>> built = new ArrayList<>();
        LatencyProbe oracle =
                a -> {
                    built.add(a);
                    return () -> trueMs(h.costs, a);
                };
        PolicySearch verifying =
                h.search()
                        .withVerification(
                                Verification.builder()
                                        .setProbe(oracle)
                                        .optPredictionOffsetMs(1.5)
                                        .build());
        SearchResult r = verifying.fallback(h.evaluator(), 0.3);
        assertEquals(truth, r.chosen().assignment());
        assertEquals(truth, r.policy().assignment());
        // verified: top 3 by prediction (S,S,F,B 16.5; uniform BF16 18; S,S,F,F 20) and the other
        // uniform seed within budget (FP32 32), in predicted order
        assertEquals(
                List.of(
                        assign(S, S, F, B),
                        assign(B, B, B, B),
                        assign(S, S, F, F),
                        assign(F, F, F, F)),
                built);
        assertEquals(4, r.verified().size());
        assertTrue(r.verified().size() <= verifying.verificationCandidateLimit());
        assertEquals(3 + 3, verifying.verificationCandidateLimit());
        double[] predicted = {18.0, 19.5, 21.5, 33.5};
        double[] measured = {28.5, 18.0, 26.0, 32.0};
        for (int i = 0; i < 4; i++) {
            VerifiedLatency v = r.verified().get(i);
            assertEquals(predicted[i], v.predictedMs(), 1e-12, v.toString());
            assertEquals(measured[i], v.measuredMs(), 1e-12, v.toString());
            assertEquals(i == 1, v.chosen(), v.toString());
            assertEquals(r.tried().get(v.order()).note(), v.note());
        }
        assertEquals(r.chosen().order(), r.verified().get(1).order());
        assertEquals("uniform BF16", r.chosen().note());
        assertTrue(r.toTable().contains("measured verification: 4 candidate(s)"), r.toTable());
        // the policy file records it and reads back the same
        MixedPrecisionPolicy back = MixedPrecisionPolicy.fromJson(r.policy().toJson());
        assertEquals(r.policy(), back);
        assertEquals(r.verified(), back.verifiedLatency());
        // and how the candidates were timed: rotated order, the default 30 ms settle pause
        assertEquals(
                Verification.builder().setProbe(oracle).build().methodology(),
                back.verificationMethod());
        assertTrue(back.verificationMethod().contains("settle pause 30 ms"), r.policy().toJson());
        assertTrue(back.verificationMethod().contains("rotated per round"), r.policy().toJson());
        assertTrue(r.toTable().contains("timing: " + back.verificationMethod()), r.toTable());
    }

    @Test
    void budgetedSearchVerifiesToo() throws QuantizationException {
        Hand h = new Hand();
        LatencyProbe oracle = a -> () -> trueMs(h.costs, a);
        SearchResult r =
                h.search()
                        .withVerification(
                                Verification.builder()
                                        .setProbe(oracle)
                                        .optSettle(Duration.ZERO)
                                        .build())
                        .optimise(h.evaluator(), SearchBudget.ofDrop(0.3));
        assertEquals(h.exhaustive(0.3), r.chosen().assignment(), r.toTable());
        // size objective: bytes decide (exact, not predicted); measured latency only breaks ties
        SearchResult small =
                h.search()
                        .withVerification(
                                Verification.builder()
                                        .setProbe(oracle)
                                        .optSettle(Duration.ZERO)
                                        .build())
                        .optimise(
                                h.evaluator(),
                                SearchBudget.ofDrop(0.3).withObjective(Objective.SIZE));
        SearchResult smallPlain =
                h.search()
                        .optimise(
                                h.evaluator(),
                                SearchBudget.ofDrop(0.3).withObjective(Objective.SIZE));
        assertEquals(smallPlain.chosen().bytes(), small.chosen().bytes());
        for (VerifiedLatency v : small.verified()) {
            Candidate c = small.tried().get(v.order());
            assertTrue(c.bytes() >= small.chosen().bytes());
            if (c.bytes() == small.chosen().bytes()) {
                assertTrue(v.measuredMs() >= trueMs(h.costs, small.chosen().assignment()));
            }
        }
    }

    @Test
    void randomModelsChooseTheTrulyFastestVerifiedCandidateAndNeverLoseToAUniformOne()
            throws QuantizationException {
        Set<Precision> ps = EnumSet.of(Precision.FP32, Precision.INT8_DYNAMIC, Precision.FP16);
        int cases = 0;
        for (long seed = 1; seed <= 30; seed++) {
            Synthetic syn = new Synthetic(5, ps, seed, 1.0);
            for (double budget : new double[] {0.5, 2.0, 6.0}) {
                LatencyProbe oracle = a -> () -> trueMs(syn.costs, a);
                PolicySearch s =
                        new PolicySearch(syn.rules, syn.sensitivity, syn.costs)
                                .withVerification(
                                        Verification.builder()
                                                .setProbe(oracle)
                                                .optTopK(1000)
                                                .optRounds(1)
                                                .optWarmupRounds(0)
                                                .optSettle(Duration.ZERO)
                                                .build());
                SearchResult r = s.fallback(syn.evaluator(), budget);
                // exhaustive over everything the search evaluated within budget
                double best = Double.POSITIVE_INFINITY;
                for (Candidate c : r.tried()) {
                    if (c.drop() <= budget) {
                        best = Math.min(best, trueMs(syn.costs, c.assignment()));
                    }
                }
                assertEquals(best, trueMs(syn.costs, r.chosen().assignment()), "seed " + seed);
                // and over the uniform assignments within budget
                for (Precision p : ps) {
                    Map<String, Precision> u = new LinkedHashMap<>();
                    syn.layers.forEach(l -> u.put(l.path(), p));
                    if (syn.trueDrop(u) <= budget) {
                        assertTrue(
                                trueMs(syn.costs, r.chosen().assignment()) <= trueMs(syn.costs, u),
                                "seed " + seed + " budget " + budget + " uniform " + p);
                    }
                }
                assertTrue(r.chosen().drop() <= budget);
                cases++;
            }
        }
        assertEquals(90, cases);
    }

    @Test
    void equalMeasuredLatenciesKeepTheBestPredictedCandidate() throws QuantizationException {
        Hand h = new Hand();
        SearchResult plain = h.search().fallback(h.evaluator(), 0.3);
        for (int k = 0; k < 2; k++) {
            SearchResult r =
                    h.search()
                            .withVerification(
                                    Verification.builder()
                                            .setProbe(a -> () -> 7.0)
                                            .optSettle(Duration.ZERO)
                                            .build())
                            .fallback(h.evaluator(), 0.3);
            assertEquals(plain.chosen(), r.chosen());
            assertTrue(r.verified().get(0).chosen());
        }
    }

    @Test
    void roundsAreInterleavedInARotatedOrderAndTheMedianExcludesWarmups()
            throws QuantizationException {
        Hand h = new Hand();
        List<String> log = new ArrayList<>();
        List<String> built = new ArrayList<>();
        int[] closed = new int[1];
        // every subject returns 100 in its 2 warm-ups, then 5, 1, 3, 9, 4 (median 4)
        LatencyProbe probe =
                a -> {
                    String name = a.values().toString();
                    built.add(name);
                    double[] seq = {100, 100, 5, 1, 3, 9, 4};
                    int[] i = {0};
                    return new LatencyProbe.Subject() {
                        @Override
                        public double forwardMs() {
                            log.add(name);
                            return seq[i[0]++] + (name.contains("FP32, FP32, FP32") ? 0.5 : 0);
                        }

                        @Override
                        public void close() {
                            closed[0]++;
                        }
                    };
                };
        Verification v =
                Verification.builder().setProbe(probe).optWarmupRounds(2).optRounds(5).build();
        assertEquals(Verification.DEFAULT_SETTLE, v.settle());
        assertEquals(Duration.ofMillis(30), v.settle());
        assertTrue(v.methodology().contains("settle pause 30 ms"), v.methodology());
        assertTrue(v.methodology().contains("2 warm-up + 5 timed rounds"), v.methodology());
        SearchResult r = h.search().withVerification(v).fallback(h.evaluator(), 0.3);
        assertEquals(4 * 7, log.size());
        // warm-ups in candidate (build) order; timed round r starts at candidate r mod 4 and steps
        // by 1 (even r) or 3 (odd r), the strides coprime to 4:
        int[][] order = {
            {0, 1, 2, 3},
            {0, 1, 2, 3},
            {0, 1, 2, 3},
            {1, 0, 3, 2},
            {2, 3, 0, 1},
            {3, 2, 1, 0},
            {0, 1, 2, 3}
        };
        for (int round = 0; round < 7; round++) {
            for (int p = 0; p < 4; p++) {
                assertEquals(
                        built.get(order[round][p]),
                        log.get(round * 4 + p),
                        "round " + round + " position " + p);
            }
        }
        assertEquals(4, closed[0]);
        assertEquals(4.0, r.verified().get(0).measuredMs());
        assertEquals(4.5, r.verified().get(3).measuredMs());
        // three candidates tie at 4.0: the best predicted wins
        assertEquals(assign(S, S, F, B), r.chosen().assignment());
    }

    @Test
    void aProbeThatFailsIsReportedWithTheCandidateAndEverySubjectIsClosed() {
        Hand h = new Hand();
        for (String mode : List.of("build", "throw", "nan", "zero", "negative", "sub-nanosecond")) {
            int[] closed = new int[1];
            LatencyProbe probe =
                    a -> {
                        boolean bad = a.equals(assign(B, B, B, B));
                        if (bad && mode.equals("build")) {
                            throw new QuantizationException("cannot build");
                        }
                        return new LatencyProbe.Subject() {
                            @Override
                            public double forwardMs() throws QuantizationException {
                                if (!bad) {
                                    return 3.0;
                                }
                                switch (mode) {
                                    case "throw":
                                        throw new IllegalStateException("native crash");
                                    case "nan":
                                        return Double.NaN;
                                    case "sub-nanosecond":
                                        return 1e-7;
                                    case "zero":
                                        return 0.0;
                                    default:
                                        return -1.0;
                                }
                            }

                            @Override
                            public void close() {
                                closed[0]++;
                            }
                        };
                    };
            PolicySearch s =
                    h.search().withVerification(Verification.builder().setProbe(probe).build());
            VerificationException e =
                    assertThrows(VerificationException.class, () -> s.fallback(h.evaluator(), 0.3));
            assertEquals(assign(B, B, B, B), e.candidate().assignment(), mode);
            assertTrue(e.getMessage().contains("(uniform BF16)"), e.getMessage());
            // S,S,F,B was built before the failing candidate; the build failure closes it, the
            // others close all built
            assertEquals(mode.equals("build") ? 1 : 4, closed[0], mode);
            if (mode.equals("sub-nanosecond")) {
                assertTrue(e.getMessage().contains("at least 1 ns"), e.getMessage());
            }
            if (mode.equals("nan")) {
                assertTrue(e.getMessage().contains("NaN ms"), e.getMessage());
            }
        }
    }

    @Test
    void invalidSettingsAreRefusedNamingTheValue() {
        assertRefused(b -> b.optTopK(0), "topK was 0");
        assertRefused(b -> b.setProbe(null), "probe");
        assertRefused(b -> b.optRounds(0), "rounds was 0");
        assertRefused(b -> b.optSettle(Duration.ofMillis(-1)), "settle was -1 ms");
        assertRefused(b -> b.optSettle(null), "settle was null");
        assertRefused(
                b -> b.optSettle(Duration.ofSeconds(11)),
                "settle was 11000 ms, must be in [0 ms, 10000 ms]");
        assertNotEquals(0, Verification.DEFAULT_TOP_K);
    }

    /** Asserts that a builder with a valid probe and {@code setting} applied refuses to build. */
    private static void assertRefused(UnaryOperator<Verification.Builder> setting, String message) {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> setting.apply(Verification.builder().setProbe(a -> () -> 1)).build());
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
