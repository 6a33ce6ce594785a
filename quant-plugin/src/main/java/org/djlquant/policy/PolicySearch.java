package org.djlquant.policy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import org.djlquant.QuantizationException;

/**
 * Chooses a precision per layer from resolved rules, a sensitivity table, a cost table and an
 * evaluator. See the package comment for the algorithms, their assumptions and references.
 *
 * <h2>Guarantees common to all strategies</h2>
 *
 * <ul>
 *   <li>The drop is measured against the all-FP32 model, which is always evaluated first.
 *   <li>{@link #fallback} and {@link #optimise} also evaluate the <em>uniform seeds</em>: for each
 *       precision some layer may use, every layer at that precision (see {@link
 *       #uniformSeed(Precision)}). A uniform assignment is the first thing a user tries; the
 *       sensitivity-guided moves rank layers by an additive proxy and can miss it when the proxy
 *       misjudges a precision (on MiniLM uniform dynamic INT8 dropped nothing and was smaller than
 *       the policy the moves reached). The result is the best candidate within budget among
 *       everything evaluated, seeds included, so it is never worse by the objective than a uniform
 *       seed the search could choose.
 *   <li>The evaluator runs at most {@link #evaluatorCallLimit()} = {@code 2 * layers + 4 +
 *       precisions} times per search ({@code precisions}: how many distinct precisions the layers
 *       may use, one call per uniform seed), never twice on the same assignment; exceeding it would
 *       be a bug and throws {@link IllegalStateException}.
 *   <li>With a {@link #withVerification verification}, at most {@link
 *       #verificationCandidateLimit()} = {@code topK + precisions} candidates are built and timed
 *       as whole models, {@code warmupRounds + rounds} forwards each, in interleaved rounds; the
 *       returned candidate is the fastest measured (or smallest) of them.
 *   <li>The returned candidate was evaluated and its measured drop is within the budget.
 *   <li>No randomness: the same inputs give the same evaluator calls in the same order and the same
 *       result. Ties are broken as documented on each method.
 * </ul>
 *
 * <h2>The latency objective</h2>
 *
 * The latency of an assignment is the sum of its layers' latencies in the {@link CostTable} plus
 * the table's transition costs between adjacent layers of different {@link PrecisionFamily
 * families} ({@link CostTable#latencyMs}). The candidates' latencies, the latency bound and the
 * choice include the transitions, and so do the proposals: the exact proxy solver of {@link
 * #optimise} and the fastest start of {@link #fallback} minimise the latency with its boundaries
 * (dynamic programming that keeps the last layer's family), and a move of one layer in {@link
 * #fallback} is judged by the change of the assignment's latency, the two boundaries around the
 * layer included. Transitions are still a model (half of each side's measured round trip), so
 * {@link #withVerification} measures the best few for real. With a table measured layer by layer in
 * isolation that sum can disagree with the whole model; give the search {@link
 * LatencyCalibration#calibrated()} to minimise the predicted whole-model latency ({@link
 * LatencyCalibration#predictMs} minus the constant {@link LatencyCalibration#remainderMs()}). The
 * search itself does not measure anything: the same tables and evaluator give the same calls and
 * result, and the evaluation bound above holds for any table.
 *
 * <p>Immutable and thread-safe; each search call uses its own state. The evaluator is called from
 * the calling thread only.
 */
public final class PolicySearch {

    private final ResolvedRules rules;
    private final SensitivityTable sensitivity;
    private final CostTable costs;
    private final List<LayerInfo> layers;
    private final int n;
    private final Precision[] fp32;
    private final List<Precision> seedPrecisions;
    private final Verification verification;

    /**
     * Creates a search, checking that every allowed precision has a sensitivity (FP32 may be left
     * out, it has none) and a cost, and that FP32 has a cost for every layer (the baseline).
     *
     * @param rules the layers and their allowed precisions
     * @param sensitivity the per-layer error proxy
     * @param costs the per-layer latency and size
     * @throws IllegalArgumentException naming the first layer and precision missing a value
     */
    public PolicySearch(ResolvedRules rules, SensitivityTable sensitivity, CostTable costs) {
        this.rules = rules;
        this.sensitivity = sensitivity;
        this.costs = costs;
        this.layers = rules.layers();
        this.n = layers.size();
        this.fp32 = new Precision[n];
        Arrays.fill(fp32, Precision.FP32);
        Set<Precision> union = EnumSet.noneOf(Precision.class);
        for (LayerInfo layer : layers) {
            costs.cost(layer.path(), Precision.FP32);
            for (Precision p : rules.allowed(layer.path())) {
                sensitivity.damage(layer.path(), p);
                costs.cost(layer.path(), p);
            }
            union.addAll(rules.allowed(layer.path()));
        }
        this.seedPrecisions = List.copyOf(union);
        this.verification = null;
    }

    private PolicySearch(PolicySearch base, Verification verification) {
        this.rules = base.rules;
        this.sensitivity = base.sensitivity;
        this.costs = base.costs;
        this.layers = base.layers;
        this.n = base.n;
        this.fp32 = base.fp32;
        this.seedPrecisions = base.seedPrecisions;
        this.verification = verification;
    }

    /**
     * Returns a search that verifies before choosing: after {@link #fallback} or {@link #optimise}
     * has evaluated its candidates, the best {@link Verification#topK()} candidates within all
     * bounds by predicted objective (the order of the result), plus every uniform seed within all
     * bounds (all-FP32 included), are built and timed as whole models through the {@link
     * LatencyProbe}, and the result is the verified candidate with the lowest measured latency
     * ({@link Objective#LATENCY}; ties: the better predicted one) or the fewest bytes ({@link
     * Objective#SIZE}; ties: lower measured latency, then the better predicted one). {@link
     * SearchResult#verified()} and the policy's {@code verifiedLatency} record both latencies.
     * {@link #progressive} does not verify.
     *
     * @param verification the settings, or null for none
     * @return a search with the same tables and the verification
     */
    public PolicySearch withVerification(Verification verification) {
        return new PolicySearch(this, verification);
    }

    /**
     * Returns the most candidates one search builds and times as whole models: 0 without a
     * verification, else {@code topK + precisions} (the best predicted candidates and the uniform
     * seeds), each run {@code warmupRounds + rounds} times.
     *
     * @return the bound
     */
    public int verificationCandidateLimit() {
        return verification == null ? 0 : verification.topK() + seedPrecisions.size();
    }

    /**
     * Returns the most evaluator calls one search makes: {@code 2 * layers + 4 + precisions}, where
     * {@code precisions} is the number of distinct precisions the layers may use (one call per
     * uniform seed).
     *
     * @return the bound
     */
    public int evaluatorCallLimit() {
        return 2 * n + 4 + seedPrecisions.size();
    }

    /**
     * Returns the uniform seed for a precision: every layer at {@code precision} where its allowed
     * set contains it (a layer pinned by a rule has a one-element allowed set, so it keeps its
     * pin); any other layer at its allowed precision nearest in {@link Precision#fidelityRank()},
     * ties towards the higher fidelity.
     *
     * @param precision the precision
     * @return layer path to precision, in model order; unmodifiable
     * @throws IllegalArgumentException if {@code precision} is null
     */
    public Map<String, Precision> uniformSeed(Precision precision) {
        if (precision == null) {
            throw new IllegalArgumentException(
                    "precision must be one of " + Precision.allowedNames() + ", was null");
        }
        return toMap(uniform(precision));
    }

    private Precision[] uniform(Precision target) {
        Precision[] out = new Precision[n];
        for (int i = 0; i < n; i++) {
            Set<Precision> allowed = rules.allowed(layers.get(i).path());
            if (allowed.contains(target)) {
                out[i] = target;
                continue;
            }
            for (Precision p : allowed) {
                int d = Math.abs(p.fidelityRank() - target.fidelityRank());
                int best =
                        out[i] == null
                                ? Integer.MAX_VALUE
                                : Math.abs(out[i].fidelityRank() - target.fidelityRank());
                if (d < best || (d == best && p.fidelityRank() > out[i].fidelityRank())) {
                    out[i] = p;
                }
            }
        }
        return out;
    }

    /**
     * Evaluates the uniform seed of every precision some layer may use, in declaration order of
     * {@link Precision} (FP32 first), skipping seeds outside the size / latency bounds (they could
     * not be chosen) and seeds already evaluated (the memo returns them without a call).
     */
    private void seeds(Run run, long maxBytes, double maxLatency) throws QuantizationException {
        for (Precision p : seedPrecisions) {
            Precision[] a = uniform(p);
            if (sumBytes(a) > maxBytes || sumLatency(a) > maxLatency) {
                continue;
            }
            int kept = 0;
            for (Precision q : a) {
                if (q != p) {
                    kept++;
                }
            }
            run.eval(
                    a,
                    Stage.UNIFORM,
                    "uniform "
                            + p
                            + (kept == 0
                                    ? ""
                                    : " ("
                                            + kept
                                            + " layer(s) at their pinned or nearest allowed precision)"));
        }
    }

    /**
     * Accuracy-driven fallback, after Intel Neural Compressor's basic tuning strategy.
     *
     * <ol>
     *   <li>Evaluate FP32 (baseline) and the fastest allowed assignment (lowest {@link
     *       CostTable#latencyMs}, boundaries included; ties: fewer bytes, less damage, higher
     *       fidelity layer by layer; without transitions each layer at its lowest latency
     *       precision), then the uniform seeds ({@link #uniformSeed(Precision)}). Done if the
     *       fastest one's drop is within budget.
     *   <li>Evaluate the least-damaging allowed assignment (each layer at its lowest-damage
     *       precision; ties: higher fidelity). If it breaks the budget: return the best uniform
     *       seed within budget, or if there is none throw {@link InfeasibleBudgetException} with
     *       the smallest measured drop.
     *   <li>Order the layers where the two differ by sensitivity, most sensitive first: by the "all
     *       but this layer" damage ascending when the table has it for all of them, else by the
     *       damage removed by raising the layer, descending; ties by model order. Raise them one at
     *       a time to their least-damaging precision, evaluating after each, until the drop is
     *       within budget (at most one call per layer).
     *   <li>Refine: for each raised layer, latest first, try once the precision that makes the
     *       whole assignment fastest among those that make it faster than now (excluding the one
     *       just shown insufficient): the layer's latency plus the boundaries into it and out of
     *       it, so a move that changes the layer's family pays or saves its two adjacent
     *       transitions; ties: fewer bytes, less damage, higher fidelity. Keep it if the drop stays
     *       within budget.
     *   <li>Return the best evaluated candidate within budget: lowest latency, then measured drop,
     *       then bytes, then higher fidelity layer by layer in model order (the order of {@link
     *       #optimise} with {@link Objective#LATENCY}); a uniform seed is chosen when it beats what
     *       the moves reached.
     * </ol>
     *
     * Calls: at most {@code 3 + precisions + layers + layers}.
     *
     * @param evaluator the task metric
     * @param maxMetricDrop the largest allowed drop against FP32, at least 0
     * @return the result; the policy's strategy is {@link Strategy#FALLBACK}
     * @throws IllegalArgumentException if the budget is negative or NaN
     * @throws InfeasibleBudgetException if the least-damaging allowed assignment and every uniform
     *     seed break it
     * @throws EvaluationException if the evaluator throws or returns a non-finite metric
     */
    public SearchResult fallback(Evaluator evaluator, double maxMetricDrop)
            throws QuantizationException {
        SearchBudget.checkDrop(maxMetricDrop);
        Run run = new Run(evaluator);
        run.baseline();
        Precision[] start = fastestAllowed();
        Candidate c = run.eval(start, Stage.START, "fastest allowed assignment");
        seeds(run, Long.MAX_VALUE, Double.POSITIVE_INFINITY);
        if (c.drop() <= maxMetricDrop) {
            return finishFallback(run, maxMetricDrop);
        }
        Precision[] ref = perLayer(this::leastDamageKey);
        Candidate safe = run.eval(ref, Stage.MIN_DAMAGE, "least-damaging allowed assignment");
        if (safe.drop() > maxMetricDrop) {
            if (bestFeasible(run, maxMetricDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, true)
                    != null) {
                // the moves lead towards an assignment measured over budget; a seed is within
                return finishFallback(run, maxMetricDrop);
            }
            Candidate least = smallestDrop(run, safe, Long.MAX_VALUE, Double.POSITIVE_INFINITY);
            throw infeasible(
                    least,
                    maxMetricDrop,
                    least == safe
                            ? "the least-damaging allowed assignment"
                            : "the best evaluated candidate (" + least.note() + ")");
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (start[i] != ref[i]) {
                order.add(i);
            }
        }
        boolean leaveOneOut =
                order.stream()
                        .allMatch(i -> sensitivity.allButThis(layers.get(i).path()).isPresent());
        Comparator<Integer> bySensitivity =
                leaveOneOut
                        ? Comparator.comparingDouble(
                                i ->
                                        sensitivity
                                                .metric()
                                                .damage(
                                                        sensitivity
                                                                .allButThis(layers.get(i).path())
                                                                .getAsDouble(),
                                                        "all but " + layers.get(i).path()))
                        : Comparator.comparingDouble(
                                i -> -(damage(i, start[i]) - damage(i, ref[i])));
        order.sort(bySensitivity.thenComparingInt(i -> i));
        Precision[] cur = start.clone();
        List<Integer> raised = new ArrayList<>();
        for (int i : order) {
            Precision from = cur[i];
            cur[i] = ref[i];
            raised.add(i);
            c =
                    run.eval(
                            cur,
                            Stage.FALLBACK,
                            "raise " + layers.get(i).path() + " " + from + " -> " + ref[i]);
            if (c.drop() <= maxMetricDrop) {
                break;
            }
        }
        for (int j = raised.size() - 1; j >= 0; j--) {
            int i = raised.get(j);
            Precision exclude = j == raised.size() - 1 ? start[i] : null;
            Precision lower = null;
            double[] now = moveKey(cur, i, cur[i]);
            for (Precision p : rules.allowed(layers.get(i).path())) {
                if (p == exclude || moveKey(cur, i, p)[0] >= now[0]) {
                    continue;
                }
                if (lower == null || compareKeys(moveKey(cur, i, p), moveKey(cur, i, lower)) < 0) {
                    lower = p;
                }
            }
            if (lower == null) {
                continue;
            }
            Precision[] trial = cur.clone();
            trial[i] = lower;
            c =
                    run.eval(
                            trial,
                            Stage.REFINE,
                            "lower " + layers.get(i).path() + " " + cur[i] + " -> " + lower);
            if (c.drop() <= maxMetricDrop) {
                cur = trial;
            }
        }
        return finishFallback(run, maxMetricDrop);
    }

    private SearchResult finishFallback(Run run, double maxMetricDrop)
            throws QuantizationException {
        Candidate best =
                bestFeasible(run, maxMetricDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, true);
        return finish(
                run,
                best,
                Strategy.FALLBACK,
                maxMetricDrop,
                List.of(),
                true,
                new Bounds(maxMetricDrop, Long.MAX_VALUE, Double.POSITIVE_INFINITY, true));
    }

    /**
     * The evaluated, allowed candidate within the size / latency bounds with the smallest measured
     * drop; {@code first} unless another one is strictly smaller.
     */
    private Candidate smallestDrop(Run run, Candidate first, long maxBytes, double maxLatency) {
        Candidate least = first;
        for (Candidate t : run.tried) {
            if (t.drop() < least.drop()
                    && t.bytes() <= maxBytes
                    && t.latencyMs() <= maxLatency
                    && isAllowed(t.assignment())) {
                least = t;
            }
        }
        return least;
    }

    /**
     * Budgeted optimisation: the fastest (or smallest) assignment whose measured drop is within
     * {@code maxMetricDrop} and whose size and latency are within their bounds.
     *
     * <ol>
     *   <li>Evaluate FP32, then the assignment minimising the objective under the size / latency
     *       bounds only (no assignment fits: {@link InfeasibleBudgetException} with the smallest
     *       size and latency reachable), then the uniform seeds ({@link #uniformSeed(Precision)})
     *       that are within the size / latency bounds. If the first one's drop is within budget it
     *       is optimal: done.
     *   <li>Evaluate the least-damaging assignment within the bounds; if its drop breaks the budget
     *       and no uniform seed is within all bounds, throw {@link InfeasibleBudgetException} with
     *       the smallest measured drop and its cost.
     *   <li>Calibrate the additive proxy: predicted drop = {@code alpha * sum(damage)}, {@code
     *       alpha} the largest {@code drop / damage} seen. Solve exactly (Pareto dynamic
     *       programming) for the best assignment with predicted drop within budget; evaluate it. If
     *       it breaks the budget, raise {@code alpha} with it (so it is excluded) and solve again,
     *       within the call limit.
     *   <li>Refine by regula falsi: between the best candidate within budget (damage {@code D_lo},
     *       drop {@code f_lo}) and the least-damaging over-budget candidate above it ({@code D_hi},
     *       {@code f_hi}), interpolate the damage cap where the drop would reach the budget, solve
     *       under that cap and evaluate if it is strictly better in the objective; repeat within
     *       the call limit until no new, better proposal appears. This recovers the budget the
     *       conservative {@code alpha} leaves unused when errors compound.
     *   <li>Return the best evaluated candidate within all bounds, uniform seeds included:
     *       objective, then measured drop, then the other cost, then higher fidelity layer by layer
     *       in model order.
     * </ol>
     *
     * <p>Guarantee: the result was measured within budget. It is the optimum among all allowed
     * assignments if the fastest one is within budget, or if the measured drop equals {@code alpha
     * * damage} for some {@code alpha} (the proxy is exact up to scale, as in the tests); otherwise
     * it is a heuristic answer: no proposal of the proxy under the interpolated damage cap was
     * better and still within budget. In every case it is no worse by the objective than any
     * uniform seed within the bounds, whatever the proxy says. Calls: at most {@link
     * #evaluatorCallLimit()}.
     *
     * @param evaluator the task metric
     * @param budget the constraints and the objective
     * @return the result; the policy's strategy is {@link Strategy#BUDGETED}
     * @throws InfeasibleBudgetException if no allowed assignment is found within the budget
     * @throws EvaluationException if the evaluator throws or returns a non-finite metric
     */
    public SearchResult optimise(Evaluator evaluator, SearchBudget budget)
            throws QuantizationException {
        double maxDrop = budget.maxMetricDrop();
        long maxBytes = budget.maxBytes().orElse(Long.MAX_VALUE);
        double maxLatency = budget.maxLatencyMs().orElse(Double.POSITIVE_INFINITY);
        boolean latencyObjective = budget.objective() == Objective.LATENCY;
        Run run = new Run(evaluator);
        run.baseline();
        boolean exact = true;
        ChoiceSolver.Solution fastest =
                solve(latencyObjective, false, 0.0, maxDrop, maxBytes, maxLatency);
        if (fastest == null) {
            Precision[] smallest = perLayer((i, p) -> new double[] {bytes(i, p), latency(i, p)});
            Precision[] quickest = fastestAllowed();
            throw new InfeasibleBudgetException(
                    "no allowed assignment meets size <= "
                            + (budget.maxBytes().isPresent() ? maxBytes + " bytes" : "(unbounded)")
                            + " and latency <= "
                            + (budget.maxLatencyMs().isPresent()
                                    ? num(maxLatency) + " ms"
                                    : "(unbounded)")
                            + "; the smallest reachable is "
                            + sumBytes(smallest)
                            + " bytes, the fastest "
                            + num(sumLatency(quickest))
                            + " ms; raise the bounds or allow smaller / faster precisions",
                    Double.NaN,
                    toMap(smallest),
                    sumLatency(smallest),
                    sumBytes(smallest));
        }
        exact &= fastest.exact();
        Candidate c = run.eval(fastest.choice(), Stage.START, "fastest within size/latency bounds");
        seeds(run, maxBytes, maxLatency);
        if (c.drop() <= maxDrop) {
            return finishBudgeted(run, exact, maxDrop, maxBytes, maxLatency, latencyObjective);
        }
        ChoiceSolver.Solution safest =
                solve(latencyObjective, true, 0.0, maxDrop, maxBytes, maxLatency);
        exact &= safest.exact();
        Candidate m = run.eval(safest.choice(), Stage.MIN_DAMAGE, "least damage within bounds");
        if (m.drop() > maxDrop
                && bestFeasible(run, maxDrop, maxBytes, maxLatency, latencyObjective) == null) {
            Candidate least = smallestDrop(run, m, maxBytes, maxLatency);
            throw infeasible(
                    least,
                    maxDrop,
                    least == m
                            ? "the least-damaging assignment within the size/latency bounds"
                            : "the best evaluated candidate within the size/latency bounds ("
                                    + least.note()
                                    + ")");
        }
        double alpha = 0.0;
        for (Candidate t : run.tried) {
            if (t.damage() > 0 && t.drop() > 0) {
                alpha = Math.max(alpha, t.drop() / t.damage());
            }
        }
        while (run.calls < evaluatorCallLimit()) {
            ChoiceSolver.Solution s =
                    solve(latencyObjective, false, alpha, maxDrop, maxBytes, maxLatency);
            if (s == null || run.seen(s.choice())) {
                break;
            }
            exact &= s.exact();
            Candidate t = run.eval(s.choice(), Stage.BUDGETED, "proxy alpha " + num(alpha));
            if (t.drop() <= maxDrop || t.damage() <= 0) {
                break;
            }
            alpha = Math.max(alpha, t.drop() / t.damage());
        }
        // m or a uniform seed is within all bounds (checked above), so best is not null
        Candidate best = bestFeasible(run, maxDrop, maxBytes, maxLatency, latencyObjective);
        // refine: regula falsi on the damage cap between the best feasible candidate and the
        // least-damaging infeasible one above it (the proxy is rarely exactly linear)
        while (run.calls < evaluatorCallLimit()) {
            Candidate hi = null;
            for (Candidate t : run.tried) {
                if (t.drop() > maxDrop
                        && t.damage() > best.damage()
                        && (hi == null || t.damage() < hi.damage())) {
                    hi = t;
                }
            }
            if (hi == null) {
                break;
            }
            double dropLo = Math.max(0.0, best.drop());
            double cap =
                    best.damage()
                            + (maxDrop - dropLo)
                                    * (hi.damage() - best.damage())
                                    / (hi.drop() - dropLo);
            if (!(cap > best.damage()) || !(cap < hi.damage())) {
                break;
            }
            ChoiceSolver.Solution s =
                    solve(latencyObjective, false, maxDrop / cap, maxDrop, maxBytes, maxLatency);
            if (s == null || run.seen(s.choice())) {
                break;
            }
            double objective =
                    latencyObjective ? sumLatency(s.choice()) : (double) sumBytes(s.choice());
            double incumbent = latencyObjective ? best.latencyMs() : (double) best.bytes();
            if (objective >= incumbent) {
                break;
            }
            exact &= s.exact();
            run.eval(s.choice(), Stage.BUDGETED, "interpolated damage cap " + num(cap));
            best = bestFeasible(run, maxDrop, maxBytes, maxLatency, latencyObjective);
        }
        return finishBudgeted(run, exact, maxDrop, maxBytes, maxLatency, latencyObjective);
    }

    /** The best evaluated candidate within all bounds (verified if set up) as the result. */
    private SearchResult finishBudgeted(
            Run run,
            boolean exact,
            double maxDrop,
            long maxBytes,
            double maxLatency,
            boolean latencyObjective)
            throws QuantizationException {
        return finish(
                run,
                bestFeasible(run, maxDrop, maxBytes, maxLatency, latencyObjective),
                Strategy.BUDGETED,
                maxDrop,
                List.of(),
                exact,
                new Bounds(maxDrop, maxBytes, maxLatency, latencyObjective));
    }

    /**
     * Progressive quantization: start with every layer at {@code from} (a layer that may not use it
     * starts at its least-damaging allowed precision), then move layers to {@code to} one at a
     * time, least sensitive first ({@code damage(to) - damage(start)} ascending, ties by model
     * order), evaluating after each move. The first move that breaks the budget is undone and
     * recorded as rejected, and the search stops there. Layers that may not use {@code to} stay.
     * Calls: at most {@code 2 + layers}.
     *
     * @param evaluator the task metric
     * @param maxMetricDrop the largest allowed drop against FP32, at least 0
     * @param from the starting precision, typically FP16 or BF16
     * @param to the target precision, typically an INT8 one
     * @return the result with the trajectory; the policy's strategy is {@link Strategy#PROGRESSIVE}
     * @throws IllegalArgumentException if the budget is negative or NaN, or a precision is null
     * @throws InfeasibleBudgetException if the starting assignment already breaks the budget
     * @throws EvaluationException if the evaluator throws or returns a non-finite metric
     */
    public SearchResult progressive(
            Evaluator evaluator, double maxMetricDrop, Precision from, Precision to)
            throws QuantizationException {
        SearchBudget.checkDrop(maxMetricDrop);
        if (from == null || to == null) {
            throw new IllegalArgumentException(
                    "from and to must be precisions, one of " + Precision.allowedNames());
        }
        Run run = new Run(evaluator);
        run.baseline();
        Precision[] ref = perLayer(this::leastDamageKey);
        Precision[] cur = new Precision[n];
        for (int i = 0; i < n; i++) {
            cur[i] = rules.allowed(layers.get(i).path()).contains(from) ? from : ref[i];
        }
        Candidate best = run.eval(cur, Stage.START, "every layer at " + from + " where allowed");
        if (best.drop() > maxMetricDrop) {
            throw infeasible(best, maxMetricDrop, "the starting assignment (" + from + ")");
        }
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (cur[i] != to && rules.allowed(layers.get(i).path()).contains(to)) {
                order.add(i);
            }
        }
        Precision[] startAt = cur.clone();
        order.sort(
                Comparator.comparingDouble((Integer i) -> damage(i, to) - damage(i, startAt[i]))
                        .thenComparingInt(i -> i));
        List<ProgressiveStep> steps = new ArrayList<>();
        for (int i : order) {
            Precision[] trial = cur.clone();
            trial[i] = to;
            String path = layers.get(i).path();
            Candidate c =
                    run.eval(
                            trial, Stage.PROGRESSIVE, "lower " + path + " " + cur[i] + " -> " + to);
            boolean ok = c.drop() <= maxMetricDrop;
            steps.add(
                    new ProgressiveStep(
                            steps.size() + 1, path, cur[i], to, c.metric(), c.drop(), ok));
            if (!ok) {
                break;
            }
            cur = trial;
            best = c;
        }
        return finish(run, best, Strategy.PROGRESSIVE, maxMetricDrop, steps, true, null);
    }

    /**
     * Returns the candidates no other candidate dominates in (metric higher, latency lower, bytes
     * lower). Of candidates with identical (metric, latency, bytes) only the first is kept. Every
     * candidate given is either returned or dominated by (or identical to) a returned one.
     *
     * @param candidates the candidates
     * @return the frontier sorted by latency, then bytes, then metric descending, then order
     */
    public static List<Candidate> paretoFrontier(List<Candidate> candidates) {
        List<Candidate> out = new ArrayList<>();
        for (Candidate c : candidates) {
            boolean dominated = false;
            for (Candidate d : candidates) {
                if (d.dominates(c)) {
                    dominated = true;
                    break;
                }
            }
            boolean duplicate =
                    out.stream()
                            .anyMatch(
                                    o ->
                                            o.metric() == c.metric()
                                                    && o.latencyMs() == c.latencyMs()
                                                    && o.bytes() == c.bytes());
            if (!dominated && !duplicate) {
                out.add(c);
            }
        }
        out.sort(
                Comparator.comparingDouble(Candidate::latencyMs)
                        .thenComparingLong(Candidate::bytes)
                        .thenComparing(Comparator.comparingDouble(Candidate::metric).reversed())
                        .thenComparingInt(Candidate::order));
        return out;
    }

    // ---------------------------------------------------------------- helpers

    private double damage(int i, Precision p) {
        return sensitivity.damage(layers.get(i).path(), p);
    }

    private double latency(int i, Precision p) {
        return costs.cost(layers.get(i).path(), p).latencyMs();
    }

    private long bytes(int i, Precision p) {
        return costs.cost(layers.get(i).path(), p).bytes();
    }

    private double[] fastestKey(int i, Precision p) {
        return new double[] {latency(i, p), bytes(i, p), damage(i, p), -p.fidelityRank()};
    }

    /**
     * The key of moving layer {@code i} of assignment {@code a} to {@code p}: the latency of the
     * layer plus the two boundaries around it (into {@code i} from {@code a[i-1]}, into {@code i+1}
     * towards {@code a[i+1]}), then bytes, damage and higher fidelity. The other terms of {@link
     * CostTable#latencyMs} do not change with the move, so differences of the first entry are
     * differences of the assignment's latency; without transitions it is the layer's latency.
     */
    private double[] moveKey(Precision[] a, int i, Precision p) {
        double lat = latency(i, p);
        if (costs.hasTransitions()) {
            if (i > 0) {
                lat += costs.transitionMs(layers.get(i).path(), a[i - 1].family(), p.family());
            }
            if (i + 1 < n) {
                lat += costs.transitionMs(layers.get(i + 1).path(), p.family(), a[i + 1].family());
            }
        }
        return new double[] {lat, bytes(i, p), damage(i, p), -p.fidelityRank()};
    }

    /**
     * The fastest allowed assignment: the least latency by {@link CostTable#latencyMs}, then fewest
     * bytes, least damage and higher fidelity layer by layer. Without transitions every layer at
     * its own fastest precision; with them the exact solver (a boundary depends on two layers).
     */
    private Precision[] fastestAllowed() {
        if (!costs.hasTransitions()) {
            return perLayer(this::fastestKey);
        }
        return solveWith(
                        (p, d, lat, b) -> new ChoiceSolver.Option(p, lat, b, d, d, b, lat),
                        ChoiceSolver.Sum.PRIMARY,
                        0.0,
                        0.0,
                        Long.MAX_VALUE,
                        Double.POSITIVE_INFINITY)
                .choice();
    }

    private double[] leastDamageKey(int i, Precision p) {
        return new double[] {damage(i, p), -p.fidelityRank()};
    }

    private Candidate bestFeasible(
            Run run, double maxDrop, long maxBytes, double maxLatency, boolean latencyObjective) {
        Candidate best = null;
        for (Candidate t : run.tried) {
            if (t.drop() <= maxDrop
                    && t.bytes() <= maxBytes
                    && t.latencyMs() <= maxLatency
                    && isAllowed(t.assignment())) {
                if (best == null || betterBudgeted(t, best, latencyObjective)) {
                    best = t;
                }
            }
        }
        return best;
    }

    private boolean isAllowed(Map<String, Precision> assignment) {
        for (Map.Entry<String, Precision> e : assignment.entrySet()) {
            if (!rules.allowed(e.getKey()).contains(e.getValue())) {
                return false;
            }
        }
        return true;
    }

    private static int compareKeys(double[] a, double[] b) {
        for (int k = 0; k < a.length; k++) {
            int c = Double.compare(a[k], b[k]);
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    private interface Key {
        double[] of(int layer, Precision p);
    }

    private Precision[] perLayer(Key key) {
        Precision[] out = new Precision[n];
        for (int i = 0; i < n; i++) {
            for (Precision p : rules.allowed(layers.get(i).path())) {
                if (out[i] == null || compareKeys(key.of(i, p), key.of(i, out[i])) < 0) {
                    out[i] = p;
                }
            }
        }
        return out;
    }

    /** The layers' latencies plus the cost table's transitions between adjacent layers. */
    private double sumLatency(Precision[] a) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += latency(i, a[i]);
            if (i > 0) {
                s += costs.transitionMs(layers.get(i).path(), a[i - 1].family(), a[i].family());
            }
        }
        return s;
    }

    private long sumBytes(Precision[] a) {
        long s = 0;
        for (int i = 0; i < n; i++) {
            s += bytes(i, a[i]);
        }
        return s;
    }

    private double sumDamage(Precision[] a) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += damage(i, a[i]);
        }
        return s;
    }

    private Map<String, Precision> toMap(Precision[] a) {
        Map<String, Precision> m = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            m.put(layers.get(i).path(), a[i]);
        }
        return Collections.unmodifiableMap(m);
    }

    /** Builds one solver option from a precision and its damage, latency and bytes. */
    private interface OptionOf {
        ChoiceSolver.Option of(Precision p, double damage, double latency, long bytes);
    }

    /** Solves over every layer's allowed precisions, boundaries charged to {@code latencySum}. */
    private ChoiceSolver.Solution solveWith(
            OptionOf option,
            ChoiceSolver.Sum latencySum,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency) {
        List<List<ChoiceSolver.Option>> options = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<ChoiceSolver.Option> opts = new ArrayList<>();
            for (Precision p : rules.allowed(layers.get(i).path())) {
                opts.add(option.of(p, damage(i, p), latency(i, p), bytes(i, p)));
            }
            options.add(opts);
        }
        return new ChoiceSolver(
                        options,
                        alpha,
                        maxDrop,
                        maxBytes,
                        maxLatency,
                        transitions(),
                        EnumSet.of(latencySum))
                .solve();
    }

    /**
     * Solves the proxy problem: minimise the objective (or the damage, then the objective), then
     * the damage (or the objective), then the other cost, under the drop bound {@code alpha *
     * damage <= maxDrop} and the size / latency bounds; latencies include the cost table's
     * boundaries. Package-private for the tests.
     *
     * @return the solution, or null if no assignment meets the bounds
     */
    ChoiceSolver.Solution solve(
            boolean latencyObjective,
            boolean minimiseDamage,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency) {
        ChoiceSolver.Sum latencySum =
                !latencyObjective
                        ? ChoiceSolver.Sum.TERTIARY
                        : minimiseDamage ? ChoiceSolver.Sum.SECONDARY : ChoiceSolver.Sum.PRIMARY;
        return solveWith(
                (p, d, lat, b) -> {
                    double obj = latencyObjective ? lat : b;
                    double other = latencyObjective ? b : lat;
                    return minimiseDamage
                            ? new ChoiceSolver.Option(p, d, obj, other, d, b, lat)
                            : new ChoiceSolver.Option(p, obj, d, other, d, b, lat);
                },
                latencySum,
                alpha,
                maxDrop,
                maxBytes,
                maxLatency);
    }

    /** The cost table's boundary costs for the solver, or null if it has none. */
    private ChoiceSolver.Transitions transitions() {
        return costs.hasTransitions()
                ? (i, from, to) -> costs.transitionMs(layers.get(i).path(), from, to)
                : null;
    }

    private boolean betterBudgeted(Candidate a, Candidate b, boolean latencyObjective) {
        double[] ka =
                latencyObjective
                        ? new double[] {a.latencyMs(), a.drop(), a.bytes()}
                        : new double[] {a.bytes(), a.drop(), a.latencyMs()};
        double[] kb =
                latencyObjective
                        ? new double[] {b.latencyMs(), b.drop(), b.bytes()}
                        : new double[] {b.bytes(), b.drop(), b.latencyMs()};
        int c = compareKeys(ka, kb);
        if (c != 0) {
            return c < 0;
        }
        for (LayerInfo layer : layers) {
            int f =
                    Integer.compare(
                            a.assignment().get(layer.path()).fidelityRank(),
                            b.assignment().get(layer.path()).fidelityRank());
            if (f != 0) {
                return f > 0;
            }
        }
        return false;
    }

    private InfeasibleBudgetException infeasible(Candidate c, double maxDrop, String what) {
        return new InfeasibleBudgetException(
                "metric drop budget "
                        + num(maxDrop)
                        + " is infeasible: "
                        + what
                        + " already drops the metric by "
                        + num(c.drop())
                        + " (metric "
                        + num(c.metric())
                        + ") at "
                        + num(c.latencyMs())
                        + " ms and "
                        + c.bytes()
                        + " bytes; raise the budget to at least "
                        + num(c.drop())
                        + " or allow more precise precisions; assignment "
                        + c.assignment(),
                c.drop(),
                c.assignment(),
                c.latencyMs(),
                c.bytes());
    }

    /** Formats a number compactly: integers without a fraction, others with up to 6 digits. */
    static String num(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return new java.math.BigDecimal(v)
                .round(new java.math.MathContext(6))
                .stripTrailingZeros()
                .toPlainString();
    }

    private SearchResult finish(
            Run run,
            Candidate chosen,
            Strategy strategy,
            double maxDrop,
            List<ProgressiveStep> steps,
            boolean exact,
            Bounds bounds)
            throws QuantizationException {
        List<VerifiedLatency> verified = List.of();
        if (verification != null && bounds != null) {
            List<Candidate> pick = verificationCandidates(run, bounds);
            verified = new ArrayList<>(verification.measure(pick));
            int best = 0;
            for (int i = 1; i < pick.size(); i++) {
                if (measuredBetter(
                        pick.get(i),
                        verified.get(i),
                        pick.get(best),
                        verified.get(best),
                        bounds.latencyObjective())) {
                    best = i;
                }
            }
            chosen = pick.get(best);
            verified.set(best, verified.get(best).withChosen(true));
        }
        Map<String, LayerDecision> decisions = new LinkedHashMap<>();
        String stage = strategy.name().toLowerCase(Locale.ROOT);
        for (LayerInfo layer : layers) {
            String path = layer.path();
            Set<Precision> allowed = rules.allowed(path);
            String by = rules.decidedBy().get(path);
            boolean byRule = allowed.size() == 1 && !by.startsWith("backend ");
            decisions.put(
                    path,
                    new LayerDecision(
                            chosen.assignment().get(path),
                            byRule ? DecisionSource.RULE : DecisionSource.SEARCH,
                            byRule ? by : stage + " (allowed " + allowed + ")"));
        }
        MixedPrecisionPolicy policy =
                new MixedPrecisionPolicy(
                        strategy,
                        decisions,
                        OptionalDouble.of(maxDrop),
                        OptionalDouble.of(run.baselineMetric),
                        OptionalDouble.of(chosen.metric()),
                        verified,
                        verified.isEmpty() ? "" : verification.methodology());
        return new SearchResult(
                policy,
                chosen,
                run.baselineMetric,
                run.tried,
                paretoFrontier(run.tried),
                steps,
                run.calls,
                evaluatorCallLimit(),
                exact,
                verified);
    }

    /** The drop, size and latency bounds of a search and its objective. */
    private record Bounds(
            double maxDrop, long maxBytes, double maxLatency, boolean latencyObjective) {}

    /**
     * The candidates to verify: every evaluated, allowed candidate within all bounds, best
     * predicted first ({@link #betterBudgeted} order); the first {@code topK} of them and every
     * uniform seed among the rest (the all-FP32 baseline is the FP32 seed).
     */
    private List<Candidate> verificationCandidates(Run run, Bounds b) {
        List<Candidate> feasible = new ArrayList<>();
        for (Candidate t : run.tried) {
            if (t.drop() <= b.maxDrop()
                    && t.bytes() <= b.maxBytes()
                    && t.latencyMs() <= b.maxLatency()
                    && isAllowed(t.assignment())) {
                feasible.add(t);
            }
        }
        feasible.sort(
                (x, y) ->
                        betterBudgeted(x, y, b.latencyObjective())
                                ? -1
                                : betterBudgeted(y, x, b.latencyObjective())
                                        ? 1
                                        : Integer.compare(x.order(), y.order()));
        // a uniform seed the memo matched to an earlier candidate keeps that one's stage
        Set<Map<String, Precision>> uniforms = new java.util.HashSet<>();
        uniforms.add(toMap(fp32));
        for (Precision p : seedPrecisions) {
            uniforms.add(toMap(uniform(p)));
        }
        List<Candidate> out = new ArrayList<>();
        for (Candidate t : feasible) {
            boolean uniform = uniforms.contains(t.assignment());
            if (out.size() < verification.topK() || uniform) {
                out.add(t);
            }
        }
        return out;
    }

    /**
     * Whether verified candidate {@code a} beats {@code b}: lower measured latency (latency
     * objective) or fewer bytes, then lower measured latency (size objective); a tie keeps the
     * earlier, better predicted one.
     */
    private static boolean measuredBetter(
            Candidate a,
            VerifiedLatency va,
            Candidate b,
            VerifiedLatency vb,
            boolean latencyObjective) {
        if (!latencyObjective && a.bytes() != b.bytes()) {
            return a.bytes() < b.bytes();
        }
        return va.measuredMs() < vb.measuredMs();
    }

    /** The state of one search: counted, memoised evaluator calls. */
    private final class Run {
        private final Evaluator evaluator;
        private final List<Candidate> tried = new ArrayList<>();
        private final Map<List<Precision>, Candidate> memo = new HashMap<>();
        private int calls;
        private double baselineMetric;

        Run(Evaluator evaluator) {
            if (evaluator == null) {
                throw new IllegalArgumentException("evaluator must not be null");
            }
            this.evaluator = evaluator;
        }

        void baseline() throws QuantizationException {
            Candidate c = eval(fp32, Stage.BASELINE, "every layer FP32");
            baselineMetric = c.metric();
        }

        boolean seen(Precision[] a) {
            return memo.containsKey(List.of(a));
        }

        Candidate eval(Precision[] a, Stage stage, String note) throws QuantizationException {
            List<Precision> key = List.of(a.clone());
            Candidate hit = memo.get(key);
            if (hit != null) {
                return hit;
            }
            if (calls >= evaluatorCallLimit()) {
                throw new IllegalStateException(
                        "evaluator call limit "
                                + evaluatorCallLimit()
                                + " reached while trying "
                                + note
                                + "; this is a bug in PolicySearch");
            }
            Map<String, Precision> assignment = toMap(a);
            calls++;
            double metric;
            try {
                metric = evaluator.evaluate(assignment);
            } catch (QuantizationException | RuntimeException e) {
                throw new EvaluationException(
                        "evaluator failed on "
                                + stage
                                + " candidate ("
                                + note
                                + "): "
                                + e
                                + "; assignment "
                                + assignment,
                        assignment,
                        note,
                        e);
            }
            if (!Double.isFinite(metric)) {
                throw new EvaluationException(
                        "evaluator returned "
                                + metric
                                + " for "
                                + stage
                                + " candidate ("
                                + note
                                + "), must return a finite metric; assignment "
                                + assignment,
                        assignment,
                        note,
                        null);
            }
            double drop = stage == Stage.BASELINE ? 0.0 : baselineMetric - metric;
            Candidate c =
                    new Candidate(
                            tried.size(),
                            stage,
                            note,
                            assignment,
                            metric,
                            drop,
                            sumLatency(a),
                            sumBytes(a),
                            sumDamage(a));
            tried.add(c);
            memo.put(key, c);
            return c;
        }
    }
}
