package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The precisions each layer may use after applying {@link PolicyRules} to a model and backend.
 * Immutable; produced by {@link PolicyRules#resolve(List, BackendCapabilities)}.
 *
 * @param layers the model's layers in model order; copied, paths unique
 * @param allowed per layer path, the non-empty set of precisions it may use
 * @param decidedBy per layer path, the rule names that decided it, or {@code "backend <name>"}
 * @param warnings rules that matched no layer, or were overridden on every layer they match
 */
public record ResolvedRules(
        List<LayerInfo> layers,
        Map<String, Set<Precision>> allowed,
        Map<String, String> decidedBy,
        List<String> warnings) {

    /**
     * Validates and copies the fields.
     *
     * @param layers the model's layers in model order; copied, paths unique
     * @param allowed per layer path, the non-empty set of precisions it may use
     * @param decidedBy per layer path, the rule names that decided it, or {@code "backend <name>"}
     * @param warnings rules that matched no layer, or were overridden on every layer they match
     * @throws IllegalArgumentException if a layer lacks an entry, has an empty set, or a path
     *     repeats
     */
    public ResolvedRules {
        layers = List.copyOf(layers);
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("the model has no layers, need at least one");
        }
        Set<String> seen = new HashSet<>();
        Map<String, Set<Precision>> a = new LinkedHashMap<>();
        Map<String, String> d = new LinkedHashMap<>();
        for (LayerInfo layer : layers) {
            if (!seen.add(layer.path())) {
                throw new IllegalArgumentException("layer path " + layer.path() + " appears twice");
            }
            Set<Precision> set = allowed.get(layer.path());
            if (set == null || set.isEmpty()) {
                throw new IllegalArgumentException(
                        "layer " + layer.path() + " has no allowed precision");
            }
            a.put(layer.path(), Collections.unmodifiableSet(EnumSet.copyOf(set)));
            d.put(layer.path(), decidedBy.getOrDefault(layer.path(), "unspecified"));
        }
        if (!seen.containsAll(allowed.keySet())) {
            Set<String> extra = new HashSet<>(allowed.keySet());
            extra.removeAll(seen);
            throw new IllegalArgumentException(
                    "allowed precisions given for unknown layers " + extra);
        }
        allowed = Collections.unmodifiableMap(a);
        decidedBy = Collections.unmodifiableMap(d);
        warnings = List.copyOf(warnings);
    }

    /**
     * Lets every layer use whatever the backend can run.
     *
     * @param layers the layers
     * @param backend the backend capabilities
     * @return the resolution of an empty rule set
     */
    public static ResolvedRules unrestricted(List<LayerInfo> layers, BackendCapabilities backend) {
        return PolicyRules.empty().resolve(layers, backend);
    }

    /**
     * Returns the precisions a layer may use.
     *
     * @param path the layer path
     * @return the set
     * @throws IllegalArgumentException if the model has no such layer
     */
    public Set<Precision> allowed(String path) {
        Set<Precision> set = allowed.get(path);
        if (set == null) {
            throw new IllegalArgumentException(
                    "the model has no layer " + path + "; layers are " + allowed.keySet());
        }
        return set;
    }

    /**
     * Tells whether a layer has exactly one allowed precision.
     *
     * @param path the layer path
     * @return true if fixed
     */
    public boolean isFixed(String path) {
        return allowed(path).size() == 1;
    }
}
