package org.djlquant.policy;

/** Where a layer's precision in a {@link MixedPrecisionPolicy} came from. */
public enum DecisionSource {
    /** Fixed by the rules (one allowed precision). */
    RULE,
    /** Chosen by a search among the allowed precisions. */
    SEARCH,
    /** Written or edited by a person. */
    MANUAL
}
