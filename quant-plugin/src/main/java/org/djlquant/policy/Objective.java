package org.djlquant.policy;

/** What the budgeted search minimises. */
public enum Objective {
    /**
     * The sum of the layers' measured latencies plus the boundaries between precision families
     * ({@link CostTable#latencyMs}); with a {@link Verification}, the measured whole-model latency
     * among the verified candidates.
     */
    LATENCY,
    /**
     * The sum of the layers' measured weight bytes; with a {@link Verification}, ties broken by the
     * measured whole-model latency.
     */
    SIZE
}
