package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;

/** Hand-derived cases: every expected assignment below is worked out in the comments. */
class PolicySearchTest {

    private static final double BASE = 10.0;

    /** A model whose drop is exactly the sum of the per-layer drops given. */
    private static final class Model {
        final List<LayerInfo> layers = new ArrayList<>();
        final SensitivityTable.Builder sens = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        final CostTable.Builder costs = CostTable.builder();
        final Map<String, Map<Precision, Double>> drops = new LinkedHashMap<>();
        PolicyRules rules = PolicyRules.empty();
        Set<Precision> backend = EnumSet.noneOf(Precision.class);
        final List<Map<String, Precision>> calls = new ArrayList<>();

        Model layer(String path, Object... triples) {
            layers.add(new LayerInfo(path, "Linear", 1024));
            for (int k = 0; k < triples.length; k += 3) {
                Precision p = (Precision) triples[k];
                double drop = ((Number) triples[k + 1]).doubleValue();
                double latency = ((Number) triples[k + 2]).doubleValue();
                sens.put(path, p, drop);
                costs.put(path, p, latency, p.estimatedBytes(1024));
                drops.computeIfAbsent(path, x -> new LinkedHashMap<>()).put(p, drop);
                backend.add(p);
            }
            return this;
        }

        PolicySearch search() {
            ResolvedRules r = rules.resolve(layers, BackendCapabilities.uniform("test", backend));
            return new PolicySearch(r, sens.build(), costs.build());
        }

        Evaluator additive() {
            return a -> {
                calls.add(a);
                double d = 0;
                for (Map.Entry<String, Precision> e : a.entrySet()) {
                    d += drops.get(e.getKey()).get(e.getValue());
                }
                return BASE - d;
            };
        }
    }

    private static Model threeLayers() {
        // FP32: drop 0, 4 ms; INT8: drops a 0.5, b 2.0, c 1.0, 1 ms
        return new Model()
                .layer("a", Precision.FP32, 0, 4, Precision.INT8_DYNAMIC, 0.5, 1)
                .layer("b", Precision.FP32, 0, 4, Precision.INT8_DYNAMIC, 2.0, 1)
                .layer("c", Precision.FP32, 0, 4, Precision.INT8_DYNAMIC, 1.0, 1);
    }

    private static Map<String, Precision> assign(Object... pairs) {
        Map<String, Precision> m = new LinkedHashMap<>();
        for (int k = 0; k < pairs.length; k += 2) {
            m.put((String) pairs[k], (Precision) pairs[k + 1]);
        }
        return m;
    }

    @Test
    void fallbackRaisesTheMostSensitiveLayerFirstAndStopsWithinBudget()
            throws QuantizationException {
        // all INT8 drops 3.5 > 1.5; raising b (the most sensitive, 2.0) leaves 1.5 <= 1.5
        Model m = threeLayers();
        SearchResult r = m.search().fallback(m.additive(), 1.5);
        assertEquals(
                assign(
                        "a",
                        Precision.INT8_DYNAMIC,
                        "b",
                        Precision.FP32,
                        "c",
                        Precision.INT8_DYNAMIC),
                r.chosen().assignment());
        assertEquals(1.5, r.chosen().drop());
        assertEquals(3, r.evaluatorCalls()); // FP32, all INT8, b raised
        assertEquals(Strategy.FALLBACK, r.policy().strategy());
        assertEquals(BASE, r.baselineMetric());
        assertEquals(BASE - 1.5, r.policy().measuredMetric().getAsDouble());
    }

    @Test
    void fallbackRefinesRaisedLayersBackDownWhenTheBudgetAllows() throws QuantizationException {
        // budget 1.0: raise b (1.5, too much), raise c (0.5, ok); refine: c was the last raised,
        // nothing between INT8 and FP32; b back to INT8 gives 2.5 > 1.0, rejected
        Model m = threeLayers();
        SearchResult r = m.search().fallback(m.additive(), 1.0);
        assertEquals(
                assign("a", Precision.INT8_DYNAMIC, "b", Precision.FP32, "c", Precision.FP32),
                r.chosen().assignment());
        assertEquals(5, r.evaluatorCalls());
        assertEquals(Stage.REFINE, r.tried().get(4).stage());
        List<String> table = r.toTable().lines().toList();
        assertEquals(7, table.size(), r.toTable());
        assertTrue(table.get(4).contains("*<") && table.get(4).contains("raise c"), table.get(4));
        // bound 2 * 3 layers + 4 + 2 precisions; both uniform seeds were already evaluated
        assertTrue(table.get(6).contains("evaluator calls 5 of at most 12"), table.get(6));
    }

    @Test
    void fallbackOrdersByAllButThisLayerWhenMeasured() throws QuantizationException {
        // leave-one-out says a matters most (0.1 left when a is restored), then b, then c.
        // budget 1.5: raise a -> 3.0, raise b -> 1.0 ok; refine a back to INT8 -> 1.5 ok
        Model m = threeLayers();
        m.sens.putAllButThis("a", 0.1).putAllButThis("b", 0.2).putAllButThis("c", 0.3);
        SearchResult r = m.search().fallback(m.additive(), 1.5);
        assertEquals(
                assign(
                        "a",
                        Precision.FP32,
                        "b",
                        Precision.INT8_DYNAMIC,
                        "c",
                        Precision.INT8_DYNAMIC),
                r.tried().get(2).assignment());
        assertEquals(
                assign(
                        "a",
                        Precision.INT8_DYNAMIC,
                        "b",
                        Precision.FP32,
                        "c",
                        Precision.INT8_DYNAMIC),
                r.chosen().assignment());
        assertEquals(5, r.evaluatorCalls());
    }

    @Test
    void singleLayerModelPicksTheFastestPrecisionWithinBudget() throws QuantizationException {
        // FP32 0/4 ms, INT8 0.25/2 ms, INT4 1.0/1 ms; budget 0.5 -> INT8
        Model m =
                new Model()
                        .layer(
                                "only",
                                Precision.FP32,
                                0,
                                4,
                                Precision.INT8_DYNAMIC,
                                0.25,
                                2,
                                Precision.INT4_WEIGHT_ONLY,
                                1.0,
                                1);
        PolicySearch s = m.search();
        assertEquals(2 + 4 + 3, s.evaluatorCallLimit());
        assertEquals(
                Precision.INT8_DYNAMIC,
                s.optimise(m.additive(), SearchBudget.ofDrop(0.5)).policy().precision("only"));
        // fallback: INT4 (1.0) too much, raised to FP32, refined down to INT8 (0.25)
        SearchResult f = s.fallback(m.additive(), 0.5);
        assertEquals(Precision.INT8_DYNAMIC, f.policy().precision("only"));
        assertEquals(
                Precision.INT4_WEIGHT_ONLY,
                s.optimise(m.additive(), SearchBudget.ofDrop(1.0)).policy().precision("only"));
        assertEquals(
                Precision.FP32,
                s.optimise(m.additive(), SearchBudget.ofDrop(0.0)).policy().precision("only"));
    }

    @Test
    void equalFidelityTiesPreferTheHigherFidelityPrecision() throws QuantizationException {
        // FP16 and BF16 cost and damage the same; the optimum (4 ms, drop 1.0) is reached by any
        // FP16/BF16 mix, the documented tie-break picks FP16 (fidelity 5 > BF16's 4) everywhere
        Model m = new Model();
        for (String p : List.of("x", "y")) {
            m.layer(
                    p,
                    Precision.FP32,
                    0,
                    4,
                    Precision.FP16,
                    0.5,
                    2,
                    Precision.BF16,
                    0.5,
                    2,
                    Precision.INT8_DYNAMIC,
                    4,
                    1);
        }
        SearchResult r = m.search().optimise(m.additive(), SearchBudget.ofDrop(1.0));
        assertEquals(assign("x", Precision.FP16, "y", Precision.FP16), r.chosen().assignment());
    }

    @Test
    void tiesAcrossLayersPreferHigherFidelityAtTheEarlierLayer() throws QuantizationException {
        // (FP16, INT8) and (INT8, FP16) both take 3 ms, drop 3 and the same bytes
        Model m = new Model();
        for (String p : List.of("x", "y")) {
            m.layer(p, Precision.FP32, 0, 4, Precision.FP16, 1, 2, Precision.INT8_DYNAMIC, 2, 1);
        }
        SearchResult r = m.search().optimise(m.additive(), SearchBudget.ofDrop(3.0));
        assertEquals(
                assign("x", Precision.FP16, "y", Precision.INT8_DYNAMIC), r.chosen().assignment());
        SearchResult f = m.search().fallback(m.additive(), 3.0);
        assertEquals(3.0, f.chosen().drop());
    }

    @Test
    void progressiveLowersLeastSensitiveLayersFirstAndStopsBeforeBreakingTheBudget()
            throws QuantizationException {
        // FP16 costs nothing; INT8 drops: l0 1.0, l1 0.25, l2 0.5, l3 2.0; budget 0.875:
        // l1 (0.25) ok, l2 (0.75) ok, l0 (1.75) breaks -> undone, stop
        Model m = new Model();
        double[] int8 = {1.0, 0.25, 0.5, 2.0};
        for (int i = 0; i < 4; i++) {
            m.layer(
                    "l" + i,
                    Precision.FP32,
                    0,
                    4,
                    Precision.FP16,
                    0,
                    2,
                    Precision.INT8_DYNAMIC,
                    int8[i],
                    1);
        }
        SearchResult r =
                m.search().progressive(m.additive(), 0.875, Precision.FP16, Precision.INT8_DYNAMIC);
        List<ProgressiveStep> t = r.trajectory();
        assertEquals(3, t.size());
        assertEquals("l1", t.get(0).layer());
        assertEquals("l2", t.get(1).layer());
        assertEquals("l0", t.get(2).layer());
        assertTrue(t.get(0).accepted() && t.get(1).accepted());
        assertFalse(t.get(2).accepted());
        assertEquals(1.75, t.get(2).drop());
        assertEquals(Precision.FP16, t.get(2).from());
        assertEquals(
                assign(
                        "l0", Precision.FP16,
                        "l1", Precision.INT8_DYNAMIC,
                        "l2", Precision.INT8_DYNAMIC,
                        "l3", Precision.FP16),
                r.chosen().assignment());
        assertEquals(5, r.evaluatorCalls());
        assertEquals(Strategy.PROGRESSIVE, r.policy().strategy());
    }

    @Test
    void negativeOrNaNBudgetIsRefusedNamingTheValue() {
        Model m = threeLayers();
        PolicySearch s = m.search();
        IllegalArgumentException neg =
                assertThrows(IllegalArgumentException.class, () -> s.fallback(m.additive(), -0.1));
        assertTrue(neg.getMessage().contains("-0.1") && neg.getMessage().contains("at least 0"));
        IllegalArgumentException nan =
                assertThrows(IllegalArgumentException.class, () -> SearchBudget.ofDrop(Double.NaN));
        assertTrue(nan.getMessage().contains("NaN"), nan.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        s.progressive(
                                m.additive(), Double.NaN, Precision.FP16, Precision.INT8_DYNAMIC));
        assertThrows(IllegalArgumentException.class, () -> SearchBudget.ofDrop(1).withMaxBytes(-1));
        assertThrows(
                IllegalArgumentException.class,
                () -> SearchBudget.ofDrop(1).withMaxLatencyMs(Double.NaN));
        assertTrue(m.calls.isEmpty());
    }

    @Test
    void infeasibleDropBudgetReportsTheSmallestDropAndItsCost() {
        // a pin keeps b in INT8 (drop 2.0), so no assignment drops less than 2.0
        Model m = threeLayers();
        m.rules =
                PolicyRules.builder().pin(LayerSelector.path("b"), Precision.INT8_DYNAMIC).build();
        PolicySearch s = m.search();
        InfeasibleBudgetException e =
                assertThrows(InfeasibleBudgetException.class, () -> s.fallback(m.additive(), 1.0));
        assertEquals(2.0, e.smallestDrop());
        assertEquals(9.0, e.latencyMs()); // FP32 4 + INT8 1 + FP32 4
        assertEquals(Precision.INT8_DYNAMIC, e.assignment().get("b"));
        assertTrue(e.getMessage().contains("budget 1 is infeasible"), e.getMessage());
        assertTrue(
                e.getMessage().contains("by 2 ") && e.getMessage().contains("9 ms"),
                e.getMessage());
        InfeasibleBudgetException e2 =
                assertThrows(
                        InfeasibleBudgetException.class,
                        () -> s.optimise(m.additive(), SearchBudget.ofDrop(1.0)));
        assertEquals(2.0, e2.smallestDrop());
    }

    @Test
    void infeasibleSizeBoundReportsTheSmallestReachableSize() {
        Model m = threeLayers();
        PolicySearch s = m.search();
        long int8 = 3 * Precision.INT8_DYNAMIC.estimatedBytes(1024);
        InfeasibleBudgetException e =
                assertThrows(
                        InfeasibleBudgetException.class,
                        () ->
                                s.optimise(
                                        m.additive(),
                                        SearchBudget.ofDrop(5).withMaxBytes(int8 - 1)));
        assertTrue(Double.isNaN(e.smallestDrop()));
        assertEquals(int8, e.bytes());
        assertTrue(
                e.getMessage().contains("smallest reachable is " + int8 + " bytes"),
                e.getMessage());
        assertEquals(0, m.calls.size() - 1); // only the baseline ran
    }

    @Test
    void sizeAndLatencyBoundsAreHonoured() throws QuantizationException {
        // drop budget 3: two INT8 layers fit (a+c: drop 1.5, a+b: 2.5, both 6 ms; the smaller drop
        // wins the tie); a latency bound of 5 ms needs all three in INT8 (3 ms), which drops 3.5
        Model m = threeLayers();
        PolicySearch s = m.search();
        SearchResult r = s.optimise(m.additive(), SearchBudget.ofDrop(3.0).withMaxLatencyMs(6));
        assertEquals(
                assign(
                        "a",
                        Precision.INT8_DYNAMIC,
                        "b",
                        Precision.FP32,
                        "c",
                        Precision.INT8_DYNAMIC),
                r.chosen().assignment());
        assertThrows(
                InfeasibleBudgetException.class,
                () -> s.optimise(m.additive(), SearchBudget.ofDrop(3.0).withMaxLatencyMs(5)));
    }

    @Test
    void evaluatorThatThrowsIsReportedWithTheAssignmentBeingTried() {
        Model m = threeLayers();
        PolicySearch s = m.search();
        Evaluator failing =
                a -> {
                    if (a.containsValue(Precision.INT8_DYNAMIC)) {
                        throw new IllegalStateException("kernel missing");
                    }
                    return BASE;
                };
        EvaluationException e =
                assertThrows(EvaluationException.class, () -> s.fallback(failing, 1.0));
        assertEquals(Precision.INT8_DYNAMIC, e.assignment().get("a"));
        assertTrue(e.trying().contains("fastest"), e.trying());
        assertTrue(e.getMessage().contains("kernel missing"), e.getMessage());
        assertTrue(e.getMessage().contains("a=INT8_DYNAMIC"), e.getMessage());
        assertSame(IllegalStateException.class, e.getCause().getClass());
    }

    @Test
    void evaluatorReturningNaNIsReportedWithTheLayerBeingMoved() {
        Model m = threeLayers();
        PolicySearch s = m.search();
        Evaluator nanOnRaise =
                a -> {
                    long fp32 = a.values().stream().filter(p -> p == Precision.FP32).count();
                    return fp32 == 3 ? BASE : fp32 == 0 ? BASE - 5 : Double.NaN;
                };
        EvaluationException e =
                assertThrows(EvaluationException.class, () -> s.fallback(nanOnRaise, 1.0));
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        assertTrue(e.trying().contains("raise b INT8_DYNAMIC -> FP32"), e.trying());
        assertEquals(Precision.FP32, e.assignment().get("b"));
    }

    @Test
    void missingSensitivityOrCostIsNamed() {
        Model m = threeLayers();
        m.backend.add(Precision.INT4_WEIGHT_ONLY);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, m::search);
        assertTrue(e.getMessage().contains("layer a at INT4_WEIGHT_ONLY"), e.getMessage());
        assertTrue(e.getMessage().contains("FP32"), e.getMessage());
    }

    @Test
    void everyStrategyStaysWithinTheCallBoundAndNeverRepeatsAnAssignment()
            throws QuantizationException {
        for (long seed = 0; seed < 40; seed++) {
            Synthetic syn = new Synthetic(6, Synthetic.precisions(4), seed, 1.0);
            PolicySearch s = new PolicySearch(syn.rules, syn.sensitivity, syn.costs);
            assertEquals(2 * 6 + 4 + 4, s.evaluatorCallLimit());
            for (int strategy = 0; strategy < 3; strategy++) {
                List<Map<String, Precision>> seen = new ArrayList<>();
                // errors compound: the drop grows with the square of the summed damage
                Evaluator superAdditive =
                        a -> {
                            seen.add(a);
                            double d = syn.trueDrop(a);
                            return 64.0 - d - d * d / 4;
                        };
                double budget = 1.0 + seed % 4;
                SearchResult r =
                        switch (strategy) {
                            case 0 -> s.fallback(superAdditive, budget);
                            case 1 -> s.optimise(superAdditive, SearchBudget.ofDrop(budget));
                            default ->
                                    s.progressive(
                                            superAdditive,
                                            budget,
                                            Precision.FP32,
                                            Precision.INT8_DYNAMIC);
                        };
                assertTrue(seen.size() <= 20, seed + "/" + strategy + ": " + seen.size());
                assertEquals(seen.size(), r.evaluatorCalls());
                assertEquals(seen.size(), new HashSet<>(seen).size(), "an assignment repeated");
                assertTrue(r.chosen().drop() <= budget);
                assertEquals(64.0 - r.chosen().metric(), r.chosen().drop());
            }
        }
    }

    @Test
    void sameInputsGiveTheSameCallsAndResult() throws QuantizationException {
        Synthetic a = new Synthetic(6, Synthetic.precisions(4), 7, 0.5);
        Synthetic b = new Synthetic(6, Synthetic.precisions(4), 7, 0.5);
        SearchResult ra =
                new PolicySearch(a.rules, a.sensitivity, a.costs)
                        .optimise(a.evaluator(), SearchBudget.ofDrop(1.0));
        SearchResult rb =
                new PolicySearch(b.rules, b.sensitivity, b.costs)
                        .optimise(b.evaluator(), SearchBudget.ofDrop(1.0));
        assertEquals(ra.tried(), rb.tried());
        assertEquals(ra.policy(), rb.policy());
    }

    @Test
    void rulePinnedLayersCarryRuleProvenance() throws QuantizationException {
        Model m = threeLayers();
        m.rules = PolicyRules.builder().pin(LayerSelector.last(1), Precision.FP32).build();
        SearchResult r = m.search().fallback(m.additive(), 1.5);
        LayerDecision c = r.policy().layers().get("c");
        assertEquals(DecisionSource.RULE, c.source());
        assertTrue(c.detail().contains("last 1 layer"), c.detail());
        assertEquals(DecisionSource.SEARCH, r.policy().layers().get("a").source());
    }

    @Test
    void paretoFrontierKeepsOnlyNonDominatedAndOneOfEachDuplicate() {
        Map<String, Precision> x = assign("a", Precision.FP32);
        Candidate fast = new Candidate(0, Stage.START, "", x, 8, 2, 1, 100, 0);
        Candidate accurate = new Candidate(1, Stage.BASELINE, "", x, 10, 0, 4, 400, 0);
        Candidate dominated = new Candidate(2, Stage.FALLBACK, "", x, 8, 2, 2, 100, 0);
        Candidate duplicate = new Candidate(3, Stage.FALLBACK, "", x, 8, 2, 1, 100, 0);
        Candidate small = new Candidate(4, Stage.FALLBACK, "", x, 7, 3, 3, 50, 0);
        List<Candidate> f =
                PolicySearch.paretoFrontier(List.of(fast, accurate, dominated, duplicate, small));
        assertEquals(List.of(fast, small, accurate), f);
    }

    @Test
    void seventyTwoLayerProxyProblemIsSolvedExactlyAndBeatsTheFallback()
            throws QuantizationException {
        // continuous values as measured data would have; drop exactly proportional to damage,
        // so the budgeted answer is the true optimum and no fallback answer can be faster
        Synthetic.Large large = Synthetic.Large.of(72, false);
        SensitivityTable st = large.sensitivity();
        PolicySearch s = large.search();
        Evaluator ev = large.linear();
        SearchResult opt = s.optimise(ev, SearchBudget.ofDrop(0.02));
        assertTrue(opt.exact());
        assertTrue(opt.chosen().drop() <= 0.02);
        assertTrue(opt.evaluatorCalls() <= 148);
        SearchResult fb = s.fallback(ev, 0.02);
        assertTrue(opt.chosen().latencyMs() <= fb.chosen().latencyMs() + 1e-9);

        // errors that compound: the calibrated proxy is conservative, interpolation recovers it
        Evaluator compounding =
                a -> {
                    double d = 0;
                    for (Map.Entry<String, Precision> e : a.entrySet()) {
                        d += st.damage(e.getKey(), e.getValue());
                    }
                    return 1.0 - 2 * d - 10 * d * d;
                };
        SearchResult c = s.optimise(compounding, SearchBudget.ofDrop(0.02));
        assertTrue(c.chosen().drop() <= 0.02);
        assertTrue(c.evaluatorCalls() <= s.evaluatorCallLimit());
        Candidate firstWithinBudget =
                c.tried().stream()
                        .filter(t -> t.stage() == Stage.BUDGETED && t.drop() <= 0.02)
                        .findFirst()
                        .orElseThrow();
        assertTrue(c.chosen().note().startsWith("interpolated"), c.chosen().note());
        assertTrue(c.chosen().latencyMs() < firstWithinBudget.latencyMs());
    }

    /**
     * Two layers whose proxy misjudges BF16: the sensitivity table says BF16 damages twice as much
     * as INT8 (2.0 against 1.0), the task metric says BF16 costs nothing and INT8 drops 1.0 per
     * layer. FP32 4 ms / 4096 B, BF16 2 ms / 2048 B, INT8 dynamic 1 ms / 1040 B per layer.
     */
    private static Model proxyMisjudgesBf16() {
        return new Model()
                .layer(
                        "a",
                        Precision.FP32,
                        0,
                        4,
                        Precision.BF16,
                        2.0,
                        2,
                        Precision.INT8_DYNAMIC,
                        1.0,
                        1)
                .layer(
                        "b",
                        Precision.FP32,
                        0,
                        4,
                        Precision.BF16,
                        2.0,
                        2,
                        Precision.INT8_DYNAMIC,
                        1.0,
                        1);
    }

    /** The task metric of {@link #proxyMisjudgesBf16()}: 1.0 lost per INT8 layer, nothing else. */
    private static Evaluator bf16IsFree(List<Map<String, Precision>> calls) {
        return a -> {
            calls.add(a);
            return BASE - a.values().stream().filter(p -> p == Precision.INT8_DYNAMIC).count();
        };
    }

    private static boolean uniform(Map<String, Precision> a, Precision p) {
        return a.values().stream().allMatch(p::equals);
    }

    @Test
    void fallbackReturnsAUniformSeedThatDominatesWhatTheProxyGuidedMovesReach()
            throws QuantizationException {
        // budget 0.5. Trace, worked by hand:
        // #0 baseline FP32,FP32 (8 ms, drop 0); #1 start INT8,INT8 (2 ms, drop 2);
        // #2 uniform BF16 (4 ms, drop 0); uniform FP32 / INT8 are #0 / #1 (no call);
        // least damage = FP32,FP32 (memo); order a, b (damage removed 1.0 each, model order);
        // #3 raise a: FP32,INT8 (5 ms, drop 1) over; raise b: FP32,FP32 (memo) within;
        // #4 refine b FP32 -> BF16 (INT8 excluded): FP32,BF16 (6 ms, drop 0) kept;
        // #5 refine a FP32 -> INT8: INT8,BF16 (3 ms, drop 1) over.
        // The moves end at FP32,BF16 (6 ms, 6144 B); uniform BF16 (4 ms, 4096 B, drop 0) is
        // no worse in metric and better in latency and size.
        Model m = proxyMisjudgesBf16();
        List<Map<String, Precision>> calls = new ArrayList<>();
        PolicySearch s = m.search();
        SearchResult r = s.fallback(bf16IsFree(calls), 0.5);
        assertEquals(6, r.evaluatorCalls());
        assertEquals(6, calls.size());
        assertEquals(2 * 2 + 4 + 3, s.evaluatorCallLimit());
        assertEquals(
                List.of(
                        Stage.BASELINE,
                        Stage.START,
                        Stage.UNIFORM,
                        Stage.FALLBACK,
                        Stage.REFINE,
                        Stage.REFINE),
                r.tried().stream().map(Candidate::stage).toList());
        Candidate seed = r.tried().get(2);
        assertEquals(assign("a", Precision.BF16, "b", Precision.BF16), seed.assignment());
        assertEquals("uniform BF16", seed.note());
        assertEquals(seed, r.chosen());
        assertEquals(assign("a", Precision.BF16, "b", Precision.BF16), r.policy().assignment());
        assertEquals(0.0, r.chosen().drop());
        assertEquals(4.0, r.chosen().latencyMs());
        assertEquals(4096, r.chosen().bytes());

        // what the old search returned: the last accepted move, the best of the moves alone
        Candidate movesBest = r.tried().get(4);
        assertEquals(Stage.REFINE, movesBest.stage());
        assertEquals(assign("a", Precision.FP32, "b", Precision.BF16), movesBest.assignment());
        for (Candidate t : r.tried()) {
            if (t.stage() != Stage.UNIFORM && t.drop() <= 0.5) {
                assertTrue(t.latencyMs() >= movesBest.latencyMs(), t.toString());
            }
        }
        assertTrue(seed.dominates(movesBest));
        assertTrue(r.paretoFrontier().contains(seed));
        assertFalse(r.paretoFrontier().contains(movesBest));
    }

    @Test
    void budgetedSearchReturnsTheUniformSeedWhenTheProxyRulesItOut() throws QuantizationException {
        // #0 baseline; #1 fastest INT8,INT8 (drop 2, damage 2 -> alpha 1); #2 uniform BF16 (drop
        // 0, damage 4); least damage FP32,FP32 (memo). alpha 1 allows damage <= 0.5: only
        // FP32,FP32, already evaluated, so the proxy proposes nothing new. Without the seed the
        // only candidate within budget is the FP32 baseline (8 ms, 8192 B); with it, uniform BF16.
        for (Objective objective : Objective.values()) {
            Model m = proxyMisjudgesBf16();
            List<Map<String, Precision>> calls = new ArrayList<>();
            SearchResult r =
                    m.search()
                            .optimise(
                                    bf16IsFree(calls),
                                    SearchBudget.ofDrop(0.5).withObjective(objective));
            assertEquals(assign("a", Precision.BF16, "b", Precision.BF16), r.chosen().assignment());
            assertEquals(Stage.UNIFORM, r.chosen().stage());
            assertEquals(3, calls.size(), r.toTable());
            List<Candidate> withinWithoutSeeds =
                    r.tried().stream()
                            .filter(t -> t.stage() != Stage.UNIFORM && t.drop() <= 0.5)
                            .toList();
            assertEquals(1, withinWithoutSeeds.size(), r.toTable());
            assertTrue(uniform(withinWithoutSeeds.get(0).assignment(), Precision.FP32));
            assertTrue(r.chosen().dominates(withinWithoutSeeds.get(0)));
        }
    }

    @Test
    void uniformSeedsKeepPinsAndTakeTheNearestAllowedPrecision() throws QuantizationException {
        // c pinned to FP32; b may use only FP32 and INT8 dynamic. Fidelity ranks: FP32 6, BF16 4,
        // INT8 dynamic 2, INT8 static 1. BF16 on b: FP32 and INT8 dynamic are both 2 away, the
        // tie goes to the higher fidelity (FP32); INT8 static on b: INT8 dynamic (1 away).
        Model m = new Model();
        for (String p : List.of("a", "b", "c")) {
            m.layer(
                    p,
                    Precision.FP32,
                    0,
                    4,
                    Precision.BF16,
                    0.25,
                    2,
                    Precision.INT8_DYNAMIC,
                    0.5,
                    1,
                    Precision.INT8_STATIC,
                    1.0,
                    1);
        }
        m.rules =
                PolicyRules.builder()
                        .pin(LayerSelector.path("c"), Precision.FP32)
                        .allow(LayerSelector.path("b"), Precision.FP32, Precision.INT8_DYNAMIC)
                        .build();
        PolicySearch s = m.search();
        assertEquals(2 * 3 + 4 + 4, s.evaluatorCallLimit());
        Map<String, Precision> bf16 =
                assign("a", Precision.BF16, "b", Precision.FP32, "c", Precision.FP32);
        Map<String, Precision> dyn =
                assign(
                        "a",
                        Precision.INT8_DYNAMIC,
                        "b",
                        Precision.INT8_DYNAMIC,
                        "c",
                        Precision.FP32);
        Map<String, Precision> stat =
                assign(
                        "a",
                        Precision.INT8_STATIC,
                        "b",
                        Precision.INT8_DYNAMIC,
                        "c",
                        Precision.FP32);
        assertEquals(bf16, s.uniformSeed(Precision.BF16));
        assertEquals(dyn, s.uniformSeed(Precision.INT8_DYNAMIC));
        assertEquals(stat, s.uniformSeed(Precision.INT8_STATIC));
        assertThrows(IllegalArgumentException.class, () -> s.uniformSeed(null));

        // budget 0: only drop 0 is within, that is FP32 everywhere; every seed is still evaluated
        SearchResult r = s.fallback(m.additive(), 0.0);
        List<Map<String, Precision>> evaluated =
                r.tried().stream().map(Candidate::assignment).toList();
        assertTrue(evaluated.contains(bf16) && evaluated.contains(stat), r.toTable());
        assertTrue(evaluated.contains(dyn), r.toTable());
        Candidate seed =
                r.tried().stream().filter(t -> t.assignment().equals(bf16)).findFirst().get();
        assertEquals(Stage.UNIFORM, seed.stage());
        assertEquals(
                "uniform BF16 (2 layer(s) at their pinned or nearest allowed precision)",
                seed.note());
        assertTrue(uniform(r.chosen().assignment(), Precision.FP32));
        assertTrue(r.evaluatorCalls() <= s.evaluatorCallLimit());
    }

    @Test
    void seedsOutsideTheSizeBoundAreNotEvaluated() throws QuantizationException {
        // size bound 4000 B: uniform BF16 (4096 B) breaks it and is not evaluated; uniform FP32 is
        // the baseline and uniform INT8 (2080 B, 2 ms, drop 2 <= 5) the fastest start: 2 calls
        Model m = proxyMisjudgesBf16();
        List<Map<String, Precision>> calls = new ArrayList<>();
        SearchResult r =
                m.search().optimise(bf16IsFree(calls), SearchBudget.ofDrop(5).withMaxBytes(4000));
        assertEquals(2, calls.size(), r.toTable());
        assertTrue(uniform(r.chosen().assignment(), Precision.INT8_DYNAMIC));
        // without the bound the BF16 seed is evaluated (and loses on latency: 4 ms against 2 ms)
        calls.clear();
        SearchResult free = m.search().optimise(bf16IsFree(calls), SearchBudget.ofDrop(5));
        assertEquals(3, calls.size(), free.toTable());
        assertEquals(Stage.UNIFORM, free.tried().get(2).stage());
        assertTrue(uniform(free.chosen().assignment(), Precision.INT8_DYNAMIC));
    }
}
