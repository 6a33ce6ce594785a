package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * One rule a person writes: the layers it selects and either a pinned precision or a set of allowed
 * precisions.
 *
 * @param name how messages refer to the rule, for example {@code "#2 pin FP16 on glob
 *     encoder.*.attention.*"}
 * @param selector the layers the rule applies to
 * @param precisions the allowed precisions (exactly one when pinned); copied, non-empty
 * @param pinned true if the rule fixes the precision, false if it restricts the allowed set
 */
public record PolicyRule(
        String name, LayerSelector selector, Set<Precision> precisions, boolean pinned) {

    /**
     * Validates and copies the fields.
     *
     * @param name how messages refer to the rule, for example {@code "#2 pin FP16 on glob
     *     encoder.*.attention.*"}
     * @param selector the layers the rule applies to
     * @param precisions the allowed precisions (exactly one when pinned); copied, non-empty
     * @param pinned true if the rule fixes the precision, false if it restricts the allowed set
     * @throws IllegalArgumentException on a blank name, an empty set, or a pin of several
     *     precisions
     */
    public PolicyRule {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("rule name was '" + name + "', must not be blank");
        }
        if (selector == null) {
            throw new IllegalArgumentException("rule " + name + " has no selector");
        }
        if (precisions == null || precisions.isEmpty()) {
            throw new IllegalArgumentException(
                    "rule "
                            + name
                            + " allows no precision, must allow at least one of "
                            + Precision.allowedNames());
        }
        if (pinned && precisions.size() != 1) {
            throw new IllegalArgumentException(
                    "rule " + name + " pins " + precisions + ", a pin names exactly one precision");
        }
        precisions = Collections.unmodifiableSet(EnumSet.copyOf(precisions));
    }

    /**
     * Returns the pinned precision.
     *
     * @return the precision
     * @throws IllegalStateException if the rule only restricts
     */
    public Precision pinnedPrecision() {
        if (!pinned) {
            throw new IllegalStateException("rule " + name + " restricts, it does not pin");
        }
        return precisions.iterator().next();
    }

    /**
     * Returns the rule's precedence level (its selector's).
     *
     * @return the level
     */
    public RuleLevel level() {
        return selector.level();
    }

    @Override
    public String toString() {
        return name;
    }
}
