package org.djlquant.nn;

/**
 * Thrown by {@link Converter} when the chosen backend cannot run a layer's config (see {@link
 * org.djlquant.config.BackendTarget#check}). Prepare that layer with a null config (FP32) in the
 * {@link org.djlquant.config.QConfigMapping}, or with a config the backend declares.
 */
public class BackendCapabilityException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String rawPath;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param cause the backend's refusal, naming the spec given and the ones allowed
     */
    public BackendCapabilityException(String path, IllegalArgumentException cause) {
        this(path, path, cause);
    }

    /**
     * Creates the exception for a layer whose clean path differs from its raw one.
     *
     * @param path the layer's clean path ({@link BlockPaths}, e.g. {@code
     *     encoder.03.attention.query}), named by the message
     * @param rawPath the path from DJL's child names
     * @param cause the backend's refusal, naming the spec given and the ones allowed
     */
    public BackendCapabilityException(String path, String rawPath, IllegalArgumentException cause) {
        super(
                "layer "
                        + path
                        + ": "
                        + cause.getMessage()
                        + "; map this layer to FP32 (a null config in the QConfigMapping given to"
                        + " prepare) or prepare it with a config this backend declares",
                cause);
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
