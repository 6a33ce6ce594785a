package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.djlquant.QuantizationException;

/** The budgeted search against brute force on small synthetic models with exact proxies. */
class BudgetedSearchPropertyTest {

    @Property(tries = 250)
    void budgetedSearchFindsTheExhaustiveOptimum(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll @IntRange(min = 3, max = 4) int precisions,
            @ForAll long seed,
            @ForAll @IntRange(min = 0, max = 32) int budgetEighths,
            @ForAll boolean sizeObjective,
            @ForAll boolean bounded,
            @ForAll boolean roundTrips)
            throws QuantizationException {
        // with round trips: up to four families and boundaries priced by CostTable.latencyMs
        Synthetic m =
                roundTrips
                        ? new Synthetic(
                                layers,
                                Synthetic.mixedFamilies(precisions, new java.util.Random(seed)),
                                seed,
                                0.5,
                                true)
                        : new Synthetic(layers, Synthetic.precisions(precisions), seed, 0.5);
        Objective objective = sizeObjective ? Objective.SIZE : Objective.LATENCY;
        double maxDrop = budgetEighths / 8.0;
        SearchBudget budget = SearchBudget.ofDrop(maxDrop).withObjective(objective);
        long maxBytes = Long.MAX_VALUE;
        double maxLatency = Double.POSITIVE_INFINITY;
        if (bounded) {
            // halfway between the smallest / fastest and the FP32 model
            maxBytes = m.fp32Bytes() * 3 / 4;
            maxLatency = 8.0 * layers * 3 / 4;
            budget = budget.withMaxBytes(maxBytes).withMaxLatencyMs(maxLatency);
        }
        PolicySearch search = new PolicySearch(m.rules, m.sensitivity, m.costs);
        Map<String, Precision> expected =
                m.exhaustiveOptimum(maxDrop, maxBytes, maxLatency, objective);
        if (expected == null) {
            SearchBudget b = budget;
            InfeasibleBudgetException e =
                    assertThrows(
                            InfeasibleBudgetException.class,
                            () -> search.optimise(m.evaluator(), b));
            double smallest = m.smallestDrop(maxBytes, maxLatency);
            if (Double.isFinite(smallest)) {
                assertEquals(smallest, e.smallestDrop(), 0.0, e.getMessage());
                assertTrue(e.getMessage().contains("infeasible"), e.getMessage());
            } else {
                assertTrue(Double.isNaN(e.smallestDrop()));
            }
        } else {
            SearchResult r = search.optimise(m.evaluator(), budget);
            assertEquals(expected, r.chosen().assignment(), r.tried().toString());
            assertEquals(expected, r.policy().assignment());
            assertEquals(m.latency(expected), r.chosen().latencyMs());
            assertTrue(r.exact());
        }
        assertTrue(m.calls <= search.evaluatorCallLimit(), m.calls + " calls");
        assertTrue(m.calls <= 2 * layers + 4 + precisions);
    }

    @Property(tries = 100)
    void paretoFrontierOfTriedCandidatesIsNonDominatedAndComplete(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll long seed,
            @ForAll @IntRange(min = 0, max = 16) int budgetEighths)
            throws QuantizationException {
        Synthetic m = new Synthetic(layers, Synthetic.precisions(4), seed, 0.25);
        PolicySearch search = new PolicySearch(m.rules, m.sensitivity, m.costs);
        SearchResult r = search.fallback(m.evaluator(), budgetEighths / 8.0);
        for (Candidate f : r.paretoFrontier()) {
            for (Candidate t : r.tried()) {
                assertTrue(!t.dominates(f), t + " dominates frontier point " + f);
            }
        }
        for (Candidate t : r.tried()) {
            boolean covered =
                    r.paretoFrontier().stream()
                            .anyMatch(
                                    f ->
                                            f.dominates(t)
                                                    || (f.metric() == t.metric()
                                                            && f.latencyMs() == t.latencyMs()
                                                            && f.bytes() == t.bytes()));
            assertTrue(covered, t + " is neither on nor dominated by the frontier");
        }
        assertEquals(r.evaluatorCalls(), r.tried().size());
        assertTrue(r.evaluatorCalls() <= 2 * layers + 4 + 4);
        assertTrue(r.chosen().drop() <= budgetEighths / 8.0);
    }

    @Property(tries = 60)
    void fallbackResultIsWithinBudgetAndNoSlowerThanNeeded(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll long seed,
            @ForAll @IntRange(min = 0, max = 16) int budgetEighths)
            throws QuantizationException {
        Synthetic m = new Synthetic(layers, Synthetic.precisions(3), seed, 1.0);
        PolicySearch search = new PolicySearch(m.rules, m.sensitivity, m.costs);
        double maxDrop = budgetEighths / 8.0;
        SearchResult r = search.fallback(m.evaluator(), maxDrop);
        assertTrue(r.chosen().drop() <= maxDrop);
        Map<String, Precision> optimum =
                m.exhaustiveOptimum(
                        maxDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, Objective.LATENCY);
        assertNotNull(optimum);
        // the fallback is a heuristic: never faster than the optimum
        assertTrue(r.chosen().latencyMs() >= m.latency(optimum));
    }

    /**
     * The searches against brute force when the proxy is unrelated to the task metric (the
     * sensitivity table of another random model): whatever the proxy says, the result is never
     * worse by the objective than a uniform assignment within budget, and when the exhaustive
     * optimum is uniform it is the result.
     */
    @Property(tries = 150)
    void neitherSearchLosesToAUniformAssignmentWhateverTheProxy(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll @IntRange(min = 3, max = 4) int precisions,
            @ForAll long seed,
            @ForAll long proxySeed,
            @ForAll @IntRange(min = 0, max = 32) int budgetEighths,
            @ForAll boolean sizeObjective)
            throws QuantizationException {
        Set<Precision> allowed = Synthetic.precisions(precisions);
        Synthetic m = new Synthetic(layers, allowed, seed, 0.5);
        SensitivityTable proxy = new Synthetic(layers, allowed, proxySeed, 0.5).sensitivity;
        PolicySearch search = new PolicySearch(m.rules, proxy, m.costs);
        assertEquals(2 * layers + 4 + precisions, search.evaluatorCallLimit());
        double maxDrop = budgetEighths / 8.0;
        Objective objective = sizeObjective ? Objective.SIZE : Objective.LATENCY;

        m.calls = 0;
        SearchResult opt =
                search.optimise(
                        m.evaluator(), SearchBudget.ofDrop(maxDrop).withObjective(objective));
        assertTrue(m.calls <= 2 * layers + 4 + precisions, m.calls + " calls");
        checkAgainstUniform(m, allowed, opt, maxDrop, objective);

        m.calls = 0;
        SearchResult fb = search.fallback(m.evaluator(), maxDrop);
        assertTrue(m.calls <= 2 * layers + 4 + precisions, m.calls + " calls");
        checkAgainstUniform(m, allowed, fb, maxDrop, Objective.LATENCY);
    }

    private static void checkAgainstUniform(
            Synthetic m, Set<Precision> allowed, SearchResult r, double maxDrop, Objective o) {
        Map<String, Precision> chosen = r.chosen().assignment();
        assertTrue(m.trueDrop(chosen) <= maxDrop);
        assertEquals(m.trueDrop(chosen), r.chosen().drop(), 0.0);
        List<Map<String, Precision>> evaluated =
                r.tried().stream().map(Candidate::assignment).toList();
        for (Precision p : allowed) {
            Map<String, Precision> u = new LinkedHashMap<>();
            m.layers.forEach(l -> u.put(l.path(), p));
            assertTrue(evaluated.contains(u), "uniform " + p + " not evaluated\n" + r.toTable());
            if (m.trueDrop(u) <= maxDrop) {
                assertTrue(
                        m.compare(chosen, u, o) <= 0,
                        "uniform " + p + " beats the result\n" + r.toTable());
            }
        }
        Map<String, Precision> optimum =
                m.exhaustiveOptimum(maxDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, o);
        if (new HashSet<>(optimum.values()).size() == 1) {
            assertEquals(optimum, chosen, r.toTable());
        }
    }

    @Property(tries = 40)
    void theSameInputsGiveTheSameTraceAndPolicyWithSeeds(
            @ForAll @IntRange(min = 1, max = 6) int layers,
            @ForAll long seed,
            @ForAll long proxySeed,
            @ForAll @IntRange(min = 0, max = 16) int budgetEighths)
            throws QuantizationException {
        List<List<Candidate>> traces = new ArrayList<>();
        List<MixedPrecisionPolicy> policies = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            Set<Precision> allowed = Synthetic.precisions(4);
            Synthetic m = new Synthetic(layers, allowed, seed, 0.25);
            SensitivityTable proxy = new Synthetic(layers, allowed, proxySeed, 0.25).sensitivity;
            PolicySearch search = new PolicySearch(m.rules, proxy, m.costs);
            SearchResult fb = search.fallback(m.evaluator(), budgetEighths / 8.0);
            SearchResult opt =
                    search.optimise(m.evaluator(), SearchBudget.ofDrop(budgetEighths / 8.0));
            traces.add(fb.tried());
            traces.add(opt.tried());
            policies.add(fb.policy());
            policies.add(opt.policy());
        }
        assertEquals(traces.get(0), traces.get(2));
        assertEquals(traces.get(1), traces.get(3));
        assertEquals(policies.get(0), policies.get(2));
        assertEquals(policies.get(1), policies.get(3));
    }
}
