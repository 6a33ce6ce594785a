package org.djlquant.nn;

/**
 * A weight-only layer has a shape (or group size) libtorch's weight-only kernel cannot take. Names
 * the layer path, the value given and what is allowed. Prepare that layer with a null config (FP32)
 * or with another config in the {@link org.djlquant.config.QConfigMapping}.
 */
public class WeightOnlyShapeException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param problem the value given and what is allowed
     */
    public WeightOnlyShapeException(String path, String problem) {
        super(
                "layer "
                        + path
                        + ": "
                        + problem
                        + "; map this layer to FP32 (a null config) or to another config in the"
                        + " QConfigMapping given to prepare");
        this.path = path;
    }

    /**
     * Returns the layer path.
     *
     * @return the path
     */
    public String path() {
        return path;
    }
}
