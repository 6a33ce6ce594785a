/**
 * Quantization schemes and their math: data types ({@link org.djlquant.scheme.QDataType}), schemes
 * ({@link org.djlquant.scheme.QScheme}), granularity ({@link org.djlquant.scheme.Granularity}),
 * specs ({@link org.djlquant.scheme.QSpec}) and parameters ({@link org.djlquant.scheme.QParams}),
 * with the operations on {@code float[]} ({@link org.djlquant.scheme.QuantMath}, the reference) and
 * on DJL NDArrays ({@link org.djlquant.scheme.NDQuant}, engine ops, bit-exact with the reference).
 *
 * <p><b>Formulas</b> (convention {@code x ≈ s (q - z)}, as PyTorch and ONNX):
 *
 * <pre>
 *   lo = min(min, 0), hi = max(max, 0)
 *   symmetric: s = max(-lo, hi) / ((qmax - qmin) / 2),  z = 0 (signed) or (qmin + qmax + 1) / 2
 *   affine:    s = (hi - lo) / (qmax - qmin),           z = clamp(qmin - round(lo / s))
 *   s = max(s, 2^-23)
 *   q = clamp(round_half_even(x * (1.0f / s)) + z, qmin, qmax);   x' = (q - z) * s
 * </pre>
 *
 * See {@link org.djlquant.scheme.QuantMath} for how this maps to PyTorch 1.13 (bit-exact, tested
 * against committed reference values), ONNX QuantizeLinear and TensorRT.
 *
 * <p><b>Lifecycle and thread-safety.</b> All types are immutable values or stateless utilities and
 * safe to share between threads. NDArrays returned by {@link org.djlquant.scheme.NDQuant} belong to
 * the input's manager and are closed by the caller.
 */
package org.djlquant.scheme;
