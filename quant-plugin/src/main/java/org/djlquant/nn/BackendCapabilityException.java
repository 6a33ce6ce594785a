package org.djlquant.nn;

/**
 * Thrown by {@link Converter} when the chosen backend cannot run a layer's config (see {@link
 * org.djlquant.config.BackendTarget#check}). Prepare that layer with a null config (FP32) in the
 * {@link org.djlquant.config.QConfigMapping}, or with a config the backend declares.
 */
public class BackendCapabilityException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param cause the backend's refusal, naming the spec given and the ones allowed
     */
    public BackendCapabilityException(String path, IllegalArgumentException cause) {
        super(
                "layer "
                        + path
                        + ": "
                        + cause.getMessage()
                        + "; map this layer to FP32 (a null config in the QConfigMapping given to"
                        + " prepare) or prepare it with a config this backend declares",
                cause);
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
