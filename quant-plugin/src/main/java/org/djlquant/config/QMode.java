package org.djlquant.config;

/** How a layer is quantized: which tensors get quantization parameters, and when. */
public enum QMode {
    /**
     * Weights quantized ahead of time; activations quantized on the fly from each batch's own range
     * (PyTorch {@code quantize_dynamic}). No activation observer, no calibration needed.
     */
    DYNAMIC,
    /** Weights and activations quantized with ranges fixed by calibration. */
    STATIC,
    /** Only weights are quantized; activations stay float. */
    WEIGHT_ONLY,
    /** As {@link #STATIC}, but the ranges are learnt during quantization-aware training. */
    QAT;

    /**
     * Returns whether this mode needs an activation observer (calibrated activation ranges).
     *
     * @return true for {@link #STATIC} and {@link #QAT}
     */
    public boolean observesActivations() {
        return this == STATIC || this == QAT;
    }
}
