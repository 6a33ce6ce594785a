package org.djlquant.policy;

/**
 * Two rules of the same precedence level that leave a layer no common precision. The message names
 * both rules and the layer.
 */
public class ContradictoryRulesException extends RuleException {

    /** The layer both rules match. */
    private final String layer;

    /** The earlier rule's name. */
    private final String first;

    /** The later rule's name. */
    private final String second;

    /**
     * Creates the exception.
     *
     * @param layer the block path both rules match
     * @param first the earlier rule
     * @param second the later rule
     * @param detail what each rule asks for
     */
    public ContradictoryRulesException(
            String layer, PolicyRule first, PolicyRule second, String detail) {
        super(
                "contradictory rules for layer "
                        + layer
                        + ": '"
                        + first.name()
                        + "' and '"
                        + second.name()
                        + "' are both "
                        + first.level()
                        + " rules and "
                        + detail
                        + "; remove one or make one more specific");
        this.layer = layer;
        this.first = first.name();
        this.second = second.name();
    }

    /**
     * Returns the layer both rules match.
     *
     * @return the block path
     */
    public String layer() {
        return layer;
    }

    /**
     * Returns the earlier rule's name.
     *
     * @return the name
     */
    public String firstRule() {
        return first;
    }

    /**
     * Returns the later rule's name.
     *
     * @return the name
     */
    public String secondRule() {
        return second;
    }
}
