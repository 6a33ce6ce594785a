package org.djlquant.policy;

import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Which precisions a backend can run, per layer kind.
 *
 * <p>A layer's kind is its block class name; an entry keyed by a simple name ({@code Linear})
 * matches layers whose class is given simply or fully qualified, an entry keyed by a fully
 * qualified name matches only that name. Layers of a kind without an entry use {@link #defaults()}.
 *
 * @param backend a display name of the backend, used in messages and cost-cache keys
 * @param byBlockClass allowed precisions per block class name; copied, each set non-empty
 * @param defaults allowed precisions for other block classes; copied, may be empty
 */
public record BackendCapabilities(
        String backend, Map<String, Set<Precision>> byBlockClass, Set<Precision> defaults) {

    /**
     * Validates and copies the fields.
     *
     * @param backend a display name of the backend, used in messages and cost-cache keys
     * @param byBlockClass allowed precisions per block class name; copied, each set non-empty
     * @param defaults allowed precisions for other block classes; copied, may be empty
     * @throws IllegalArgumentException on a blank backend name or an empty per-class set
     */
    public BackendCapabilities {
        if (backend == null || backend.isBlank()) {
            throw new IllegalArgumentException(
                    "backend name was '" + backend + "', must not be blank");
        }
        Map<String, Set<Precision>> copy = new LinkedHashMap<>();
        for (Map.Entry<String, Set<Precision>> e : byBlockClass.entrySet()) {
            if (e.getValue().isEmpty()) {
                throw new IllegalArgumentException(
                        "backend "
                                + backend
                                + " lists no precision for block class "
                                + e.getKey()
                                + "; leave the class out to use the defaults");
            }
            copy.put(e.getKey(), Collections.unmodifiableSet(EnumSet.copyOf(e.getValue())));
        }
        byBlockClass = Collections.unmodifiableMap(copy);
        defaults =
                Collections.unmodifiableSet(
                        defaults.isEmpty()
                                ? EnumSet.noneOf(Precision.class)
                                : EnumSet.copyOf(defaults));
    }

    /**
     * Creates capabilities where every layer kind may use the same precisions.
     *
     * @param backend the backend's display name
     * @param precisions the precisions every layer may use
     * @return the capabilities
     */
    public static BackendCapabilities uniform(String backend, Set<Precision> precisions) {
        return new BackendCapabilities(backend, Map.of(), precisions);
    }

    /**
     * Returns the precisions the backend can run for a layer.
     *
     * @param layer the layer
     * @return an unmodifiable set, possibly empty
     */
    public Set<Precision> allowed(LayerInfo layer) {
        Set<Precision> exact = byBlockClass.get(layer.blockClass());
        if (exact != null) {
            return exact;
        }
        Set<Precision> simple = byBlockClass.get(layer.simpleClassName());
        return simple != null ? simple : defaults;
    }
}
