package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import org.djlquant.QuantizationException;

/**
 * Per layer and precision, the measured latency and size, and optionally per layer and {@link
 * PrecisionFamily} the round trip of its input through that family. Immutable and thread-safe.
 *
 * <p>The latency of an assignment ({@link #latencyMs}) is the sum of its layers' latencies plus a
 * transition cost per boundary between adjacent layers (in model order) of different families:
 *
 * <pre>
 *   latency(a)      = Σ_i cost(i, a(i)) + Σ_{i ≥ 1} transition(i, fam(a(i−1)), fam(a(i)))
 *   transition(i, A, B) = 0 if A = B, else (roundTrip(i, A) + roundTrip(i, B)) / 2,
 *   roundTrip(i, FLOAT32) = 0
 * </pre>
 *
 * A boundary leaves family {@code A} and enters {@code B}; a round trip is one entry and one exit,
 * so over a chain every run of layers in a non-float32 family is charged one round trip of that
 * family (at the input shapes of its two ends). Layers run in isolation convert their own inputs
 * and outputs; a whole model that keeps bfloat16 or quantized activations between layers of one
 * family does not, which is what the transition charges. A table without round trips charges
 * nothing for boundaries (the purely additive model). A table measured layer by layer in isolation
 * can be made to agree with whole-model runs with {@link LatencyCalibration#calibrated()}.
 */
public final class CostTable {

    private final Map<String, Map<Precision, LayerCost>> costs;
    private final Map<String, Map<PrecisionFamily, Double>> roundTrips;

    private CostTable(
            Map<String, Map<Precision, LayerCost>> costs,
            Map<String, Map<PrecisionFamily, Double>> roundTrips) {
        Map<String, Map<Precision, LayerCost>> copy = new LinkedHashMap<>();
        costs.forEach((k, v) -> copy.put(k, Collections.unmodifiableMap(new EnumMap<>(v))));
        this.costs = Collections.unmodifiableMap(copy);
        Map<String, Map<PrecisionFamily, Double>> rt = new LinkedHashMap<>();
        roundTrips.forEach((k, v) -> rt.put(k, Collections.unmodifiableMap(new EnumMap<>(v))));
        this.roundTrips = Collections.unmodifiableMap(rt);
    }

    /**
     * Starts a table.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Measures every allowed precision of every layer, and FP32 (the search's baseline), with a
     * cost model, in model order.
     *
     * @param rules the layers and their allowed precisions
     * @param model the cost model
     * @return the table
     * @throws QuantizationException if a measurement fails (the message names the layer)
     */
    public static CostTable measure(ResolvedRules rules, CostModel model)
            throws QuantizationException {
        Builder b = builder();
        for (LayerInfo layer : rules.layers()) {
            Set<Precision> wanted = EnumSet.of(Precision.FP32);
            wanted.addAll(rules.allowed(layer.path()));
            for (Precision p : wanted) {
                LayerCost cost;
                try {
                    cost = model.measure(layer, p);
                } catch (QuantizationException | RuntimeException e) {
                    throw new QuantizationException(
                            "measuring the cost of layer " + layer.path() + " at " + p + " failed",
                            e);
                }
                if (cost == null) {
                    throw new QuantizationException(
                            "cost model returned no cost for layer " + layer.path() + " at " + p);
                }
                b.put(layer.path(), p, cost);
            }
        }
        Set<PrecisionFamily> families = EnumSet.noneOf(PrecisionFamily.class);
        for (LayerInfo layer : rules.layers()) {
            rules.allowed(layer.path()).forEach(p -> families.add(p.family()));
        }
        families.remove(PrecisionFamily.FLOAT32);
        List<LayerInfo> layers = rules.layers();
        for (int i = 1; i < layers.size(); i++) {
            LayerInfo layer = layers.get(i);
            for (PrecisionFamily f : families) {
                OptionalDouble ms;
                try {
                    ms = model.roundTripMs(layer, f);
                } catch (QuantizationException | RuntimeException e) {
                    throw new QuantizationException(
                            "measuring the "
                                    + f
                                    + " round trip of the input of layer "
                                    + layer.path()
                                    + " failed",
                            e);
                }
                if (ms.isEmpty()) {
                    if (b.roundTrips.isEmpty()) {
                        // the model measures no conversions: boundaries are free
                        return b.build();
                    }
                    throw new QuantizationException(
                            "cost model measured some round trips but none for "
                                    + f
                                    + " at layer "
                                    + layer.path());
                }
                b.putRoundTrip(layer.path(), f, ms.getAsDouble());
            }
        }
        return b.build();
    }

    /**
     * Tells whether the table holds round trips, so that boundaries between families cost time.
     *
     * @return true if any round trip was recorded
     */
    public boolean hasTransitions() {
        return !roundTrips.isEmpty();
    }

    /**
     * Returns the recorded round trip of a layer's input through a family.
     *
     * @param path the layer path
     * @param family the family; {@link PrecisionFamily#FLOAT32} is always 0
     * @return the latency in ms
     * @throws IllegalArgumentException naming the layer and family if the table has round trips but
     *     not this one
     */
    public double roundTripMs(String path, PrecisionFamily family) {
        if (family == PrecisionFamily.FLOAT32 || roundTrips.isEmpty()) {
            return 0.0;
        }
        Map<PrecisionFamily, Double> row = roundTrips.get(path);
        if (row == null || !row.containsKey(family)) {
            throw new IllegalArgumentException(
                    "no "
                            + family
                            + " round trip for the input of layer "
                            + path
                            + "; measured: "
                            + (row == null ? "nothing for this layer" : row.keySet()));
        }
        return row.get(family);
    }

    /**
     * Returns the cost of the boundary into a layer from a layer of another family: 0 if {@code
     * from == to} or the table has no round trips, else {@code (roundTrip(path, from) +
     * roundTrip(path, to)) / 2}.
     *
     * @param path the layer after the boundary
     * @param from the family of the layer before it
     * @param to the family of this layer
     * @return the latency in ms
     * @throws IllegalArgumentException naming the layer and family if a round trip is missing
     */
    public double transitionMs(String path, PrecisionFamily from, PrecisionFamily to) {
        if (from == to || roundTrips.isEmpty()) {
            return 0.0;
        }
        return (roundTripMs(path, from) + roundTripMs(path, to)) / 2;
    }

    /**
     * Returns the transition costs of an assignment: the sum of {@link #transitionMs} over adjacent
     * layers in the assignment's (model) order.
     *
     * @param assignment layer path to precision, in model order
     * @return the latency in ms
     * @throws IllegalArgumentException naming the layer and family if a round trip is missing
     */
    public double transitionsMs(Map<String, Precision> assignment) {
        double s = 0;
        Precision prev = null;
        for (Map.Entry<String, Precision> e : assignment.entrySet()) {
            if (prev != null) {
                s += transitionMs(e.getKey(), prev.family(), e.getValue().family());
            }
            prev = e.getValue();
        }
        return s;
    }

    /**
     * Returns the latency of an assignment: its layers' latencies plus its {@link #transitionsMs}.
     *
     * @param assignment layer path to precision, in model order
     * @return the latency in ms
     * @throws IllegalArgumentException naming what is missing
     */
    public double latencyMs(Map<String, Precision> assignment) {
        double s = 0;
        for (Map.Entry<String, Precision> e : assignment.entrySet()) {
            s += cost(e.getKey(), e.getValue()).latencyMs();
        }
        return s + transitionsMs(assignment);
    }

    /**
     * Returns the recorded round trips, layer path to family to ms.
     *
     * @return an unmodifiable map, empty if none
     */
    public Map<String, Map<PrecisionFamily, Double>> roundTrips() {
        return roundTrips;
    }

    /**
     * Returns the cost of a layer in a precision.
     *
     * @param path the layer path
     * @param precision the precision
     * @return the cost
     * @throws IllegalArgumentException naming the layer, precision and what was measured
     */
    public LayerCost cost(String path, Precision precision) {
        Map<Precision, LayerCost> row = costs.get(path);
        if (row == null || !row.containsKey(precision)) {
            throw new IllegalArgumentException(
                    "no cost for layer "
                            + path
                            + " at "
                            + precision
                            + "; measured: "
                            + (row == null ? "nothing for this layer" : row.keySet()));
        }
        return row.get(precision);
    }

    /**
     * Tells whether a cost was measured.
     *
     * @param path the layer path
     * @param precision the precision
     * @return true if present
     */
    public boolean has(String path, Precision precision) {
        Map<Precision, LayerCost> row = costs.get(path);
        return row != null && row.containsKey(precision);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "CostTable" + costs + (roundTrips.isEmpty() ? "" : " roundTrips " + roundTrips);
    }

    /** Collects costs. */
    public static final class Builder {
        private final Map<String, Map<Precision, LayerCost>> costs = new LinkedHashMap<>();
        private final Map<String, Map<PrecisionFamily, Double>> roundTrips = new LinkedHashMap<>();

        private Builder() {}

        /**
         * Records the round trip of a layer's input through a family.
         *
         * @param path the layer path
         * @param family a family other than {@link PrecisionFamily#FLOAT32}
         * @param ms the latency in ms, finite and at least 0
         * @return this builder
         * @throws IllegalArgumentException naming the layer, family and value if invalid
         */
        public Builder putRoundTrip(String path, PrecisionFamily family, double ms) {
            if (family == null || family == PrecisionFamily.FLOAT32) {
                throw new IllegalArgumentException(
                        "round trip family of layer "
                                + path
                                + " was "
                                + family
                                + ", must be one of BFLOAT16, FLOAT16, INT8_ACTIVATION");
            }
            if (!Double.isFinite(ms) || ms < 0) {
                throw new IllegalArgumentException(
                        family
                                + " round trip of layer "
                                + path
                                + " was "
                                + ms
                                + " ms, must be finite and at least 0");
            }
            roundTrips
                    .computeIfAbsent(path, k -> new EnumMap<>(PrecisionFamily.class))
                    .put(family, ms);
            return this;
        }

        /**
         * Copies every round trip of another table.
         *
         * @param other the table
         * @return this builder
         */
        public Builder putRoundTrips(CostTable other) {
            other.roundTrips.forEach((path, m) -> m.forEach((f, v) -> putRoundTrip(path, f, v)));
            return this;
        }

        /**
         * Records a cost.
         *
         * @param path the layer path
         * @param precision the precision
         * @param cost the cost
         * @return this builder
         */
        public Builder put(String path, Precision precision, LayerCost cost) {
            if (cost == null) {
                throw new IllegalArgumentException(
                        "cost of layer " + path + " at " + precision + " must not be null");
            }
            costs.computeIfAbsent(path, k -> new EnumMap<>(Precision.class)).put(precision, cost);
            return this;
        }

        /**
         * Records a cost.
         *
         * @param path the layer path
         * @param precision the precision
         * @param latencyMs the latency in milliseconds
         * @param bytes the size in bytes
         * @return this builder
         */
        public Builder put(String path, Precision precision, double latencyMs, long bytes) {
            return put(path, precision, new LayerCost(latencyMs, bytes));
        }

        /**
         * Builds the immutable table.
         *
         * @return the table
         */
        public CostTable build() {
            return new CostTable(costs, roundTrips);
        }
    }
}
