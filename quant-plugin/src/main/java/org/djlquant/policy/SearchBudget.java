package org.djlquant.policy;

import java.util.OptionalDouble;
import java.util.OptionalLong;

/**
 * The constraints of a budgeted search: the largest metric drop against the FP32 model, and
 * optionally the largest total size and latency, plus what to minimise.
 *
 * @param maxMetricDrop the largest allowed {@code baseline - metric}, a number at least 0
 * @param maxBytes the largest total weight bytes, if bounded (at least 0)
 * @param maxLatencyMs the largest total latency in milliseconds, if bounded (at least 0)
 * @param objective what to minimise among assignments meeting the constraints
 */
public record SearchBudget(
        double maxMetricDrop,
        OptionalLong maxBytes,
        OptionalDouble maxLatencyMs,
        Objective objective) {

    /**
     * Validates the fields.
     *
     * @param maxMetricDrop the largest allowed {@code baseline - metric}, a number at least 0
     * @param maxBytes the largest total weight bytes, if bounded (at least 0)
     * @param maxLatencyMs the largest total latency in milliseconds, if bounded (at least 0)
     * @param objective what to minimise among assignments meeting the constraints
     * @throws IllegalArgumentException naming the value and the allowed range
     */
    public SearchBudget {
        checkDrop(maxMetricDrop);
        if (maxBytes.isPresent() && maxBytes.getAsLong() < 0) {
            throw new IllegalArgumentException(
                    "maxBytes was " + maxBytes.getAsLong() + ", must be at least 0");
        }
        if (maxLatencyMs.isPresent()
                && (Double.isNaN(maxLatencyMs.getAsDouble()) || maxLatencyMs.getAsDouble() < 0)) {
            throw new IllegalArgumentException(
                    "maxLatencyMs was "
                            + maxLatencyMs.getAsDouble()
                            + ", must be a number at least 0");
        }
        if (objective == null) {
            throw new IllegalArgumentException("objective must be one of LATENCY, SIZE");
        }
    }

    /**
     * A budget bounding only the metric drop, minimising latency.
     *
     * @param maxMetricDrop the largest allowed drop, at least 0
     * @return the budget
     */
    public static SearchBudget ofDrop(double maxMetricDrop) {
        return new SearchBudget(
                maxMetricDrop, OptionalLong.empty(), OptionalDouble.empty(), Objective.LATENCY);
    }

    /**
     * Returns this budget with a size bound.
     *
     * @param bytes the largest total bytes
     * @return a new budget
     */
    public SearchBudget withMaxBytes(long bytes) {
        return new SearchBudget(maxMetricDrop, OptionalLong.of(bytes), maxLatencyMs, objective);
    }

    /**
     * Returns this budget with a latency bound.
     *
     * @param ms the largest total latency in milliseconds
     * @return a new budget
     */
    public SearchBudget withMaxLatencyMs(double ms) {
        return new SearchBudget(maxMetricDrop, maxBytes, OptionalDouble.of(ms), objective);
    }

    /**
     * Returns this budget with another objective.
     *
     * @param objective what to minimise
     * @return a new budget
     */
    public SearchBudget withObjective(Objective objective) {
        return new SearchBudget(maxMetricDrop, maxBytes, maxLatencyMs, objective);
    }

    static void checkDrop(double maxMetricDrop) {
        if (Double.isNaN(maxMetricDrop) || maxMetricDrop < 0) {
            throw new IllegalArgumentException(
                    "maximum metric drop was "
                            + maxMetricDrop
                            + ", must be a number at least 0 (0 = no drop allowed)");
        }
    }
}
