package org.djlquant.policy;

/**
 * The precision chosen for one layer and why.
 *
 * @param precision the precision
 * @param source where it came from
 * @param detail the rule names or the search stage; may be empty, never null
 */
public record LayerDecision(Precision precision, DecisionSource source, String detail) {

    /**
     * Validates the fields.
     *
     * @param precision the precision
     * @param source where it came from
     * @param detail the rule names or the search stage; may be empty, never null
     * @throws IllegalArgumentException if the precision or source is null
     */
    public LayerDecision {
        if (precision == null) {
            throw new IllegalArgumentException(
                    "precision must be one of " + Precision.allowedNames());
        }
        if (source == null) {
            throw new IllegalArgumentException("source must be one of RULE, SEARCH, MANUAL");
        }
        detail = detail == null ? "" : detail;
    }
}
