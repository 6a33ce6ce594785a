package org.djlquant.scheme;

/**
 * How the real range is mapped onto the integer range.
 *
 * <ul>
 *   <li>{@link #SYMMETRIC}: the range is {@code [-a, a]} with {@code a = max(|min|, |max|)}; the
 *       zero point is fixed (0 for signed types, the upper midpoint {@code (qmin + qmax + 1) / 2}
 *       for unsigned ones, e.g. 128 for UINT8). This is PyTorch's {@code per_tensor_symmetric} /
 *       {@code per_channel_symmetric} and TensorRT's scale-only quantization.
 *   <li>{@link #AFFINE}: the range is {@code [min(min, 0), max(max, 0)]} and the zero point is
 *       chosen so that real 0 is exactly representable. PyTorch's {@code per_tensor_affine} /
 *       {@code per_channel_affine}, ONNX's QuantizeLinear with a zero point.
 * </ul>
 */
public enum QScheme {
    /** Scale only; zero point fixed by the data type. */
    SYMMETRIC,
    /** Scale and zero point, range fitted to the observed minimum and maximum. */
    AFFINE
}
