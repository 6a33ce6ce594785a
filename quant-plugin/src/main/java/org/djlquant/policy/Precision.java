package org.djlquant.policy;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The numeric precision a layer can run in, with the storage each one needs as data.
 *
 * <p>{@link #weightBytesPerParam()} is the payload of one weight; {@link #scaleBytesPerParam()} is
 * the amortised overhead of the quantization parameters, derived from the granularity each
 * precision is assumed to use:
 *
 * <ul>
 *   <li>INT8 (dynamic, static, weight-only): per-output-channel symmetric, one FP32 scale per row,
 *       rows assumed to hold at least 256 weights: {@code 4 / 256} bytes per parameter;
 *   <li>INT4 weight-only: per-group of 128 weights with an FP16 scale and an FP16 zero point:
 *       {@code 4 / 128} bytes per parameter;
 *   <li>floating-point precisions: no overhead.
 * </ul>
 *
 * <p>{@link #fidelityRank()} orders precisions by how little numeric error they usually add (FP32
 * highest). It is only a tie-breaker; the search decides with measured sensitivities and costs.
 */
public enum Precision {
    /** IEEE single precision, the reference. */
    FP32(4.0, 0.0, 6, false),
    /** IEEE half precision (10-bit mantissa). */
    FP16(2.0, 0.0, 5, false),
    /** bfloat16 (7-bit mantissa, FP32 exponent range). */
    BF16(2.0, 0.0, 4, false),
    /** INT8 weights, activations kept in floating point. */
    INT8_WEIGHT_ONLY(1.0, 4.0 / 256, 3, true),
    /** INT8 weights, activations quantized per batch at run time (dynamic range). */
    INT8_DYNAMIC(1.0, 4.0 / 256, 2, true),
    /** INT8 weights and activations, activation ranges fixed by calibration. */
    INT8_STATIC(1.0, 4.0 / 256, 1, true),
    /** INT4 weights in groups of 128, activations kept in floating point. */
    INT4_WEIGHT_ONLY(0.5, 4.0 / 128, 0, true);

    private final double weightBytesPerParam;
    private final double scaleBytesPerParam;
    private final int fidelityRank;
    private final boolean quantized;

    Precision(
            double weightBytesPerParam,
            double scaleBytesPerParam,
            int fidelityRank,
            boolean quantized) {
        this.weightBytesPerParam = weightBytesPerParam;
        this.scaleBytesPerParam = scaleBytesPerParam;
        this.fidelityRank = fidelityRank;
        this.quantized = quantized;
    }

    /**
     * Returns the bytes one weight occupies, without quantization-parameter overhead.
     *
     * @return 4, 2, 2, 1, 1, 1 or 0.5
     */
    public double weightBytesPerParam() {
        return weightBytesPerParam;
    }

    /**
     * Returns the amortised bytes per weight spent on scales and zero points.
     *
     * @return 0 for floating-point precisions, see the class comment for the others
     */
    public double scaleBytesPerParam() {
        return scaleBytesPerParam;
    }

    /**
     * Returns a rank where higher means numerically closer to FP32 (FP32 = 6, INT4 = 0).
     *
     * @return the fidelity rank
     */
    public int fidelityRank() {
        return fidelityRank;
    }

    /**
     * Tells whether this precision stores weights as integers.
     *
     * @return true for the INT8 and INT4 precisions
     */
    public boolean isQuantized() {
        return quantized;
    }

    /**
     * Returns the form of the activations this precision takes and returns between layers.
     *
     * @return {@link PrecisionFamily#BFLOAT16} for BF16, {@link PrecisionFamily#FLOAT16} for FP16,
     *     {@link PrecisionFamily#INT8_ACTIVATION} for static INT8, {@link PrecisionFamily#FLOAT32}
     *     for the others (FP32, dynamic INT8 and weight-only take float32 input)
     */
    public PrecisionFamily family() {
        switch (this) {
            case BF16:
                return PrecisionFamily.BFLOAT16;
            case FP16:
                return PrecisionFamily.FLOAT16;
            case INT8_STATIC:
                return PrecisionFamily.INT8_ACTIVATION;
            default:
                return PrecisionFamily.FLOAT32;
        }
    }

    /**
     * Estimates the storage of {@code params} weights in this precision, rounded up to whole bytes.
     *
     * @param params the number of parameters, at least 0
     * @return the estimated bytes
     * @throws IllegalArgumentException if {@code params} is negative
     */
    public long estimatedBytes(long params) {
        if (params < 0) {
            throw new IllegalArgumentException("params was " + params + ", must be at least 0");
        }
        return (long) Math.ceil(params * (weightBytesPerParam + scaleBytesPerParam));
    }

    /**
     * Parses a precision name, ignoring case and surrounding blanks.
     *
     * @param name the name, for example {@code "int8_dynamic"}
     * @return the precision
     * @throws IllegalArgumentException naming the value and the allowed names if unknown
     */
    public static Precision parse(String name) {
        if (name != null) {
            String key = name.trim().toUpperCase(Locale.ROOT);
            for (Precision p : values()) {
                if (p.name().equals(key)) {
                    return p;
                }
            }
        }
        throw new IllegalArgumentException(
                "precision was '" + name + "', must be one of " + allowedNames());
    }

    /**
     * Lists the names {@link #parse(String)} accepts.
     *
     * @return the names joined with ", " in declaration order
     */
    public static String allowedNames() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }
}
