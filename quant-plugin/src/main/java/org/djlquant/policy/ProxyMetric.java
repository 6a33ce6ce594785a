package org.djlquant.policy;

/**
 * The per-layer error proxy a {@link SensitivityTable} holds, and how it becomes an additive
 * "damage" (zero means no error, larger is worse) that the search sums over layers.
 */
public enum ProxyMetric {
    /**
     * Signal-to-quantization-noise ratio of the model output in dB (higher is better). Damage is
     * the relative noise power {@code 10^(-sqnr/10)}; noise powers of independent errors add.
     */
    SQNR_DB,
    /** Cosine similarity of the output to FP32's, in [-1, 1]. Damage is {@code 1 - cosine}. */
    COSINE,
    /** KL divergence of the output distribution from FP32's, at least 0. Damage is the value. */
    KL,
    /** Mean squared error of the output against FP32's, at least 0. Damage is the value. */
    MSE,
    /**
     * Drop of the task metric itself (FP32 minus quantized). Damage is the value; negative drops
     * (within measurement noise, quantization helped) count as zero damage.
     */
    METRIC_DROP;

    /**
     * Checks a measured value and converts it to damage.
     *
     * @param value the measured proxy value
     * @param where the layer and precision, for the message
     * @return the damage, at least 0
     * @throws IllegalArgumentException if the value is NaN, infinite (except SQNR +inf) or out of
     *     the metric's range
     */
    public double damage(double value, String where) {
        if (Double.isNaN(value) || (Double.isInfinite(value) && !(this == SQNR_DB && value > 0))) {
            throw new IllegalArgumentException(
                    this + " of " + where + " was " + value + ", must be a finite number");
        }
        switch (this) {
            case SQNR_DB:
                return Math.pow(10.0, -value / 10.0);
            case COSINE:
                if (value < -1.0 || value > 1.0) {
                    throw new IllegalArgumentException(
                            "COSINE of " + where + " was " + value + ", must be in [-1, 1]");
                }
                return 1.0 - value;
            case KL:
            case MSE:
                if (value < 0) {
                    throw new IllegalArgumentException(
                            this + " of " + where + " was " + value + ", must be at least 0");
                }
                return value;
            case METRIC_DROP:
                return Math.max(0.0, value);
            default:
                throw new AssertionError(this);
        }
    }
}
