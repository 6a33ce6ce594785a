package org.djlquant.policy;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The rules a person writes about precisions, and how they combine. Immutable and thread-safe.
 *
 * <h2>Precedence</h2>
 *
 * For each layer, the most specific {@link RuleLevel} that has a matching rule decides alone:
 * {@code GLOBAL < BLOCK_CLASS < PATH_PATTERN < LAYER}. Rules of lower levels are ignored for that
 * layer (a path rule "attention in FP16" overrides a global "INT8 only").
 *
 * <h2>Rules of the same level</h2>
 *
 * Rules of the same level that match the same layer must agree; the order they were added in does
 * not matter. Restrictions intersect; a pin is compatible with restrictions that contain it.
 * Anything else (two different pins, a pin outside a restriction, restrictions with nothing in
 * common) is a {@link ContradictoryRulesException} naming both rules and the layer. We chose an
 * error over "later wins" so that a rule never silently stops having an effect.
 *
 * <h2>Validation against a model and backend</h2>
 *
 * {@link #resolve(List, BackendCapabilities)} refuses (with a {@link RuleException}) a rule that
 * names a layer the model does not have (an exact path, or first / last {@code n} with more than
 * the model's layers), a pin the backend cannot run on a layer it decides, a restriction naming a
 * precision the backend cannot run on any layer it decides, and a layer left with no precision. A
 * pattern or class rule matching no layer, or overridden on every layer it matches, is a warning in
 * {@link ResolvedRules#warnings()}.
 */
public final class PolicyRules {

    private static final PolicyRules EMPTY = new PolicyRules(List.of());

    private final List<PolicyRule> rules;

    private PolicyRules(List<PolicyRule> rules) {
        this.rules = List.copyOf(rules);
    }

    /**
     * Returns a rule set without rules (every layer may use what the backend runs).
     *
     * @return the empty rule set
     */
    public static PolicyRules empty() {
        return EMPTY;
    }

    /**
     * Starts a rule set.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the rules in the order they were added.
     *
     * @return an unmodifiable list
     */
    public List<PolicyRule> rules() {
        return rules;
    }

    /**
     * Applies the rules to a model's layers and a backend's capabilities.
     *
     * @param layers the layers in model order, paths unique, at least one
     * @param backend what the backend can run per layer kind
     * @return the allowed precisions per layer, with provenance and warnings
     * @throws ContradictoryRulesException if two rules of one level disagree on a layer
     * @throws RuleException if a rule names a missing layer or a precision the backend cannot run
     */
    public ResolvedRules resolve(List<LayerInfo> layers, BackendCapabilities backend) {
        int count = layers.size();
        if (count == 0) {
            throw new IllegalArgumentException("the model has no layers, need at least one");
        }
        for (PolicyRule rule : rules) {
            int n = 0;
            if (rule.selector() instanceof LayerSelector.First f) {
                n = f.n();
            } else if (rule.selector() instanceof LayerSelector.Last l) {
                n = l.n();
            }
            if (n > count) {
                throw new RuleException(
                        "rule '"
                                + rule.name()
                                + "' selects "
                                + n
                                + " layers but the model has only "
                                + count);
            }
        }
        boolean[] matched = new boolean[rules.size()];
        boolean[] decided = new boolean[rules.size()];
        List<Set<Precision>> runnable = new ArrayList<>();
        for (int r = 0; r < rules.size(); r++) {
            runnable.add(EnumSet.noneOf(Precision.class));
        }
        Map<String, Set<Precision>> allowed = new LinkedHashMap<>();
        Map<String, String> decidedBy = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            LayerInfo layer = layers.get(i);
            Set<Precision> supported = backend.allowed(layer);
            if (supported.isEmpty()) {
                throw new RuleException(
                        "backend "
                                + backend.backend()
                                + " can run no precision for layer "
                                + layer.path()
                                + " (class "
                                + layer.blockClass()
                                + "); add its class to the backend capabilities");
            }
            List<Integer> deciding = new ArrayList<>();
            RuleLevel decidingLevel = null;
            for (int r = 0; r < rules.size(); r++) {
                PolicyRule rule = rules.get(r);
                if (!rule.selector().matches(layer, i, count)) {
                    continue;
                }
                matched[r] = true;
                int cmp = decidingLevel == null ? 1 : rule.level().compareTo(decidingLevel);
                if (cmp > 0) {
                    deciding.clear();
                    decidingLevel = rule.level();
                }
                if (cmp >= 0) {
                    deciding.add(r);
                }
            }
            if (deciding.isEmpty()) {
                allowed.put(layer.path(), supported);
                decidedBy.put(layer.path(), "backend " + backend.backend());
                continue;
            }
            Set<Precision> combined = combine(layer, deciding);
            for (int r : deciding) {
                PolicyRule rule = rules.get(r);
                decided[r] = true;
                if (rule.pinned() && !supported.contains(rule.pinnedPrecision())) {
                    throw new RuleException(
                            "rule '"
                                    + rule.name()
                                    + "' pins "
                                    + rule.pinnedPrecision()
                                    + " for layer "
                                    + layer.path()
                                    + " (class "
                                    + layer.blockClass()
                                    + "), but backend "
                                    + backend.backend()
                                    + " can run only "
                                    + supported
                                    + " there");
                }
                Set<Precision> ok = EnumSet.copyOf(rule.precisions());
                ok.retainAll(supported);
                runnable.get(r).addAll(ok);
            }
            Set<Precision> effective = EnumSet.copyOf(combined);
            effective.retainAll(supported);
            String names =
                    deciding.stream()
                            .map(r -> "'" + rules.get(r).name() + "'")
                            .collect(Collectors.joining(" + "));
            if (effective.isEmpty()) {
                throw new RuleException(
                        "rules "
                                + names
                                + " allow "
                                + combined
                                + " for layer "
                                + layer.path()
                                + " (class "
                                + layer.blockClass()
                                + "), but backend "
                                + backend.backend()
                                + " can run only "
                                + supported
                                + " there");
            }
            allowed.put(layer.path(), effective);
            decidedBy.put(layer.path(), names);
        }
        List<String> warnings = new ArrayList<>();
        for (int r = 0; r < rules.size(); r++) {
            PolicyRule rule = rules.get(r);
            if (!matched[r]) {
                if (rule.selector().namesLayers()) {
                    throw new RuleException(
                            "rule '"
                                    + rule.name()
                                    + "' names "
                                    + rule.selector()
                                    + ", which the model does not have; layers are "
                                    + preview(layers));
                }
                warnings.add("rule '" + rule.name() + "' matched no layer");
            } else if (!decided[r]) {
                warnings.add(
                        "rule '"
                                + rule.name()
                                + "' is overridden by more specific rules on every layer it"
                                + " matches");
            } else if (!rule.pinned() && !runnable.get(r).containsAll(rule.precisions())) {
                Set<Precision> missing = EnumSet.copyOf(rule.precisions());
                missing.removeAll(runnable.get(r));
                throw new RuleException(
                        "rule '"
                                + rule.name()
                                + "' allows "
                                + missing
                                + ", which backend "
                                + backend.backend()
                                + " cannot run on any layer the rule decides; it can run "
                                + runnable.get(r)
                                + " there");
            }
        }
        return new ResolvedRules(layers, allowed, decidedBy, warnings);
    }

    private Set<Precision> combine(LayerInfo layer, List<Integer> deciding) {
        PolicyRule pin = null;
        for (int r : deciding) {
            PolicyRule rule = rules.get(r);
            if (!rule.pinned()) {
                continue;
            }
            if (pin == null) {
                pin = rule;
            } else if (pin.pinnedPrecision() != rule.pinnedPrecision()) {
                throw new ContradictoryRulesException(
                        layer.path(),
                        pin,
                        rule,
                        "pin "
                                + pin.pinnedPrecision()
                                + " and "
                                + rule.pinnedPrecision()
                                + " respectively");
            }
        }
        Set<Precision> set = EnumSet.allOf(Precision.class);
        PolicyRule firstRestriction = null;
        for (int r : deciding) {
            PolicyRule rule = rules.get(r);
            if (rule.pinned()) {
                continue;
            }
            if (pin != null && !rule.precisions().contains(pin.pinnedPrecision())) {
                boolean pinFirst = rules.indexOf(pin) < r;
                String detail =
                        "one pins "
                                + pin.pinnedPrecision()
                                + ", the other allows only "
                                + rule.precisions();
                throw pinFirst
                        ? new ContradictoryRulesException(layer.path(), pin, rule, detail)
                        : new ContradictoryRulesException(layer.path(), rule, pin, detail);
            }
            Set<Precision> before = EnumSet.copyOf(set);
            set.retainAll(rule.precisions());
            if (set.isEmpty()) {
                throw new ContradictoryRulesException(
                        layer.path(),
                        firstRestriction,
                        rule,
                        "allow "
                                + before
                                + " and "
                                + rule.precisions()
                                + ", which have no precision in common");
            }
            if (firstRestriction == null) {
                firstRestriction = rule;
            }
        }
        return pin != null ? EnumSet.of(pin.pinnedPrecision()) : set;
    }

    private static String preview(List<LayerInfo> layers) {
        List<String> paths = layers.stream().map(LayerInfo::path).collect(Collectors.toList());
        if (paths.size() <= 8) {
            return paths.toString();
        }
        return paths.subList(0, 8) + " and " + (paths.size() - 8) + " more";
    }

    @Override
    public String toString() {
        return "PolicyRules" + rules;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PolicyRules p && p.rules.equals(rules);
    }

    @Override
    public int hashCode() {
        return rules.hashCode();
    }

    /** Collects rules; names them {@code "#<n> <what> on <selector>"} unless given a name. */
    public static final class Builder {

        private final List<PolicyRule> rules = new ArrayList<>();
        private final Set<String> names = new HashSet<>();

        private Builder() {}

        /**
         * Adds a rule fixing the precision of the selected layers.
         *
         * @param selector the layers
         * @param precision the precision
         * @return this builder
         */
        public Builder pin(LayerSelector selector, Precision precision) {
            return add(
                    new PolicyRule(
                            "#" + (rules.size() + 1) + " pin " + precision + " on " + selector,
                            selector,
                            EnumSet.of(precision),
                            true));
        }

        /**
         * Adds a rule restricting the selected layers to some precisions.
         *
         * @param selector the layers
         * @param first an allowed precision
         * @param more further allowed precisions
         * @return this builder
         */
        public Builder allow(LayerSelector selector, Precision first, Precision... more) {
            Set<Precision> set = EnumSet.of(first, more);
            return add(
                    new PolicyRule(
                            "#" + (rules.size() + 1) + " allow " + set + " on " + selector,
                            selector,
                            set,
                            false));
        }

        /**
         * Adds a rule as given.
         *
         * @param rule the rule; its name must be unique in this set
         * @return this builder
         * @throws IllegalArgumentException if the name is already used
         */
        public Builder add(PolicyRule rule) {
            if (!names.add(rule.name())) {
                throw new IllegalArgumentException(
                        "rule name '" + rule.name() + "' is used twice, names must be unique");
            }
            rules.add(rule);
            return this;
        }

        /**
         * Builds the immutable rule set.
         *
         * @return the rules
         */
        public PolicyRules build() {
            return new PolicyRules(rules);
        }
    }
}
