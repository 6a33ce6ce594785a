package org.djlquant.backend.onnx;

/**
 * A statically quantized layer was exported before its activation observers saw any data: there is
 * no scale or zero point to write. Calibrate first (run representative batches with observing on).
 */
public class UncalibratedLayerException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param cause the observer's refusal
     */
    public UncalibratedLayerException(String path, RuntimeException cause) {
        super(
                "layer "
                        + path
                        + ": cannot export a static INT8 layer without calibrated activation"
                        + " ranges; calibrate the prepared model first ("
                        + cause.getMessage()
                        + ")",
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
