package org.djlquant.policy;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An assignment the search evaluated, with what it measured and what it costs.
 *
 * @param order 0 for the first evaluated candidate, then 1, 2, ...
 * @param stage why it was evaluated
 * @param note what changed, for example {@code "+encoder.1.ffn.in -> FP32"}
 * @param assignment layer path to precision, in model order; copied
 * @param metric the evaluator's metric
 * @param drop the baseline metric minus {@code metric}
 * @param latencyMs the sum of the layers' latencies from the cost table
 * @param bytes the sum of the layers' bytes from the cost table
 * @param damage the sum of the layers' proxy damages
 */
public record Candidate(
        int order,
        Stage stage,
        String note,
        Map<String, Precision> assignment,
        double metric,
        double drop,
        double latencyMs,
        long bytes,
        double damage) {

    /**
     * Copies the assignment.
     *
     * @param order 0 for the first evaluated candidate, then 1, 2, ...
     * @param stage why it was evaluated
     * @param note what changed, for example {@code "+encoder.1.ffn.in -> FP32"}
     * @param assignment layer path to precision, in model order; copied
     * @param metric the evaluator's metric
     * @param drop the baseline metric minus {@code metric}
     * @param latencyMs the sum of the layers' latencies from the cost table
     * @param bytes the sum of the layers' bytes from the cost table
     * @param damage the sum of the layers' proxy damages
     */
    public Candidate {
        assignment = Collections.unmodifiableMap(new LinkedHashMap<>(assignment));
    }

    /**
     * Tells whether this candidate is at least as good as another in accuracy, latency and size and
     * strictly better in one of them.
     *
     * @param other the other candidate
     * @return true if this dominates {@code other}
     */
    public boolean dominates(Candidate other) {
        boolean noWorse =
                metric >= other.metric && latencyMs <= other.latencyMs && bytes <= other.bytes;
        boolean better =
                metric > other.metric || latencyMs < other.latencyMs || bytes < other.bytes;
        return noWorse && better;
    }
}
