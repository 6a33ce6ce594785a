package org.djlquant.policy;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * No allowed assignment meets the budget. Says the smallest drop reached (or the smallest size or
 * latency reachable) and at what cost, so that the budget or the rules can be changed.
 */
public class InfeasibleBudgetException extends QuantizationException {

    /** The smallest drop reached, NaN if only size / latency was infeasible. */
    private final double smallestDrop;

    /** The assignment reaching it. */
    private final transient Map<String, Precision> assignment;

    /** Its latency in milliseconds. */
    private final double latencyMs;

    /** Its size in bytes. */
    private final long bytes;

    /**
     * Creates the exception.
     *
     * @param message the budget and what is reachable
     * @param smallestDrop the smallest metric drop reached, NaN if no assignment met the size or
     *     latency bound
     * @param assignment the assignment that reached it (or the smallest / fastest one)
     * @param latencyMs its latency
     * @param bytes its size
     */
    public InfeasibleBudgetException(
            String message,
            double smallestDrop,
            Map<String, Precision> assignment,
            double latencyMs,
            long bytes) {
        super(message);
        this.smallestDrop = smallestDrop;
        this.assignment = Collections.unmodifiableMap(new LinkedHashMap<>(assignment));
        this.latencyMs = latencyMs;
        this.bytes = bytes;
    }

    /**
     * Returns the smallest metric drop reached.
     *
     * @return the drop, or NaN if the size / latency bound alone is infeasible
     */
    public double smallestDrop() {
        return smallestDrop;
    }

    /**
     * Returns the assignment reaching {@link #smallestDrop()}.
     *
     * @return layer path to precision
     */
    public Map<String, Precision> assignment() {
        return assignment;
    }

    /**
     * Returns that assignment's latency.
     *
     * @return milliseconds
     */
    public double latencyMs() {
        return latencyMs;
    }

    /**
     * Returns that assignment's size.
     *
     * @return bytes
     */
    public long bytes() {
        return bytes;
    }
}
