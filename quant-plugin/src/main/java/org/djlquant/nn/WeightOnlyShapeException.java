package org.djlquant.nn;

/**
 * A weight-only layer has a shape (or group size) libtorch's weight-only kernel cannot take. Names
 * the layer path, the value given and what is allowed. Prepare that layer with a null config (FP32)
 * or with another config in the {@link org.djlquant.config.QConfigMapping}.
 */
public class WeightOnlyShapeException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String rawPath;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param problem the value given and what is allowed
     */
    public WeightOnlyShapeException(String path, String problem) {
        this(path, path, problem);
    }

    /**
     * Creates the exception for a layer whose clean path differs from its raw one.
     *
     * @param path the layer's clean path ({@link BlockPaths}, e.g. {@code
     *     encoder.03.intermediate}), named by the message
     * @param rawPath the path from DJL's child names
     * @param problem the value given and what is allowed
     */
    public WeightOnlyShapeException(String path, String rawPath, String problem) {
        super(
                "layer "
                        + path
                        + ": "
                        + problem
                        + "; map this layer to FP32 (a null config) or to another config in the"
                        + " QConfigMapping given to prepare");
        this.path = path;
        this.rawPath = rawPath;
    }

    /**
     * Returns the layer path.
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the layer path from DJL's child names; the same as {@link #path()} when the thrower
     * knew no clean path.
     *
     * @return the raw path
     */
    public String rawPath() {
        return rawPath;
    }
}
