package org.djlquant.nn;

/**
 * Thrown when a layer is converted to static INT8 before its activation observers saw any data: the
 * calibrated scale and zero point it needs do not exist yet. Calibrate first (run batches through
 * the prepared model with observing on, e.g. with {@code org.djlquant.calibrate.Calibrator}).
 */
public class UncalibratedLayerException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String rawPath;
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
        this(path, path, role, action, cause);
    }

    /**
     * Creates the exception for a layer whose clean path differs from its raw one.
     *
     * @param path the layer's clean path ({@link BlockPaths}, e.g. {@code
     *     encoder.03.attention.query}), named by the message
     * @param rawPath the path from DJL's child names (e.g. {@code 01SequentialBlock.03Linear})
     * @param role the tensor role whose observer saw nothing, e.g. {@code input}
     * @param action what was refused, e.g. {@code convert} or {@code export}
     * @param cause the observer's refusal
     */
    public UncalibratedLayerException(
            String path, String rawPath, String role, String action, Throwable cause) {
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
                                : " (" + clean(cause.getMessage(), path, rawPath) + ")"),
                cause);
        this.path = path;
        this.rawPath = rawPath;
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

    /** The refusal names the layer by its raw path: say it clean. */
    private static String clean(String message, String path, String rawPath) {
        return rawPath == null || rawPath.isEmpty() || path == null
                ? message
                : message.replace(rawPath, path);
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

    /**
     * Returns the role whose observer saw no data.
     *
     * @return the role
     */
    public String role() {
        return role;
    }
}
