package org.djlquant.policy;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * A synthetic model: random dyadic damages and costs (exact in binary floating point, so sums have
 * no rounding and ties are exact), an evaluator whose drop is exactly {@code scale * sum(damage)},
 * and an exhaustive search to compute the true optimum independently.
 */
final class Synthetic {

    static final double BASE = 64.0;

    final List<LayerInfo> layers = new ArrayList<>();
    final ResolvedRules rules;
    final SensitivityTable sensitivity;
    final CostTable costs;
    final double scale;
    final Map<String, Map<Precision, Double>> damage = new LinkedHashMap<>();
    int calls;

    /**
     * @param n layers
     * @param precisions allowed everywhere (must include FP32 for the baseline cost)
     * @param seed random seed
     * @param scale drop per unit of damage (dyadic)
     */
    Synthetic(int n, Set<Precision> precisions, long seed, double scale) {
        this(n, precisions, seed, scale, false);
    }

    /**
     * @param n layers
     * @param precisions allowed everywhere (must include FP32 for the baseline cost)
     * @param seed random seed
     * @param scale drop per unit of damage (dyadic)
     * @param roundTrips whether to record random dyadic round trips (0 to 4 ms in quarters) into
     *     every layer after the first for every non-float32 family of {@code precisions}
     */
    Synthetic(int n, Set<Precision> precisions, long seed, double scale, boolean roundTrips) {
        Random r = new Random(seed);
        this.scale = scale;
        SensitivityTable.Builder s = SensitivityTable.builder(ProxyMetric.METRIC_DROP);
        CostTable.Builder c = CostTable.builder();
        for (int i = 0; i < n; i++) {
            String path = "encoder." + i + ".ffn";
            long params = 256L * (1 + r.nextInt(4));
            layers.add(new LayerInfo(path, "Linear", params));
            Map<Precision, Double> row = new LinkedHashMap<>();
            for (Precision p : precisions) {
                double d = p == Precision.FP32 ? 0.0 : r.nextInt(8) / 8.0 * (7 - p.fidelityRank());
                double lat = p == Precision.FP32 ? 8.0 : (1 + r.nextInt(12)) / 2.0;
                row.put(p, d);
                s.put(path, p, d);
                c.put(path, p, lat, p.estimatedBytes(params));
            }
            damage.put(path, row);
        }
        if (roundTrips) {
            for (int i = 1; i < n; i++) {
                for (Precision p : precisions) {
                    if (p.family() != PrecisionFamily.FLOAT32) {
                        c.putRoundTrip(layers.get(i).path(), p.family(), r.nextInt(17) / 4.0);
                    }
                }
            }
        }
        sensitivity = s.build();
        costs = c.build();
        rules = ResolvedRules.unrestricted(layers, BackendCapabilities.uniform("test", precisions));
    }

    double trueDrop(Map<String, Precision> a) {
        double sum = 0;
        for (LayerInfo l : layers) {
            sum += damage.get(l.path()).get(a.get(l.path()));
        }
        return scale * sum;
    }

    Evaluator evaluator() {
        return a -> {
            calls++;
            return BASE - trueDrop(a);
        };
    }

    /** The latency by {@link CostTable#latencyMs}: layers plus boundaries, in model order. */
    double latency(Map<String, Precision> a) {
        Map<String, Precision> ordered = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            ordered.put(l.path(), a.get(l.path()));
        }
        return costs.latencyMs(ordered);
    }

    long bytes(Map<String, Precision> a) {
        long s = 0;
        for (LayerInfo l : layers) {
            s += costs.cost(l.path(), a.get(l.path())).bytes();
        }
        return s;
    }

    /** Every allowed assignment, in model order. */
    List<Map<String, Precision>> all() {
        List<Map<String, Precision>> out = new ArrayList<>();
        out.add(new LinkedHashMap<>());
        for (LayerInfo l : layers) {
            List<Map<String, Precision>> next = new ArrayList<>();
            for (Map<String, Precision> partial : out) {
                for (Precision p : rules.allowed(l.path())) {
                    Map<String, Precision> m = new LinkedHashMap<>(partial);
                    m.put(l.path(), p);
                    next.add(m);
                }
            }
            out = next;
        }
        return out;
    }

    /**
     * The documented optimum by brute force: within bounds, minimal objective, then drop, then the
     * other cost, then higher fidelity layer by layer. Null if none is feasible.
     */
    Map<String, Precision> exhaustiveOptimum(
            double maxDrop, long maxBytes, double maxLatency, Objective objective) {
        Map<String, Precision> best = null;
        for (Map<String, Precision> a : all()) {
            double drop = BASE - (BASE - trueDrop(a));
            if (drop > maxDrop || bytes(a) > maxBytes || latency(a) > maxLatency) {
                continue;
            }
            if (best == null || compare(a, best, objective) < 0) {
                best = a;
            }
        }
        return best;
    }

    /** The smallest drop among assignments within the size / latency bounds. */
    double smallestDrop(long maxBytes, double maxLatency) {
        double min = Double.POSITIVE_INFINITY;
        for (Map<String, Precision> a : all()) {
            if (bytes(a) <= maxBytes && latency(a) <= maxLatency) {
                min = Math.min(min, trueDrop(a));
            }
        }
        return min;
    }

    int compare(Map<String, Precision> a, Map<String, Precision> b, Objective objective) {
        double[] ka = key(a, objective);
        double[] kb = key(b, objective);
        for (int k = 0; k < ka.length; k++) {
            int c = Double.compare(ka[k], kb[k]);
            if (c != 0) {
                return c;
            }
        }
        for (LayerInfo l : layers) {
            int c = Integer.compare(b.get(l.path()).fidelityRank(), a.get(l.path()).fidelityRank());
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    private double[] key(Map<String, Precision> a, Objective objective) {
        return objective == Objective.LATENCY
                ? new double[] {latency(a), trueDrop(a), bytes(a)}
                : new double[] {bytes(a), trueDrop(a), latency(a)};
    }

    /**
     * FP32 plus {@code count - 1} of BF16, static INT8, FP16, dynamic INT8: up to four families.
     */
    static Set<Precision> mixedFamilies(int count, Random r) {
        List<Precision> pool =
                new ArrayList<>(
                        List.of(
                                Precision.BF16,
                                Precision.INT8_STATIC,
                                Precision.FP16,
                                Precision.INT8_DYNAMIC));
        java.util.Collections.shuffle(pool, r);
        Set<Precision> out = EnumSet.of(Precision.FP32);
        out.addAll(pool.subList(0, count - 1));
        return out;
    }

    /** The FP32 size of the model. */
    long fp32Bytes() {
        long s = 0;
        for (LayerInfo l : layers) {
            s += Precision.FP32.estimatedBytes(l.params());
        }
        return s;
    }

    /** A 72-layer model with every precision allowed and continuous measured-like values. */
    record Large(ResolvedRules rules, SensitivityTable sensitivity, CostTable costs) {

        /**
         * @param seed random seed
         * @param roundTrips whether every layer after the first gets random round trips for the
         *     three non-float32 families (drawn after the layer's own values)
         */
        static Large of(long seed, boolean roundTrips) {
            Random r = new Random(seed);
            List<LayerInfo> ls = new ArrayList<>();
            SensitivityTable.Builder sb = SensitivityTable.builder(ProxyMetric.SQNR_DB);
            CostTable.Builder cb = CostTable.builder();
            for (int i = 0; i < 72; i++) {
                long params = 147456L * (1 + r.nextInt(4));
                String path = "encoder." + i;
                ls.add(new LayerInfo(path, "Linear", params));
                double base = 10 + 30 * r.nextDouble();
                for (Precision p : Precision.values()) {
                    double sqnr =
                            p == Precision.FP32
                                    ? 200
                                    : base + 6 * p.fidelityRank() + 3 * r.nextDouble();
                    sb.put(path, p, sqnr);
                    double lat =
                            params
                                    / 1e5
                                    * (p.weightBytesPerParam() / 4 + 0.2)
                                    * (0.8 + 0.4 * r.nextDouble());
                    cb.put(path, p, lat, p.estimatedBytes(params));
                }
                if (roundTrips && i > 0) {
                    for (PrecisionFamily f : PrecisionFamily.values()) {
                        if (f != PrecisionFamily.FLOAT32) {
                            cb.putRoundTrip(path, f, params / 1e5 * 0.3 * r.nextDouble());
                        }
                    }
                }
            }
            return new Large(
                    ResolvedRules.unrestricted(
                            ls, BackendCapabilities.uniform("x", EnumSet.allOf(Precision.class))),
                    sb.build(),
                    cb.build());
        }

        PolicySearch search() {
            return new PolicySearch(rules, sensitivity, costs);
        }

        /** The metric {@code 1 - 2 * damage}: drop exactly proportional to the proxy. */
        Evaluator linear() {
            return a -> {
                double d = 0;
                for (Map.Entry<String, Precision> e : a.entrySet()) {
                    d += sensitivity.damage(e.getKey(), e.getValue());
                }
                return 1.0 - 2 * d;
            };
        }
    }

    static Set<Precision> precisions(int count) {
        List<Precision> order =
                List.of(
                        Precision.FP32,
                        Precision.INT8_DYNAMIC,
                        Precision.FP16,
                        Precision.INT4_WEIGHT_ONLY);
        return EnumSet.copyOf(order.subList(0, count));
    }
}
