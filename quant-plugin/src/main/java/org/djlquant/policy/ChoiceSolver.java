package org.djlquant.policy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Exact solver for one choice per layer (a multiple-choice knapsack): minimise the sum of a primary
 * value subject to {@code alpha * sum(damage) <= maxDrop}, {@code sum(bytes) <= maxBytes} and
 * {@code sum(latency) <= maxLatency}, where the latency of an assignment may also charge a
 * transition cost at every boundary between adjacent layers (model order) whose choices are of
 * different {@link PrecisionFamily families}.
 *
 * <p>Assignments are ordered by primary sum, then secondary sum, then tertiary sum, then layer by
 * layer in model order by higher {@link Precision#fidelityRank()}; the solver returns the first
 * assignment in this order (a strict total order, so ties are broken deterministically). Sums are
 * accumulated in model order.
 *
 * <p>Algorithm: dynamic programming over the layers in model order keeping only the Pareto set of
 * partial sums (Nemhauser-Ullmann): a partial assignment is dropped when another is no worse in the
 * primary and secondary sums and in every bounded resource (and, on a tie in all of them, comes
 * first by tertiary sum and fidelity), when it cannot meet a bound even with the cheapest remaining
 * choices, or when a Lagrangian lower bound shows it cannot beat a known feasible assignment. The
 * Pareto set is kept below {@link #MAX_STATES}; if it would grow beyond, it is thinned and the
 * answer is flagged as not proven optimal. Not thread-safe; one per solve.
 *
 * <h2>Transitions</h2>
 *
 * Given {@link Transitions}, extending a partial assignment of layers {@code 0..i-1} with option
 * {@code o} of layer {@code i} adds {@code t = transitions.ms(i, family(choice(i-1)), family(o))}
 * to the bounded latency sum and to each sum named in {@code latencySums} (the primary sum when
 * latency is the objective, the secondary when it is the tie-break after damage, the tertiary when
 * it is the last tie-break); the sums are those of {@link CostTable#latencyMs}. The future cost of
 * a partial assignment then depends on its last family, so the Pareto filter only lets a state
 * dominate another <em>with the same last family</em>: their completions by the same choices add
 * exactly the same values, so the dominated one can never come first. The alternative, comparing
 * across families after adding the worst-case difference of the next boundary, prunes more but
 * needs the worst case per pair of families and breaks the sort-order argument the tie order relies
 * on; with at most four families the per-family Pareto sets are at most four times larger. The
 * feasibility and Lagrangian lower bounds leave transitions out: a transition is at least 0 and
 * enters sums with a positive sign, and the multipliers are non-negative, so a bound without it is
 * still a lower bound. The feasible upper bound and its feasibility check include transitions, as
 * they must. The {@link #MAX_STATES} cap counts the states of all families together, and thinning
 * still marks the answer as not proven optimal. Without transitions, families are ignored and the
 * solver is the purely additive one. With {@code alpha > 0} an option's damage must be its primary
 * or secondary value; with {@code alpha = 0} the drop is unbounded and damage is ignored.
 */
final class ChoiceSolver {

    static final int MAX_STATES = 200_000;

    /** One precision of one layer with the sums it contributes. */
    record Option(
            Precision precision,
            double primary,
            double secondary,
            double tertiary,
            double damage,
            long bytes,
            double latency) {}

    /** A sum of an {@link Option} that a transition adds to (besides the bounded latency). */
    enum Sum {
        /** The primary sum. */
        PRIMARY,
        /** The secondary sum. */
        SECONDARY,
        /** The tertiary sum. */
        TERTIARY
    }

    /** The cost of the boundary into a layer from a layer of the previous family, at least 0. */
    interface Transitions {
        /**
         * Returns the boundary cost.
         *
         * @param layer the layer after the boundary, at least 1
         * @param from the family of layer {@code layer - 1}'s choice
         * @param to the family of this layer's choice
         * @return the cost, finite and at least 0
         */
        double ms(int layer, PrecisionFamily from, PrecisionFamily to);
    }

    /** The solver's answer. */
    record Solution(Precision[] choice, boolean exact) {}

    /** A partial assignment of layers {@code 0..i}. */
    private record State(
            double primary,
            double secondary,
            double tertiary,
            double damage,
            long bytes,
            double latency,
            State parent,
            Option option,
            int parentRank) {}

    private final List<Option[]> layers = new ArrayList<>();
    private final double alpha;
    private final double maxDrop;
    private final long maxBytes;
    private final double maxLatency;
    private final boolean bytesBounded;
    private final boolean latencyBounded;
    private final int n;
    private final double[] sufDamage;
    private final long[] sufBytes;
    private final double[] sufLatency;
    private final double[] capacity = new double[3];
    private final double[] lambda = new double[3];
    private double[] sufLagrangian;
    private final boolean transitionAware;
    private final boolean[] inSum = new boolean[3];

    /** [layer][from family][to family] boundary cost into the layer; null without transitions. */
    private final double[][][] boundary;

    ChoiceSolver(
            List<List<Option>> options,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency) {
        this(options, alpha, maxDrop, maxBytes, maxLatency, null, EnumSet.noneOf(Sum.class));
    }

    /**
     * Creates a solver whose latencies include boundary costs.
     *
     * @param options per layer in model order, its options
     * @param alpha drop per unit of damage
     * @param maxDrop the drop bound
     * @param maxBytes the size bound, {@link Long#MAX_VALUE} for none
     * @param maxLatency the latency bound, +infinity for none
     * @param transitions the boundary costs, or null for none (purely additive)
     * @param latencySums the sums that are latencies and so also carry the boundary costs
     * @throws IllegalArgumentException if a boundary cost is negative or not finite
     */
    ChoiceSolver(
            List<List<Option>> options,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency,
            Transitions transitions,
            Set<Sum> latencySums) {
        this.alpha = alpha;
        this.maxDrop = maxDrop;
        this.maxBytes = maxBytes;
        this.maxLatency = maxLatency;
        this.bytesBounded = maxBytes != Long.MAX_VALUE;
        this.latencyBounded = maxLatency != Double.POSITIVE_INFINITY;
        this.n = options.size();
        for (List<Option> opts : options) {
            for (Option o : opts) {
                if (alpha > 0 && o.damage != o.primary && o.damage != o.secondary) {
                    throw new IllegalArgumentException(
                            "damage must be the primary or secondary value: " + o);
                }
            }
            Option[] sorted = opts.toArray(new Option[0]);
            Arrays.sort(sorted, Comparator.comparingInt(o -> -o.precision.fidelityRank()));
            layers.add(sorted);
        }
        sufDamage = new double[n + 1];
        sufBytes = new long[n + 1];
        sufLatency = new double[n + 1];
        for (int i = n - 1; i >= 0; i--) {
            double d = Double.POSITIVE_INFINITY;
            long b = Long.MAX_VALUE;
            double l = Double.POSITIVE_INFINITY;
            for (Option o : layers.get(i)) {
                d = Math.min(d, o.damage);
                b = Math.min(b, o.bytes);
                l = Math.min(l, o.latency);
            }
            sufDamage[i] = sufDamage[i + 1] + d;
            sufBytes[i] = sufBytes[i + 1] + b;
            sufLatency[i] = sufLatency[i + 1] + l;
        }
        capacity[0] = alpha > 0 ? maxDrop / alpha : Double.POSITIVE_INFINITY;
        capacity[1] = bytesBounded ? (double) maxBytes : Double.POSITIVE_INFINITY;
        capacity[2] = maxLatency;
        this.transitionAware = transitions != null;
        for (Sum sum : latencySums) {
            inSum[sum.ordinal()] = true;
        }
        if (transitionAware) {
            int f = PrecisionFamily.values().length;
            boundary = new double[n][f][f];
            for (int i = 1; i < n; i++) {
                for (Option from : layers.get(i - 1)) {
                    for (Option to : layers.get(i)) {
                        PrecisionFamily a = from.precision.family();
                        PrecisionFamily b = to.precision.family();
                        double t = transitions.ms(i, a, b);
                        if (!Double.isFinite(t) || t < 0) {
                            throw new IllegalArgumentException(
                                    "transition into layer "
                                            + i
                                            + " from "
                                            + a
                                            + " to "
                                            + b
                                            + " was "
                                            + t
                                            + ", must be finite and at least 0");
                        }
                        boundary[i][a.ordinal()][b.ordinal()] = t;
                    }
                }
            }
        } else {
            boundary = null;
        }
    }

    /** The boundary cost into layer {@code i} taking option {@code o} after {@code prev}. */
    private double transition(int i, Option prev, Option o) {
        if (!transitionAware || prev == null) {
            return 0.0;
        }
        return boundary[i][prev.precision.family().ordinal()][o.precision.family().ordinal()];
    }

    /** The Pareto class of a state: its last family when boundaries cost, else one class. */
    private int family(State s) {
        return transitionAware ? s.option.precision.family().ordinal() : 0;
    }

    /**
     * Solves.
     *
     * @return the first feasible assignment in the total order, or null if none is feasible
     */
    Solution solve() {
        chooseMultipliers();
        double upper = feasibleUpperBound();
        boolean exact = true;
        List<State> states = new ArrayList<>();
        states.add(new State(0, 0, 0, 0, 0, 0, null, null, 0));
        for (int i = 0; i < n; i++) {
            List<State> next = new ArrayList<>();
            for (int s = 0; s < states.size(); s++) {
                State st = states.get(s);
                for (Option o : layers.get(i)) {
                    double t = transition(i, st.option, o);
                    State c =
                            new State(
                                    st.primary + o.primary + (inSum[0] ? t : 0.0),
                                    st.secondary + o.secondary + (inSum[1] ? t : 0.0),
                                    st.tertiary + o.tertiary + (inSum[2] ? t : 0.0),
                                    st.damage + o.damage,
                                    st.bytes + o.bytes,
                                    st.latency + o.latency + t,
                                    st,
                                    o,
                                    s);
                    if (infeasible(c, i + 1) || lowerBound(c, i + 1) > upper) {
                        continue;
                    }
                    next.add(c);
                }
            }
            // states are in rank order (rank = index); children of one parent are added in
            // descending fidelity, so (parentRank, fidelity) order is the prefix order by fidelity
            next.sort(
                    Comparator.comparingDouble(State::primary)
                            .thenComparingDouble(State::secondary)
                            .thenComparingDouble(State::tertiary)
                            .thenComparingInt(State::parentRank)
                            .thenComparingInt(c -> -c.option.precision.fidelityRank()));
            List<State> kept = paretoFilter(next);
            if (kept.size() > MAX_STATES) {
                List<State> thinned = new ArrayList<>(MAX_STATES);
                double step = (double) kept.size() / MAX_STATES;
                for (int k = 0; k < MAX_STATES; k++) {
                    thinned.add(kept.get((int) (k * step)));
                }
                kept = thinned;
                exact = false;
            }
            // re-rank in prefix order by fidelity (parent rank, then higher fidelity)
            kept.sort(
                    Comparator.comparingInt(State::parentRank)
                            .thenComparingInt(c -> -c.option.precision.fidelityRank()));
            states = kept;
            if (states.isEmpty()) {
                return null;
            }
        }
        State best = null;
        int bestRank = -1;
        for (int r = 0; r < states.size(); r++) {
            State s = states.get(r);
            if (best == null || before(s, r, best, bestRank)) {
                best = s;
                bestRank = r;
            }
        }
        Precision[] choice = new Precision[n];
        State s = best;
        for (int i = n - 1; i >= 0; i--) {
            choice[i] = s.option.precision;
            s = s.parent;
        }
        return new Solution(choice, exact);
    }

    private static boolean before(State a, int rankA, State b, int rankB) {
        int c = Double.compare(a.primary, b.primary);
        if (c == 0) {
            c = Double.compare(a.secondary, b.secondary);
        }
        if (c == 0) {
            c = Double.compare(a.tertiary, b.tertiary);
        }
        if (c == 0) {
            c = Integer.compare(rankA, rankB);
        }
        return c < 0;
    }

    private boolean infeasible(State c, int from) {
        return alpha * (c.damage + sufDamage[from]) > maxDrop
                || c.bytes + sufBytes[from] > maxBytes
                || c.latency + sufLatency[from] > maxLatency;
    }

    /**
     * Keeps the states no earlier state of the same class ({@link #family}) dominates. The input is
     * sorted so that a dominating state always comes first; states equal in every compared sum keep
     * the first (smaller tertiary sum, then higher fidelity in prefix order). The result keeps the
     * input order.
     */
    private List<State> paretoFilter(List<State> sorted) {
        List<State> kept = new ArrayList<>();
        int classes = PrecisionFamily.values().length;
        if (!bytesBounded && !latencyBounded) {
            double[] minSecondary = new double[classes];
            Arrays.fill(minSecondary, Double.POSITIVE_INFINITY);
            for (State s : sorted) {
                int f = family(s);
                if (s.secondary < minSecondary[f]) {
                    kept.add(s);
                    minSecondary[f] = s.secondary;
                }
            }
            return kept;
        }
        List<List<State>> byClass = new ArrayList<>();
        for (int f = 0; f < classes; f++) {
            byClass.add(new ArrayList<>());
        }
        for (State s : sorted) {
            boolean dominated = false;
            List<State> same = byClass.get(family(s));
            for (int k = same.size() - 1; k >= 0; k--) {
                State q = same.get(k);
                if (q.secondary <= s.secondary
                        && (!bytesBounded || q.bytes <= s.bytes)
                        && (!latencyBounded || q.latency <= s.latency)
                        && q.damage <= s.damage) {
                    dominated = true;
                    break;
                }
            }
            if (!dominated) {
                kept.add(s);
                same.add(s);
            }
        }
        return kept;
    }

    // ------------------------------------------------------------ Lagrangian bounds

    private static double weight(Option o, int k) {
        return k == 0 ? o.damage : k == 1 ? o.bytes : o.latency;
    }

    private double relaxed(Option o, double[] lam) {
        double v = o.primary;
        for (int k = 0; k < 3; k++) {
            if (lam[k] > 0) {
                v += lam[k] * weight(o, k) / capacity[k];
            }
        }
        return v;
    }

    private Option argmin(Option[] opts, double[] lam) {
        Option arg = null;
        double best = Double.POSITIVE_INFINITY;
        for (Option o : opts) {
            double v = relaxed(o, lam);
            if (v < best) {
                best = v;
                arg = o;
            }
        }
        return arg;
    }

    /** The dual's slope in multiplier k: normalised use by the relaxed optimum, minus 1. */
    private double slope(int k, double value) {
        double[] lam = lambda.clone();
        lam[k] = value;
        double use = 0;
        for (Option[] opts : layers) {
            use += weight(argmin(opts, lam), k) / capacity[k];
        }
        return use - 1;
    }

    private double dual(double[] lam) {
        double v = 0;
        for (Option[] opts : layers) {
            v += relaxed(argmin(opts, lam), lam);
        }
        for (int k = 0; k < 3; k++) {
            v -= lam[k];
        }
        return v;
    }

    /**
     * Picks non-negative multipliers by coordinate-wise bisection on the slope of the concave dual.
     * Any non-negative multipliers give a valid lower bound; good ones a tight one.
     */
    private void chooseMultipliers() {
        double scale = 1;
        for (Option[] opts : layers) {
            for (Option o : opts) {
                scale += Math.abs(o.primary);
            }
        }
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < 3; k++) {
                if (!Double.isFinite(capacity[k]) || capacity[k] <= 0) {
                    continue;
                }
                double lo = 0;
                double hi = scale;
                for (int e = 0; e < 60 && slope(k, hi) > 0; e++) {
                    hi *= 2;
                }
                for (int it = 0; it < 50; it++) {
                    double mid = (lo + hi) / 2;
                    if (slope(k, mid) > 0) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                double[] a = lambda.clone();
                a[k] = lo;
                double[] b = lambda.clone();
                b[k] = hi;
                double[] z = lambda.clone();
                z[k] = 0;
                double va = dual(a);
                double vb = dual(b);
                double vz = dual(z);
                lambda[k] = vz >= va && vz >= vb ? 0 : va >= vb ? lo : hi;
            }
        }
        sufLagrangian = new double[n + 1];
        for (int i = n - 1; i >= 0; i--) {
            sufLagrangian[i] =
                    sufLagrangian[i + 1] + relaxed(argmin(layers.get(i), lambda), lambda);
        }
    }

    /**
     * A lower bound on the primary sum of any feasible completion of a partial assignment of the
     * first {@code from} layers, with a relative margin for rounding so that ties are never cut.
     */
    private double lowerBound(State c, int from) {
        double lb = c.primary + sufLagrangian[from];
        double[] used = {c.damage, c.bytes, c.latency};
        for (int k = 0; k < 3; k++) {
            if (lambda[k] > 0) {
                lb -= lambda[k] * (capacity[k] - used[k]) / capacity[k];
            }
        }
        return lb - 1e-9 * (Math.abs(lb) + 1);
    }

    /**
     * The primary sum of some feasible assignment (the relaxed optimum for slightly larger
     * multipliers, when it is feasible), or +infinity.
     */
    private double feasibleUpperBound() {
        double best = Double.POSITIVE_INFINITY;
        for (double f : new double[] {1.0, 1.0 + 1e-6, 1.01, 1.1, 2.0}) {
            double[] lam = lambda.clone();
            for (int k = 0; k < 3; k++) {
                lam[k] *= f;
            }
            double p = 0;
            double d = 0;
            long b = 0;
            double l = 0;
            Option prev = null;
            for (int i = 0; i < n; i++) {
                Option o = argmin(layers.get(i), lam);
                double t = transition(i, prev, o);
                p += o.primary + (inSum[0] ? t : 0.0);
                d += o.damage;
                b += o.bytes;
                l += o.latency + t;
                prev = o;
            }
            if (alpha * d <= maxDrop && b <= maxBytes && l <= maxLatency) {
                best = Math.min(best, p);
            }
        }
        return best;
    }
}
