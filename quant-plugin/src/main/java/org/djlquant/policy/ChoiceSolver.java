package org.djlquant.policy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Exact branch-and-bound over one choice per layer (a multiple-choice knapsack): minimise the sum
 * of a primary value subject to {@code alpha * sum(damage) <= maxDrop}, {@code sum(bytes) <=
 * maxBytes} and {@code sum(latency) <= maxLatency}.
 *
 * <p>Assignments are ordered by primary sum, then secondary sum, then tertiary sum, then layer by
 * layer in model order by higher {@link Precision#fidelityRank()}; the solver returns the first in
 * this order (a strict total order, so ties are broken deterministically). Sums are accumulated in
 * model order. Options dominated within their layer are dropped first; the search visits at most
 * {@link #NODE_LIMIT} nodes and says if it stopped early. Not thread-safe; one per solve.
 */
final class ChoiceSolver {

    static final long NODE_LIMIT = 20_000_000L;

    /** One precision of one layer with the sums it contributes. */
    record Option(
            Precision precision,
            double primary,
            double secondary,
            double tertiary,
            double damage,
            long bytes,
            double latency) {

        boolean noWorseThan(Option o) {
            return primary <= o.primary
                    && secondary <= o.secondary
                    && tertiary <= o.tertiary
                    && damage <= o.damage
                    && bytes <= o.bytes
                    && latency <= o.latency;
        }

        boolean sameValues(Option o) {
            return primary == o.primary
                    && secondary == o.secondary
                    && tertiary == o.tertiary
                    && damage == o.damage
                    && bytes == o.bytes
                    && latency == o.latency;
        }
    }

    /** The solver's answer. */
    record Solution(Precision[] choice, boolean exact) {}

    private final List<Option[]> layers;
    private final double alpha;
    private final double maxDrop;
    private final long maxBytes;
    private final double maxLatency;
    private final int n;
    private final double[] sufPrimary;
    private final double[] sufSecondary;
    private final double[] sufDamage;
    private final long[] sufBytes;
    private final double[] sufLatency;

    private Option[] current;
    private Option[] best;
    private double[] bestSums;
    private long nodes;

    ChoiceSolver(
            List<List<Option>> options,
            double alpha,
            double maxDrop,
            long maxBytes,
            double maxLatency) {
        this.alpha = alpha;
        this.maxDrop = maxDrop;
        this.maxBytes = maxBytes;
        this.maxLatency = maxLatency;
        this.n = options.size();
        this.layers = new ArrayList<>();
        for (List<Option> opts : options) {
            layers.add(prune(opts));
        }
        sufPrimary = new double[n + 1];
        sufSecondary = new double[n + 1];
        sufDamage = new double[n + 1];
        sufBytes = new long[n + 1];
        sufLatency = new double[n + 1];
        for (int i = n - 1; i >= 0; i--) {
            double p = Double.POSITIVE_INFINITY;
            double s = Double.POSITIVE_INFINITY;
            double d = Double.POSITIVE_INFINITY;
            long b = Long.MAX_VALUE;
            double l = Double.POSITIVE_INFINITY;
            for (Option o : layers.get(i)) {
                p = Math.min(p, o.primary);
                s = Math.min(s, o.secondary);
                d = Math.min(d, o.damage);
                b = Math.min(b, o.bytes);
                l = Math.min(l, o.latency);
            }
            sufPrimary[i] = sufPrimary[i + 1] + p;
            sufSecondary[i] = sufSecondary[i + 1] + s;
            sufDamage[i] = sufDamage[i + 1] + d;
            sufBytes[i] = sufBytes[i + 1] + b;
            sufLatency[i] = sufLatency[i + 1] + l;
        }
    }

    /**
     * Drops options another option of the same layer is no worse than (and better or equal with
     * higher fidelity).
     */
    private static Option[] prune(List<Option> opts) {
        List<Option> kept = new ArrayList<>();
        for (Option a : opts) {
            boolean dominated = false;
            for (Option b : opts) {
                if (a == b || !b.noWorseThan(a)) {
                    continue;
                }
                if (!b.sameValues(a) || b.precision.fidelityRank() > a.precision.fidelityRank()) {
                    dominated = true;
                    break;
                }
            }
            if (!dominated) {
                kept.add(a);
            }
        }
        kept.sort(
                Comparator.comparingDouble(Option::primary)
                        .thenComparingDouble(Option::secondary)
                        .thenComparing(o -> -o.precision.fidelityRank()));
        return kept.toArray(new Option[0]);
    }

    /**
     * Solves.
     *
     * @return the best assignment, or null if none meets the constraints
     */
    Solution solve() {
        current = new Option[n];
        best = null;
        bestSums = null;
        nodes = 0;
        dfs(0, 0.0, 0.0, 0.0, 0.0, 0L, 0.0);
        if (best == null) {
            return null;
        }
        Precision[] choice = new Precision[n];
        for (int i = 0; i < n; i++) {
            choice[i] = best[i].precision;
        }
        return new Solution(choice, nodes <= NODE_LIMIT);
    }

    private void dfs(
            int i,
            double primary,
            double secondary,
            double tertiary,
            double damage,
            long bytes,
            double latency) {
        if (++nodes > NODE_LIMIT) {
            return;
        }
        if (i == n) {
            double[] sums = {primary, secondary, tertiary};
            if (best == null || better(sums, current, bestSums, best)) {
                best = current.clone();
                bestSums = sums;
            }
            return;
        }
        for (Option o : layers.get(i)) {
            double p = primary + o.primary;
            double s = secondary + o.secondary;
            double d = damage + o.damage;
            long b = bytes + o.bytes;
            double l = latency + o.latency;
            if (alpha * (d + sufDamage[i + 1]) > maxDrop
                    || b + sufBytes[i + 1] > maxBytes
                    || l + sufLatency[i + 1] > maxLatency) {
                continue;
            }
            if (best != null) {
                double lb = p + sufPrimary[i + 1];
                if (lb > bestSums[0]
                        || (lb == bestSums[0] && s + sufSecondary[i + 1] > bestSums[1])) {
                    continue;
                }
            }
            current[i] = o;
            dfs(i + 1, p, s, tertiary + o.tertiary, d, b, l);
            if (nodes > NODE_LIMIT) {
                return;
            }
        }
    }

    /** The documented total order: sums, then fidelity layer by layer in model order. */
    static boolean better(double[] sums, Option[] a, double[] bestSums, Option[] b) {
        for (int k = 0; k < 3; k++) {
            int c = Double.compare(sums[k], bestSums[k]);
            if (c != 0) {
                return c < 0;
            }
        }
        for (int i = 0; i < a.length; i++) {
            int c = Integer.compare(a[i].precision.fidelityRank(), b[i].precision.fidelityRank());
            if (c != 0) {
                return c > 0;
            }
        }
        return false;
    }
}
