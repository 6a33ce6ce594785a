package org.djlquant.observer;

/** How a histogram observer picks its clipping range from the histogram. */
public enum HistogramMethod {
    /**
     * Keep the central {@code percentile} percent of the mass (symmetric specs: of {@code |x|}); as
     * ONNX Runtime's {@code PercentileCalibrater}.
     */
    PERCENTILE,
    /**
     * Minimise the KL divergence between the clipped reference distribution and its quantized
     * version (TensorRT's entropy calibration, ONNX Runtime's {@code EntropyCalibrater}).
     */
    ENTROPY,
    /** Minimise the expected squared quantization error (clipping plus rounding). */
    MSE
}
