package org.djlquant.policy;

/** Why the search evaluated a candidate. */
public enum Stage {
    /** Every layer in FP32: the reference metric. */
    BASELINE,
    /** The fastest (or smallest) allowed assignment the search starts from. */
    START,
    /**
     * A uniform seed: every layer at one precision where it may use it, other layers at their
     * nearest allowed precision (see {@link PolicySearch#uniformSeed(Precision)}).
     */
    UNIFORM,
    /** Every layer at its least damaging allowed precision. */
    MIN_DAMAGE,
    /** A step of the accuracy-driven fallback (layers moved up in precision). */
    FALLBACK,
    /** A refinement after the fallback (a raised layer tried at an intermediate precision). */
    REFINE,
    /** A candidate proposed by the proxy under the budget. */
    BUDGETED,
    /** A step of progressive quantization. */
    PROGRESSIVE
}
