package org.djlquant.policy;

/**
 * What the policy engine knows about one quantizable layer.
 *
 * @param path the block path, dot separated, for example {@code encoder.03.attention.query}
 * @param blockClass the block's class name, simple ({@code Linear}) or fully qualified
 * @param params the number of weights in the layer, at least 0
 */
public record LayerInfo(String path, String blockClass, long params) {

    /**
     * Validates the fields.
     *
     * @param path the block path, dot separated, for example {@code encoder.03.attention.query}
     * @param blockClass the block's class name, simple ({@code Linear}) or fully qualified
     * @param params the number of weights in the layer, at least 0
     * @throws IllegalArgumentException if the path or class is blank or params is negative
     */
    public LayerInfo {
        if (path == null || path.isBlank()) {
            throw new IllegalArgumentException("layer path was '" + path + "', must not be blank");
        }
        if (blockClass == null || blockClass.isBlank()) {
            throw new IllegalArgumentException(
                    "block class of layer "
                            + path
                            + " was '"
                            + blockClass
                            + "', must not be blank");
        }
        if (params < 0) {
            throw new IllegalArgumentException(
                    "params of layer " + path + " was " + params + ", must be at least 0");
        }
    }

    /**
     * Returns the class name after the last dot.
     *
     * @return the simple class name
     */
    public String simpleClassName() {
        int dot = blockClass.lastIndexOf('.');
        return dot < 0 ? blockClass : blockClass.substring(dot + 1);
    }
}
