package org.djlquant.policy;

/**
 * The measured cost of one layer in one precision.
 *
 * @param latencyMs median latency of the layer in milliseconds, finite and at least 0
 * @param bytes the layer's weight storage in bytes, at least 0
 */
public record LayerCost(double latencyMs, long bytes) {

    /**
     * Validates the fields.
     *
     * @param latencyMs median latency of the layer in milliseconds, finite and at least 0
     * @param bytes the layer's weight storage in bytes, at least 0
     * @throws IllegalArgumentException if latency is NaN, infinite or negative, or bytes negative
     */
    public LayerCost {
        if (!Double.isFinite(latencyMs) || latencyMs < 0) {
            throw new IllegalArgumentException(
                    "latencyMs was " + latencyMs + ", must be finite and at least 0");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes was " + bytes + ", must be at least 0");
        }
    }
}
