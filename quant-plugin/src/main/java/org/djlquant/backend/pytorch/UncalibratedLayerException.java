package org.djlquant.backend.pytorch;

/**
 * A layer to be exported with static INT8 activations has no calibrated parameters: its observers
 * saw no data. Calibrate (run representative batches with observing on) before exporting.
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
                "layer '"
                        + path
                        + "' is static INT8 but was not calibrated (its activation observer saw"
                        + " no data); run calibration batches through the prepared model before"
                        + " exporting",
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
