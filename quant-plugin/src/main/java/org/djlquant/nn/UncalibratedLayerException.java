package org.djlquant.nn;

/**
 * Thrown when a layer is converted to static INT8 before its activation observers saw any data: the
 * calibrated scale and zero point it needs do not exist yet. Calibrate first (run batches through
 * the prepared model with observing on, e.g. with {@code org.djlquant.calibrate.Calibrator}).
 */
public class UncalibratedLayerException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String role;

    /**
     * Creates the exception for a conversion.
     *
     * @param path the layer path
     * @param role the tensor role whose observer saw nothing, e.g. {@code input}
     * @param cause the observer's refusal
     */
    public UncalibratedLayerException(String path, String role, Throwable cause) {
        this(path, role, "convert", cause);
    }

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param role the tensor role whose observer saw nothing, e.g. {@code input}
     * @param action what was refused, e.g. {@code convert} or {@code export}
     * @param cause the observer's refusal
     */
    public UncalibratedLayerException(String path, String role, String action, Throwable cause) {
        super(
                "layer "
                        + path
                        + ": the '"
                        + role
                        + "' observer saw no data, so this static layer has no calibrated"
                        + " quantization parameters; calibrate first (run batches through the"
                        + " prepared model with observing on), then "
                        + action
                        + (cause == null || cause.getMessage() == null
                                ? ""
                                : " (" + cause.getMessage() + ")"),
                cause);
        this.path = path;
        this.role = role;
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
     * Returns the role whose observer saw no data.
     *
     * @return the role
     */
    public String role() {
        return role;
    }
}
