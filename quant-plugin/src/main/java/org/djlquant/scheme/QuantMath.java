package org.djlquant.scheme;

import java.util.Arrays;

/**
 * Reference quantization math on {@code float[]}, bit-exact with PyTorch 1.13 on CPU.
 *
 * <h2>Parameters from a range</h2>
 *
 * The range is first widened to include 0: {@code lo = min(min, 0)}, {@code hi = max(max, 0)}.
 *
 * <ul>
 *   <li>Symmetric: {@code s = max(-lo, hi) / ((qmax - qmin) / 2)}, the zero point fixed (0 signed,
 *       {@code (qmin + qmax + 1) / 2} unsigned). For INT8 the divisor is {@code 255 / 2 = 127.5},
 *       exactly as PyTorch's {@code MinMaxObserver._calculate_qparams}; the textbook notation
 *       {@code s = max|x| / (2^(b-1) - 1)} (divisor 127, TensorRT, ONNX Runtime's symmetric
 *       weights) gives a scale {@code 127.5 / 127} times larger. We follow PyTorch, so INT8
 *       symmetric uses the full {@code [-128, 127]} with {@code ±max} mapping to {@code ±127.5}
 *       (rounded to even, then clamped), so every value in {@code [-a, a]} stays within {@code s /
 *       2} of its fake-quantized value. On a small lopsided range such as INT2 {@code [-2, 1]}
 *       ({@code s = a / 1.5}) the same rule clamps {@code +a} to {@code 1 · s = 2a / 3}: still
 *       within {@code s / 2}, but a third of the positive side is lost; prefer AFFINE there.
 *   <li>Affine: {@code s = (hi - lo) / (qmax - qmin)}, {@code z = clamp(qmin - round(lo / s), qmin,
 *       qmax)}.
 *   <li>Both: {@code s = max(s, eps)} with {@code eps} = float32 machine epsilon ({@link #EPS},
 *       {@code torch.finfo(torch.float32).eps}), so a constant or all-zero tensor never gives scale
 *       0.
 * </ul>
 *
 * All arithmetic is float32 as in PyTorch (the divisors {@code 127.5}, {@code 255}, … are exact in
 * float32); {@code round} is round-half-to-even ({@link Math#rint}).
 *
 * <h2>Quantize, dequantize, fake-quantize</h2>
 *
 * <pre>
 *   q  = clamp(rint(x * inv) + z, qmin, qmax)   with inv = 1.0f / s  (float32)
 *   x' = (q - z) * s                             (float32)
 *   fakeQuantize(x) = dequantize(quantize(x))
 * </pre>
 *
 * PyTorch 1.13 on CPU multiplies by the float32 reciprocal: {@code quantize_val} computes {@code
 * inv_scale = 1.0f / scale; zero_point + nearbyint(value * inv_scale)} and the fake-quant kernels
 * ({@code fake_quantize_per_tensor_affine}, {@code fake_quantize_per_channel_affine}) do the same.
 * {@code x * (1/s)} and {@code x / s} differ in the last bit for some inputs, which moves a value
 * lying next to a {@code .5} boundary to the other integer, so we use the reciprocal to be
 * bit-exact; the committed PyTorch reference tests check it.
 *
 * <h2>Other notations</h2>
 *
 * <ul>
 *   <li>ONNX {@code QuantizeLinear}: {@code y = saturate(round(x / y_scale) + y_zero_point)} and
 *       {@code DequantizeLinear}: {@code (x - x_zero_point) * x_scale}: the same {@code s} and
 *       {@code z}, ties to even as here. ONNX divides where PyTorch (and we) multiply by the
 *       reciprocal, so an ONNX Runtime model can land one integer step away for inputs within an
 *       ulp of a {@code .5} boundary (the committed reference holds such inputs).
 *   <li>TensorRT: scale-only symmetric INT8, {@code q = clamp(round(x / s), -127, 127)} with {@code
 *       s = amax / 127}; our SYMMETRIC with the 127 divisor noted above, no zero point.
 *   <li>Some papers write {@code x ≈ (q - z) / s}, i.e. their "scale" is our {@code 1 / s}.
 * </ul>
 *
 * <p>All methods are pure and thread-safe.
 */
public final class QuantMath {

    /** Minimum scale: float32 machine epsilon, {@code 2^-23}, as PyTorch's observers. */
    public static final float EPS = Math.ulp(1.0f);

    private QuantMath() {}

    /**
     * Computes per-tensor parameters from a range.
     *
     * @param spec a per-tensor spec with an integer data type
     * @param min the observed minimum (finite)
     * @param max the observed maximum (finite, {@code >= min})
     * @return the parameters
     * @throws NonFiniteValueException if min or max is NaN or infinite
     * @throws IllegalArgumentException if {@code min > max} or the spec is not per tensor
     */
    public static QParams paramsFromMinMax(QSpec spec, float min, float max) {
        return paramsFromMinMax(spec, new float[] {min}, new float[] {max}, new long[0]);
    }

    /**
     * Computes parameters from ranges, one per parameter position.
     *
     * @param spec the spec (integer data type)
     * @param min the minima, row-major over {@code paramShape}
     * @param max the maxima, same length
     * @param paramShape {@code []} per tensor, {@code [C]} per channel, the grouped shape per group
     * @return the parameters
     * @throws NonFiniteValueException if a bound is NaN or infinite
     * @throws IllegalArgumentException if lengths disagree or {@code min > max} somewhere
     * @throws UnsupportedOperationException if the spec has a float data type
     */
    public static QParams paramsFromMinMax(
            QSpec spec, float[] min, float[] max, long[] paramShape) {
        if (spec == null || min == null || max == null || paramShape == null) {
            throw new IllegalArgumentException("spec, min, max and paramShape must be non-null");
        }
        long qmin = spec.qmin();
        long qmax = spec.qmax();
        if (min.length != max.length) {
            throw new IllegalArgumentException(
                    "min.length was "
                            + min.length
                            + " and max.length "
                            + max.length
                            + ", must be equal");
        }
        int n = min.length;
        float[] scales = new float[n];
        long[] zps = new long[n];
        boolean symmetric = spec.scheme() == QScheme.SYMMETRIC;
        float symDivisor = (float) ((qmax - qmin) / 2.0);
        float affDivisor = (float) (qmax - qmin);
        long symZero = spec.symmetricZeroPoint();
        for (int i = 0; i < n; i++) {
            float lo0 = min[i];
            float hi0 = max[i];
            if (!Float.isFinite(lo0) || !Float.isFinite(hi0)) {
                throw new NonFiniteValueException(
                        "", "range at index " + i + " was [" + lo0 + ", " + hi0 + "]");
            }
            if (lo0 > hi0) {
                throw new IllegalArgumentException(
                        "min was "
                                + lo0
                                + " and max "
                                + hi0
                                + " at index "
                                + i
                                + ", must have min <= max");
            }
            float lo = Math.min(lo0, 0f);
            float hi = Math.max(hi0, 0f);
            if (symmetric) {
                float a = Math.max(-lo, hi);
                scales[i] = Math.max(a / symDivisor, EPS);
                zps[i] = symZero;
            } else {
                float s = Math.max((hi - lo) / affDivisor, EPS);
                scales[i] = s;
                long z = qmin - (long) Math.rint(lo / s);
                zps[i] = Math.max(qmin, Math.min(qmax, z));
            }
        }
        return new QParams(spec, scales, zps, paramShape);
    }

    /**
     * Quantizes {@code x}: {@code clamp(rint(x * (1.0f / s)) + z, qmin, qmax)}.
     *
     * @param x the values, row-major over {@code shape}
     * @param shape the tensor shape
     * @param p the parameters (their {@code paramShape} must match {@code shape})
     * @return the integer values, one per element
     * @throws NonFiniteValueException if an element is NaN (infinities clamp)
     * @throws IllegalArgumentException if shapes disagree
     */
    public static long[] quantize(float[] x, long[] shape, QParams p) {
        Layout l = Layout.of(x.length, shape, p);
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        long[] q = new long[x.length];
        float[] inv = reciprocals(p);
        if (l.kind == 0) {
            float inv0 = inv[0];
            long z = p.zeroPointAt(0);
            for (int i = 0; i < x.length; i++) {
                q[i] = quantizeOne(x[i], inv0, z, qmin, qmax, i);
            }
            return q;
        }
        for (int i = 0; i < x.length; i++) {
            int k = l.paramIndex(i);
            q[i] = quantizeOne(x[i], inv[k], p.zeroPointAt(k), qmin, qmax, i);
        }
        return q;
    }

    /**
     * Dequantizes {@code q}: {@code (q - z) * s} in float32.
     *
     * @param q the integer values, row-major over {@code shape}
     * @param shape the tensor shape
     * @param p the parameters
     * @return the real values
     * @throws IllegalArgumentException if shapes disagree or a value is outside {@code [qmin,
     *     qmax]}
     */
    public static float[] dequantize(long[] q, long[] shape, QParams p) {
        Layout l = Layout.of(q.length, shape, p);
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        float[] x = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            if (q[i] < qmin || q[i] > qmax) {
                throw new IllegalArgumentException(
                        "quantized value was "
                                + q[i]
                                + " at index "
                                + i
                                + ", must be in ["
                                + qmin
                                + ", "
                                + qmax
                                + "]");
            }
            int k = l.paramIndex(i);
            x[i] = (float) (q[i] - p.zeroPointAt(k)) * p.scaleAt(k);
        }
        return x;
    }

    /**
     * Fake-quantizes {@code x}: {@code dequantize(quantize(x))}, the value a quantized model would
     * see, in float.
     *
     * @param x the values, row-major over {@code shape}
     * @param shape the tensor shape
     * @param p the parameters
     * @return the fake-quantized values
     * @throws NonFiniteValueException if an element is NaN
     * @throws IllegalArgumentException if shapes disagree
     */
    public static float[] fakeQuantize(float[] x, long[] shape, QParams p) {
        Layout l = Layout.of(x.length, shape, p);
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        float[] y = new float[x.length];
        float[] inv = reciprocals(p);
        if (l.kind == 0) {
            float s = p.scaleAt(0);
            float inv0 = inv[0];
            long z = p.zeroPointAt(0);
            for (int i = 0; i < x.length; i++) {
                y[i] = (float) (quantizeOne(x[i], inv0, z, qmin, qmax, i) - z) * s;
            }
            return y;
        }
        for (int i = 0; i < x.length; i++) {
            int k = l.paramIndex(i);
            float s = p.scaleAt(k);
            long z = p.zeroPointAt(k);
            long q = quantizeOne(x[i], inv[k], z, qmin, qmax, i);
            y[i] = (float) (q - z) * s;
        }
        return y;
    }

    /** The float32 reciprocals {@code 1.0f / s}, as PyTorch's kernels compute them. */
    private static float[] reciprocals(QParams p) {
        float[] inv = new float[p.size()];
        for (int k = 0; k < inv.length; k++) {
            inv[k] = 1.0f / p.scaleAt(k);
        }
        return inv;
    }

    private static long quantizeOne(float x, float inv, long z, long qmin, long qmax, int i) {
        if (Float.isNaN(x)) {
            throw new NonFiniteValueException("", "element " + i + " was NaN");
        }
        double r = Math.rint(x * inv) + z;
        if (r <= qmin) {
            return qmin;
        }
        if (r >= qmax) {
            return qmax;
        }
        return (long) r;
    }

    /** Maps a flat element index to the flat index of its parameters. */
    static final class Layout {
        final int kind; // 0 tensor, 1 channel, 2 group
        private final long n;
        private final long groupSize;
        private final long inner;
        private final long groups;

        private Layout(int kind, long n, long groupSize, long inner, long groups) {
            this.kind = kind;
            this.n = n;
            this.groupSize = groupSize;
            this.inner = inner;
            this.groups = groups;
        }

        static Layout of(int length, long[] shape, QParams p) {
            if (shape == null) {
                throw new IllegalArgumentException("shape must be non-null");
            }
            long size = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException(
                            "shape was " + Arrays.toString(shape) + ", dimensions must be >= 0");
                }
                size *= d;
            }
            if (size != length) {
                throw new IllegalArgumentException(
                        "shape was "
                                + Arrays.toString(shape)
                                + " ("
                                + size
                                + " elements), must match the "
                                + length
                                + " values given");
            }
            Granularity g = p.spec().granularity();
            long[] expected = g.paramShape(shape);
            long[] actual = p.paramShape();
            if (!Arrays.equals(expected, actual)) {
                throw new IllegalArgumentException(
                        "parameters have paramShape "
                                + Arrays.toString(actual)
                                + " but a tensor of shape "
                                + Arrays.toString(shape)
                                + " with "
                                + g
                                + " needs "
                                + Arrays.toString(expected));
            }
            if (g.kind() == Granularity.Kind.PER_TENSOR) {
                return new Layout(0, 1, 1, 1, 1);
            }
            long inner = 1;
            for (int d = g.axis() + 1; d < shape.length; d++) {
                inner *= shape[d];
            }
            long n = shape[g.axis()];
            long gs = g.kind() == Granularity.Kind.PER_GROUP ? g.groupSize() : 1;
            int kind = g.kind() == Granularity.Kind.PER_GROUP ? 2 : 1;
            return new Layout(kind, n, gs, inner, n / gs);
        }

        int paramIndex(int i) {
            if (kind == 0) {
                return 0;
            }
            long r = i % inner;
            long t = i / inner;
            long a = t % n;
            if (kind == 1) {
                return (int) a;
            }
            long o = t / n;
            return (int) ((o * groups + a / groupSize) * inner + r);
        }
    }
}
