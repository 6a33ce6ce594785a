package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;

/**
 * The exact solver with boundary costs between precision families, against brute force over every
 * assignment priced by {@link CostTable#latencyMs} (an independent sum: all layers, then all
 * boundaries), and a hand-derived case. The budgeted search's property with round trips is in
 * {@link BudgetedSearchPropertyTest}.
 */
class ChoiceSolverTransitionTest {

    private static final Precision F = Precision.FP32;
    private static final Precision B = Precision.BF16;
    private static final Precision S = Precision.INT8_STATIC;

    /** The documented total order's first feasible assignment, by brute force; null if none. */
    private static Precision[] exhaustive(
            Synthetic m,
            boolean latencyObjective,
            boolean minimiseDamage,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency) {
        Map<String, Precision> best = null;
        double[] bestKey = null;
        for (Map<String, Precision> a : m.all()) {
            double damage = m.trueDrop(a) / m.scale;
            double lat = m.costs.latencyMs(a);
            long bytes = m.bytes(a);
            if (alpha * damage > maxDrop || bytes > maxBytes || lat > maxLatency) {
                continue;
            }
            double obj = latencyObjective ? lat : bytes;
            double other = latencyObjective ? bytes : lat;
            double[] key =
                    minimiseDamage
                            ? new double[] {damage, obj, other}
                            : new double[] {obj, damage, other};
            if (best == null || before(m, key, a, bestKey, best)) {
                best = a;
                bestKey = key;
            }
        }
        return best == null ? null : best.values().toArray(new Precision[0]);
    }

    private static boolean before(
            Synthetic m,
            double[] ka,
            Map<String, Precision> a,
            double[] kb,
            Map<String, Precision> b) {
        for (int k = 0; k < ka.length; k++) {
            int c = Double.compare(ka[k], kb[k]);
            if (c != 0) {
                return c < 0;
            }
        }
        for (LayerInfo l : m.layers) {
            int c = Integer.compare(a.get(l.path()).fidelityRank(), b.get(l.path()).fidelityRank());
            if (c != 0) {
                return c > 0;
            }
        }
        return false;
    }

    /**
     * Random small models (1 to 6 layers, 3 or 4 precisions of up to four families, dyadic costs
     * and round trips so that sums are exact and ties frequent), every objective form the search
     * uses, a drop bound through {@code alpha} and size / latency bounds from loose to infeasible.
     */
    @Property(tries = 400)
    void solverEqualsExhaustiveSearchWithBoundaryCosts(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll @IntRange(min = 3, max = 4) int precisions,
            @ForAll long seed,
            @ForAll boolean latencyObjective,
            @ForAll boolean minimiseDamage,
            @ForAll @IntRange(min = 0, max = 3) int alphaCase,
            @ForAll @IntRange(min = 0, max = 4) int boundCase) {
        Random r = new Random(seed);
        Synthetic m =
                new Synthetic(layers, Synthetic.mixedFamilies(precisions, r), seed, 1.0, true);
        double alpha = alphaCase == 0 ? 0.0 : alphaCase / 2.0;
        double maxDrop = alphaCase == 0 ? 0.0 : r.nextInt(4 * layers + 1) / 2.0;
        long maxBytes = Long.MAX_VALUE;
        double maxLatency = Double.POSITIVE_INFINITY;
        // 0 none; 1 latency; 2 size; 3 both; 4 both tight (often infeasible)
        double latencyFraction = boundCase == 4 ? 0.25 : 0.5 + r.nextInt(4) / 8.0;
        if (boundCase == 1 || boundCase >= 3) {
            maxLatency = 8.0 * layers * latencyFraction + r.nextInt(8) / 4.0;
        }
        if (boundCase >= 2) {
            long fp32 = m.fp32Bytes();
            maxBytes = boundCase == 4 ? fp32 / 8 : fp32 * (2 + r.nextInt(3)) / 4;
        }
        Precision[] expected =
                exhaustive(
                        m, latencyObjective, minimiseDamage, alpha, maxDrop, maxBytes, maxLatency);
        ChoiceSolver.Solution got =
                new PolicySearch(m.rules, m.sensitivity, m.costs)
                        .solve(
                                latencyObjective,
                                minimiseDamage,
                                alpha,
                                maxDrop,
                                maxBytes,
                                maxLatency);
        if (expected == null) {
            assertNull(got, () -> m.costs.toString());
        } else {
            assertNotNull(got, () -> m.costs.toString());
            assertArrayEquals(expected, got.choice(), () -> m.costs.toString());
            assertTrue(got.exact());
        }
    }

    /**
     * The fallback with round trips: within budget, never faster than the exhaustive optimum, and
     * the fastest assignment by {@link CostTable#latencyMs} (ties: bytes, drop, fidelity) is its
     * start; when that is within budget the result has the exhaustive optimum's latency.
     */
    @Property(tries = 150)
    void fallbackStartsAtTheFastestAssignmentBoundariesIncluded(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll @IntRange(min = 3, max = 4) int precisions,
            @ForAll long seed,
            @ForAll @IntRange(min = 0, max = 32) int budgetEighths)
            throws QuantizationException {
        Random r = new Random(seed);
        Synthetic m =
                new Synthetic(layers, Synthetic.mixedFamilies(precisions, r), seed, 0.5, true);
        double maxDrop = budgetEighths / 8.0;
        PolicySearch search = new PolicySearch(m.rules, m.sensitivity, m.costs);
        SearchResult res = search.fallback(m.evaluator(), maxDrop);
        assertTrue(res.chosen().drop() <= maxDrop);
        assertEquals(m.latency(res.chosen().assignment()), res.chosen().latencyMs());
        Map<String, Precision> optimum =
                m.exhaustiveOptimum(
                        maxDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, Objective.LATENCY);
        assertNotNull(optimum);
        assertTrue(res.chosen().latencyMs() >= m.latency(optimum));
        Map<String, Precision> fastest = null;
        for (Map<String, Precision> a : m.all()) {
            if (fastest == null || fastestFirst(m, a, fastest)) {
                fastest = a;
            }
        }
        assertEquals(fastest, res.tried().get(1).assignment());
        if (m.trueDrop(fastest) <= maxDrop) {
            // optimal latency; among evaluated candidates of that latency the least drop
            assertEquals(m.latency(optimum), res.chosen().latencyMs());
            assertEquals(m.latency(fastest), res.chosen().latencyMs());
            assertTrue(res.chosen().drop() <= m.trueDrop(fastest));
        }
        assertTrue(m.calls <= search.evaluatorCallLimit(), m.calls + " calls");
    }

    private static boolean fastestFirst(
            Synthetic m, Map<String, Precision> a, Map<String, Precision> b) {
        return before(
                m,
                new double[] {m.latency(a), m.bytes(a), m.trueDrop(a)},
                a,
                new double[] {m.latency(b), m.bytes(b), m.trueDrop(b)},
                b);
    }

    /**
     * 72 layers x 7 precisions with continuous costs and round trips for the three non-float32
     * families, drop exactly proportional to damage: the budgeted search stays exact (no thinning)
     * with Pareto sets kept per last family, and its answer is no slower than the fallback's or any
     * uniform assignment within budget, all priced by {@link CostTable#latencyMs}.
     */
    @Test
    void seventyTwoLayersWithBoundaryCostsAreSolvedExactly() throws QuantizationException {
        Synthetic.Large large = Synthetic.Large.of(7272, true);
        CostTable costs = large.costs();
        PolicySearch s = large.search();
        Evaluator ev = large.linear();
        SearchResult opt = s.optimise(ev, SearchBudget.ofDrop(0.02));
        assertTrue(opt.exact());
        assertTrue(opt.chosen().drop() <= 0.02);
        assertEquals(costs.latencyMs(opt.chosen().assignment()), opt.chosen().latencyMs(), 1e-9);
        SearchResult fb = s.fallback(ev, 0.02);
        assertTrue(opt.chosen().latencyMs() <= fb.chosen().latencyMs() + 1e-9);
        for (Candidate c : opt.tried()) {
            if (c.drop() <= 0.02) {
                assertTrue(opt.chosen().latencyMs() <= c.latencyMs() + 1e-9, c.toString());
            }
        }
    }

    /**
     * Four layers a, b, c, d, BF16 or static INT8 each. Per layer: a B 2 / S 3, b B 3 / S 2, c B 2
     * / S 3, d B 3 / S 2 ms, so per-layer costs pick B S B S = 8 ms. Round trips into b, c, d: BF16
     * 1, INT8 3, so every BF16 / INT8 boundary costs (1 + 3) / 2 = 2: B S B S = 8 + 3 * 2 = 14. One
     * boundary: the cheapest such mixes are B B B S and B S S S at 9 + 2 = 11. No boundary: B B B B
     * = S S S S = 10, the optimum; the tie goes to higher fidelity (BF16).
     */
    private static List<List<ChoiceSolver.Option>> alternating() {
        double[][] ms = {{2, 3}, {3, 2}, {2, 3}, {3, 2}};
        List<List<ChoiceSolver.Option>> out = new ArrayList<>();
        for (double[] row : ms) {
            out.add(
                    List.of(
                            new ChoiceSolver.Option(B, row[0], 0, 0, 0, 10, row[0]),
                            new ChoiceSolver.Option(S, row[1], 0, 0, 0, 10, row[1])));
        }
        return out;
    }

    private static double boundary(int layer, PrecisionFamily from, PrecisionFamily to) {
        return from == to ? 0.0 : 2.0;
    }

    @Test
    void boundariesTurnTheAlternatingMixIntoAUniformAssignment() {
        Set<ChoiceSolver.Sum> primary = EnumSet.of(ChoiceSolver.Sum.PRIMARY);
        double inf = Double.POSITIVE_INFINITY;
        ChoiceSolver.Solution additive =
                new ChoiceSolver(alternating(), 0, 0, Long.MAX_VALUE, inf).solve();
        assertArrayEquals(new Precision[] {B, S, B, S}, additive.choice());
        ChoiceSolver.Solution aware =
                new ChoiceSolver(
                                alternating(),
                                0,
                                0,
                                Long.MAX_VALUE,
                                inf,
                                ChoiceSolverTransitionTest::boundary,
                                primary)
                        .solve();
        assertArrayEquals(new Precision[] {B, B, B, B}, aware.choice());
        assertTrue(aware.exact());
        // a latency bound of 10 admits only the two uniform assignments; 9.75 nothing
        ChoiceSolver.Solution bounded =
                new ChoiceSolver(
                                alternating(),
                                0,
                                0,
                                Long.MAX_VALUE,
                                10.0,
                                ChoiceSolverTransitionTest::boundary,
                                primary)
                        .solve();
        assertArrayEquals(new Precision[] {B, B, B, B}, bounded.choice());
        assertNull(
                new ChoiceSolver(
                                alternating(),
                                0,
                                0,
                                Long.MAX_VALUE,
                                9.75,
                                ChoiceSolverTransitionTest::boundary,
                                primary)
                        .solve());
    }

    /**
     * The same four layers through the search, FP32 (8 ms) allowed too, every assignment drop-free:
     * the first proposal (fastest within bounds) is a uniform assignment at 10 ms, not the
     * alternating mix at 14 ms. Round trips: BF16 1, INT8 3, so FP32 / BF16 boundaries cost 0.5 and
     * FP32 / INT8 ones 1.5, and FP32 at 8 ms never helps. Uniform BF16 and uniform static INT8 tie
     * at 10 ms and on drop; the next key, bytes (4 * 64 against 4 * 128), picks INT8.
     */
    @Test
    void theSearchProposesTheUniformAssignmentFirst() throws QuantizationException {
        double[][] ms = {{2, 3}, {3, 2}, {2, 3}, {3, 2}};
        List<LayerInfo> layers = new ArrayList<>();
        CostTable.Builder t = CostTable.builder();
        SensitivityTable.Builder sens = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        String[] names = {"a", "b", "c", "d"};
        for (int i = 0; i < 4; i++) {
            String path = names[i];
            layers.add(new LayerInfo(path, "Linear", 64));
            t.put(path, F, 8, 256).put(path, B, ms[i][0], 128).put(path, S, ms[i][1], 64);
            for (Precision p : List.of(F, B, S)) {
                sens.put(path, p, 0.0);
            }
            if (i > 0) {
                t.putRoundTrip(path, PrecisionFamily.BFLOAT16, 1.0)
                        .putRoundTrip(path, PrecisionFamily.INT8_ACTIVATION, 3.0);
            }
        }
        ResolvedRules rules =
                ResolvedRules.unrestricted(
                        layers, BackendCapabilities.uniform("test", EnumSet.of(F, B, S)));
        SearchResult r =
                new PolicySearch(rules, sens.build(), t.build())
                        .optimise(a -> 1.0, SearchBudget.ofDrop(0.0));
        Candidate first = r.tried().get(1);
        assertEquals(Stage.START, first.stage());
        Map<String, Precision> allS = new LinkedHashMap<>();
        for (String name : names) {
            allS.put(name, S);
        }
        assertEquals(allS, first.assignment());
        assertEquals(10.0, first.latencyMs());
        assertEquals(allS, r.chosen().assignment());
        assertTrue(r.exact());
    }
}
