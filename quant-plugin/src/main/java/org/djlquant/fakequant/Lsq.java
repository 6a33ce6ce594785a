package org.djlquant.fakequant;

import ai.djl.ndarray.NDArray;

/**
 * Learned step size quantization (LSQ; Esser et al., "Learned Step Size Quantization", ICLR 2020,
 * arXiv:1902.08153): fake quantization whose scale {@code s} is a trained parameter.
 *
 * <p>Forward: {@code v = clip(x / s + z, qmin, qmax); out = (round(v) - z) * s}. Backward (eq. 3 of
 * the paper, with the zero point {@code z} held fixed): to {@code x}, 1 inside the range and 0
 * outside (straight-through round); to {@code s}, {@code -x/s + round(x/s)} inside, {@code qmin -
 * z} below and {@code qmax - z} above, multiplied by the gradient scale {@code g = 1 / sqrt(N *
 * qmax)} (section 2.2) where {@code N} is the number of weights, or of features for activations.
 * Arrays returned are attached to {@code x}'s manager; the caller closes them. Stateless and
 * thread-safe.
 */
public final class Lsq {

    private Lsq() {}

    /**
     * LSQ fake quantization.
     *
     * @param x the input
     * @param scale the learnable scale, a scalar or broadcastable against {@code x} (one per
     *     channel), requiring gradient
     * @param zeroPoint the fixed zero point (0 for symmetric specs)
     * @param qmin the smallest integer
     * @param qmax the largest integer
     * @param gradScale the factor {@code g} applied to the scale's gradient, see {@link
     *     #gradScale(long, long)}
     * @return the fake-quantized array; the caller closes it
     */
    public static NDArray apply(
            NDArray x, NDArray scale, float zeroPoint, long qmin, long qmax, float gradScale) {
        if (qmin >= qmax) {
            throw new IllegalArgumentException("qmin was " + qmin + ", must be below qmax " + qmax);
        }
        // value s, gradient scaled by g
        NDArray sg = scale.mul(gradScale);
        NDArray s = sg.add(scale.sub(sg).stopGradient());
        NDArray v = x.div(s).add(zeroPoint).clip(qmin, qmax);
        // round with a straight-through gradient
        NDArray vbar = v.add(v.round().sub(v).stopGradient());
        return vbar.sub(zeroPoint).mul(s);
    }

    /**
     * The gradient scale {@code g = 1 / sqrt(n * qmax)} of the paper.
     *
     * @param n number of weights of the layer, or number of features of the activation
     * @param qmax the largest integer of the data type (positive)
     * @return {@code g}
     */
    public static float gradScale(long n, long qmax) {
        if (n <= 0 || qmax <= 0) {
            throw new IllegalArgumentException(
                    "n was " + n + " and qmax " + qmax + ", both must be positive");
        }
        return (float) (1.0 / Math.sqrt((double) n * qmax));
    }

    /**
     * The paper's initial step size {@code 2 mean(|x|) / sqrt(qmax)}.
     *
     * @param x the first weights or activations seen
     * @param qmax the largest integer of the data type (positive)
     * @return the initial scale
     */
    public static float initialScale(NDArray x, long qmax) {
        float meanAbs = x.stopGradient().abs().mean().getFloat();
        float s = (float) (2.0 * meanAbs / Math.sqrt(qmax));
        return s > 0 ? s : 1e-8f;
    }
}
