package org.djlquant.policy;

/**
 * How specific a rule's selector is. A rule of a higher level overrides every rule of a lower level
 * on the layers it matches; rules of the same level must agree (see {@link PolicyRules}).
 */
public enum RuleLevel {
    /** Matches every layer. */
    GLOBAL,
    /** Matches by block class name. */
    BLOCK_CLASS,
    /** Matches by a glob or regular expression over the block path. */
    PATH_PATTERN,
    /** Names layers individually: an exact path, or the first / last layers in model order. */
    LAYER
}
