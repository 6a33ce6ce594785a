package org.djlquant.nn;

import ai.djl.ndarray.NDArray;

/**
 * Accumulates, over batches, how far a layer's fake-quantized output is from its float output:
 * signal energy, noise energy and maximum absolute error. SQNR = 10 log10(signal / noise) dB.
 *
 * <p>Installed on a twin with {@link TwinControl#setErrorProbe}; while installed, the twin computes
 * both outputs and passes the float one on, so each layer is measured on float inputs. Not
 * thread-safe: one probe per twin, used by one forward at a time.
 */
public final class ErrorProbe {

    private double signal;
    private double noise;
    private float maxAbs;
    private long batches;
    private long elements;

    /** Creates an empty probe. */
    public ErrorProbe() {}

    /**
     * Records one batch. Does not close the arrays.
     *
     * @param reference the float output
     * @param quantized the fake-quantized output, same shape
     */
    public void record(NDArray reference, NDArray quantized) {
        NDArray r = reference.stopGradient();
        NDArray d = quantized.stopGradient().sub(r);
        signal += r.square().sum().getFloat();
        noise += d.square().sum().getFloat();
        maxAbs = Math.max(maxAbs, d.abs().max().getFloat());
        batches++;
        elements += r.size();
    }

    /**
     * Returns the SQNR in dB over all recorded batches.
     *
     * @return the SQNR; {@code Infinity} if there was no error
     * @throws IllegalStateException if nothing was recorded
     */
    public double sqnrDb() {
        requireData();
        return noise == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
    }

    /**
     * Returns the largest absolute error seen.
     *
     * @return the maximum absolute error
     */
    public float maxAbsError() {
        requireData();
        return maxAbs;
    }

    /**
     * Returns the mean squared error over all recorded elements.
     *
     * @return the MSE
     */
    public double mse() {
        requireData();
        return noise / elements;
    }

    /**
     * Returns the number of batches recorded.
     *
     * @return the count
     */
    public long batches() {
        return batches;
    }

    private void requireData() {
        if (batches == 0) {
            throw new IllegalStateException("error probe recorded no batch; run a forward first");
        }
    }
}
