package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;

/**
 * Per layer and precision, the error proxy measured when that layer alone is quantized (all others
 * in FP32), and optionally the proxy measured with every layer quantized except that one. Immutable
 * and thread-safe.
 *
 * <p>The search uses {@link #damage(String, Precision)}: the proxy converted by {@link
 * ProxyMetric#damage(double, String)}. It assumes damages add up over layers (see the package
 * comment). FP32 has damage 0 unless measured.
 */
public final class SensitivityTable {

    private final ProxyMetric metric;
    private final Map<String, Map<Precision, Double>> values;
    private final Map<String, Double> allButThis;

    private SensitivityTable(
            ProxyMetric metric,
            Map<String, Map<Precision, Double>> values,
            Map<String, Double> allButThis) {
        this.metric = metric;
        Map<String, Map<Precision, Double>> copy = new LinkedHashMap<>();
        values.forEach((k, v) -> copy.put(k, Collections.unmodifiableMap(new EnumMap<>(v))));
        this.values = Collections.unmodifiableMap(copy);
        this.allButThis = Collections.unmodifiableMap(new LinkedHashMap<>(allButThis));
    }

    /**
     * Starts a table.
     *
     * @param metric the proxy all values are expressed in
     * @return a new builder
     */
    public static Builder builder(ProxyMetric metric) {
        if (metric == null) {
            throw new IllegalArgumentException("metric must not be null");
        }
        return new Builder(metric);
    }

    /**
     * Returns the proxy metric.
     *
     * @return the metric
     */
    public ProxyMetric metric() {
        return metric;
    }

    /**
     * Returns the layers with at least one measurement.
     *
     * @return the paths in insertion order
     */
    public Set<String> layers() {
        return values.keySet();
    }

    /**
     * Tells whether a value was measured.
     *
     * @param path the layer path
     * @param precision the precision
     * @return true if present
     */
    public boolean has(String path, Precision precision) {
        Map<Precision, Double> row = values.get(path);
        return row != null && row.containsKey(precision);
    }

    /**
     * Returns the measured proxy value with only this layer quantized.
     *
     * @param path the layer path
     * @param precision the precision
     * @return the value
     * @throws IllegalArgumentException naming the layer, the precision and what was measured
     */
    public double value(String path, Precision precision) {
        Map<Precision, Double> row = values.get(path);
        if (row == null || !row.containsKey(precision)) {
            throw new IllegalArgumentException(
                    "no "
                            + metric
                            + " sensitivity for layer "
                            + path
                            + " at "
                            + precision
                            + "; measured: "
                            + (row == null ? "nothing for this layer" : row.keySet()));
        }
        return row.get(precision);
    }

    /**
     * Returns the additive damage of running this layer in a precision.
     *
     * @param path the layer path
     * @param precision the precision
     * @return the damage, at least 0; 0 for an unmeasured FP32
     * @throws IllegalArgumentException if the value is missing (other than FP32)
     */
    public double damage(String path, Precision precision) {
        if (precision == Precision.FP32 && !has(path, precision)) {
            return 0.0;
        }
        return metric.damage(value(path, precision), path + " at " + precision);
    }

    /**
     * Returns the proxy measured with every other layer at its fastest allowed precision and this
     * one at its most precise allowed, if measured.
     *
     * @param path the layer path
     * @return the value, or empty
     */
    public OptionalDouble allButThis(String path) {
        Double v = allButThis.get(path);
        return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
    }

    @Override
    public String toString() {
        return "SensitivityTable[" + metric + ", " + values + ", allButThis=" + allButThis + "]";
    }

    /** Collects measurements; each is validated when put. */
    public static final class Builder {
        private final ProxyMetric metric;
        private final Map<String, Map<Precision, Double>> values = new LinkedHashMap<>();
        private final Map<String, Double> allButThis = new LinkedHashMap<>();

        private Builder(ProxyMetric metric) {
            this.metric = metric;
        }

        /**
         * Records the proxy with only this layer quantized to a precision.
         *
         * @param path the layer path
         * @param precision the precision
         * @param value the proxy value
         * @return this builder
         * @throws IllegalArgumentException if the value is invalid for the metric
         */
        public Builder put(String path, Precision precision, double value) {
            metric.damage(value, path + " at " + precision);
            values.computeIfAbsent(path, k -> new EnumMap<>(Precision.class)).put(precision, value);
            return this;
        }

        /**
         * Records the proxy with every layer quantized except this one.
         *
         * @param path the layer path
         * @param value the proxy value
         * @return this builder
         * @throws IllegalArgumentException if the value is invalid for the metric
         */
        public Builder putAllButThis(String path, double value) {
            metric.damage(value, "all layers but " + path);
            allButThis.put(path, value);
            return this;
        }

        /**
         * Builds the immutable table.
         *
         * @return the table
         */
        public SensitivityTable build() {
            return new SensitivityTable(metric, values, allButThis);
        }
    }
}
