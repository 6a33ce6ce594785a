package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.djlquant.QuantizationException;

/**
 * Per layer and precision, the measured latency and size. Immutable and thread-safe. The search
 * assumes costs add up over layers (a model's latency is a constant plus the sum of its layers'). A
 * table measured layer by layer in isolation can be made to agree with whole-model runs with {@link
 * LatencyCalibration#calibrated()}.
 */
public final class CostTable {

    private final Map<String, Map<Precision, LayerCost>> costs;

    private CostTable(Map<String, Map<Precision, LayerCost>> costs) {
        Map<String, Map<Precision, LayerCost>> copy = new LinkedHashMap<>();
        costs.forEach((k, v) -> copy.put(k, Collections.unmodifiableMap(new EnumMap<>(v))));
        this.costs = Collections.unmodifiableMap(copy);
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
        return b.build();
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

    @Override
    public String toString() {
        return "CostTable" + costs;
    }

    /** Collects costs. */
    public static final class Builder {
        private final Map<String, Map<Precision, LayerCost>> costs = new LinkedHashMap<>();

        private Builder() {}

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
            return new CostTable(costs);
        }
    }
}
