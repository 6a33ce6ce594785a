package org.djlquant.policy;

/** What the budgeted search minimises. */
public enum Objective {
    /** The sum of the layers' measured latencies. */
    LATENCY,
    /** The sum of the layers' measured weight bytes. */
    SIZE
}
