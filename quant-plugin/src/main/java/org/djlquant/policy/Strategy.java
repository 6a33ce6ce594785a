package org.djlquant.policy;

/** How a {@link MixedPrecisionPolicy} was made. */
public enum Strategy {
    /** Written by a person. */
    MANUAL,
    /** Every layer fixed by rules, no search. */
    RULES,
    /** Accuracy-driven fallback, see {@link PolicySearch#fallback(Evaluator, double)}. */
    FALLBACK,
    /** Budgeted optimisation, see {@link PolicySearch#optimise(Evaluator, SearchBudget)}. */
    BUDGETED,
    /**
     * Progressive quantization, see {@link PolicySearch#progressive(Evaluator, double, Precision,
     * Precision)}.
     */
    PROGRESSIVE
}
