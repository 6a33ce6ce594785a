package org.djlquant.policy;

/**
 * The form an activation takes between two layers: what a boundary between adjacent layers of
 * different families has to convert (a cast, a quantize or a dequantize). A layer whose kernel
 * takes and returns float32 (FP32, dynamic INT8, weight-only) is {@link #FLOAT32}; its internal
 * conversions are inside its own measured cost.
 */
public enum PrecisionFamily {
    /** float32 activations. */
    FLOAT32,
    /** bfloat16 activations. */
    BFLOAT16,
    /** float16 activations. */
    FLOAT16,
    /** quantized 8-bit activations (static INT8 layers chain them). */
    INT8_ACTIVATION
}
