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
 * <h2>libtorch's dynamic INT8 linear on fbgemm</h2>
 *
 * {@code quantized::linear_dynamic} on x86 (qengines {@code fbgemm} and {@code x86}) chooses the
 * input's per-tensor parameters itself, per call, and quantizes the input itself, in two ways that
 * differ from the above ({@link #dynamicParamsFbgemm}, {@link #quantizeFbgemmDynamic}):
 *
 * <ul>
 *   <li>parameters: {@code quant_utils::ChooseQuantizationParams} (PyTorch's {@code
 *       aten/src/ATen/native/quantized/cpu/QuantUtils.h}, "identical to
 *       fbgemm::ChooseQuantizationParams"): {@code s = float(((double) hi - lo) / (qmax - qmin))}
 *       in double, no {@code eps} floor but scales below {@code 6.1e-5} raised to it (the range
 *       widened by the same factor), {@code z = nearbyint(qmin - lo / s)} in double (from the range
 *       end with the smaller error term, which for {@code qmin = 0} is always {@code lo});
 *   <li>rounding: fbgemm's {@code PackAWithQuantRowOffset} quantizes with {@code
 *       QuantizeAvx2<uint8_t, LEGACY = true>} (the default in the fbgemm that libtorch 2.7.1 ships;
 *       non-legacy became the only path in 2026): {@code _mm256_cvtps_epi32(_mm256_fmadd_ps(x, 1/s,
 *       (float) z))}, i.e. {@code q = rint(fl(x · (1/s) + z))} with ONE float32 rounding of the
 *       fused sum, then clamped to {@code [0, 255]} (the uint8 bounds even with {@code
 *       reduce_range}). PyTorch's {@code quantize_per_tensor} (and the formula above) computes
 *       {@code rint(fl(x · (1/s))) + z}: adding {@code z} after rounding. The two differ by one
 *       step whenever {@code x · (1/s)} lies within half a float32 spacing of {@code t + z} from a
 *       {@code .5} tie: spacing {@code 2^-17} below 128 and {@code 2^-16} from 128, so about 3
 *       values in a million with 7-bit activations and 5 in a million with 8-bit (zero points near
 *       128). That, not 16-bit saturation (on CPUs with AVX512-VNNI fbgemm's GEMM is {@code
 *       vpdpbusd} into int32), is why dynamic INT8 on fbgemm disagreed with the simulation.
 * </ul>
 *
 * <p>All methods are pure and thread-safe.
 */
public final class QuantMath {

    /** Minimum scale: float32 machine epsilon, {@code 2^-23}, as PyTorch's observers. */
    public static final float EPS = Math.ulp(1.0f);

    /**
     * The smallest scale libtorch's {@code ChooseQuantizationParams} keeps: {@code 6.1e-5f}, about
     * the smallest normal float16.
     */
    public static final float LIBTORCH_SMALL_SCALE = 6.1e-5f;

    private QuantMath() {}

    /**
     * Computes the per-tensor parameters libtorch's fbgemm {@code quantized::linear_dynamic}
     * chooses for its input (see the class documentation): {@code
     * quant_utils::ChooseQuantizationParams(min, max, qmin, qmax, preserve_sparsity = false,
     * force_scale_power_of_two = false)} with {@code qmax = 127} when the spec reduces the range
     * (the kernel's {@code reduce_range}) and {@code 255} otherwise.
     *
     * @param spec a UINT8 AFFINE per-tensor spec (its {@code reduceRange} selects 7 or 8 bits)
     * @param min the minimum of the input (finite)
     * @param max the maximum of the input (finite, {@code >= min})
     * @return the parameters, as the kernel computes them
     * @throws NonFiniteValueException if min or max is NaN or infinite
     * @throws IllegalArgumentException if {@code min > max} or the spec is not UINT8 AFFINE per
     *     tensor
     */
    public static QParams dynamicParamsFbgemm(QSpec spec, float min, float max) {
        if (spec == null
                || spec.dtype() != QDataType.UINT8
                || spec.scheme() != QScheme.AFFINE
                || spec.granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    "spec was " + spec + ", must be UINT8 AFFINE per-tensor (fbgemm's input)");
        }
        if (!Float.isFinite(min) || !Float.isFinite(max)) {
            throw new NonFiniteValueException("", "range was [" + min + ", " + max + "]");
        }
        if (min > max) {
            throw new IllegalArgumentException(
                    "min was " + min + " and max " + max + ", must have min <= max");
        }
        long qmin = spec.qmin();
        long qmax = spec.qmax();
        float lo = Math.min(min, 0f);
        float hi = Math.max(max, 0f);
        double scale = ((double) hi - lo) / (qmax - qmin);
        if ((float) scale == 0f || Float.isInfinite(1.0f / (float) scale)) {
            scale = 0.1;
        }
        if (scale < LIBTORCH_SMALL_SCALE) {
            float original = (float) scale;
            scale = LIBTORCH_SMALL_SCALE;
            if (lo == 0f) {
                hi = LIBTORCH_SMALL_SCALE * (qmax - qmin);
            } else if (hi == 0f) {
                lo = -LIBTORCH_SMALL_SCALE * (qmax - qmin);
            } else {
                float amplifier = LIBTORCH_SMALL_SCALE / original;
                lo *= amplifier;
                hi *= amplifier;
            }
        }
        double fromMin = qmin - lo / scale;
        double fromMax = qmax - hi / scale;
        double errorMin = Math.abs(qmin) - Math.abs(lo / scale);
        double errorMax = Math.abs(qmax) - Math.abs(hi / scale);
        double initial = errorMin < errorMax ? fromMin : fromMax;
        long z;
        if (initial < qmin) {
            z = qmin;
        } else if (initial > qmax) {
            z = qmax;
        } else {
            z = (long) Math.rint(initial);
        }
        return new QParams(spec, new float[] {(float) scale}, new long[] {z}, new long[0]);
    }

    /**
     * Quantizes {@code x} as fbgemm's dynamic linear does (see the class documentation): {@code
     * clamp(rint(fma(x, 1.0f / s, (float) z)), 0, 255)}, the zero point added before the one
     * rounding.
     *
     * @param x the values
     * @param p per-tensor UINT8 parameters
     * @return the uint8 values, one per element
     * @throws NonFiniteValueException if an element is NaN
     * @throws IllegalArgumentException if the parameters are not per-tensor UINT8
     */
    public static long[] quantizeFbgemmDynamic(float[] x, QParams p) {
        if (p.spec().dtype() != QDataType.UINT8
                || p.spec().granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    "parameters were " + p + ", must be per-tensor UINT8 (fbgemm's input)");
        }
        float inv = 1.0f / p.scale();
        float z = p.zeroPoint();
        long lo = QDataType.UINT8.qmin(false);
        long hi = QDataType.UINT8.qmax(false);
        long[] q = new long[x.length];
        for (int i = 0; i < x.length; i++) {
            if (Float.isNaN(x[i])) {
                throw new NonFiniteValueException("", "element " + i + " was NaN");
            }
            q[i] = Math.max(lo, Math.min(hi, (long) Math.rint(Math.fma(x[i], inv, z))));
        }
        return q;
    }

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
     * Quantizes a row-major {@code [rows, cols]} table INT8 symmetric with one scale per row, as
     * the exporters store embedding tables: {@link QSpec#int8SymmetricPerChannel(int)
     * int8SymmetricPerChannel(0)} parameters from each row's range ({@link #paramsFromMinMax}:
     * {@code scale = max|row| / 127.5}, at least {@link #EPS}, so an all-zero row gets {@code EPS})
     * and values by {@link #quantize} ({@code rint(x * (1f / scale))} in [-128, 127]).
     *
     * @param values the table, row-major
     * @param rows the row count
     * @param cols the column count
     * @param q receives the INT8 values, {@code rows * cols} of them
     * @return the parameters: one scale per row, zero points 0
     * @throws NonFiniteValueException if a value is NaN or infinite
     * @throws IllegalArgumentException if {@code values} or {@code q} does not hold {@code rows *
     *     cols} elements
     */
    public static QParams quantizeRowsInt8(float[] values, int rows, int cols, byte[] q) {
        long n = (long) rows * cols;
        if (rows < 1 || cols < 1 || values.length != n || q.length != n) {
            throw new IllegalArgumentException(
                    "values.length was "
                            + values.length
                            + " and q.length "
                            + q.length
                            + " for a ["
                            + rows
                            + ", "
                            + cols
                            + "] table, must both be rows * cols >= 1");
        }
        float[] min = new float[rows];
        float[] max = new float[rows];
        for (int r = 0; r < rows; r++) {
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                float x = values[r * cols + c];
                lo = Math.min(lo, x);
                hi = Math.max(hi, x);
            }
            min[r] = lo;
            max[r] = hi;
        }
        QParams p = paramsFromMinMax(QSpec.int8SymmetricPerChannel(0), min, max, new long[] {rows});
        long[] wide = quantize(values, new long[] {rows, cols}, p);
        for (int i = 0; i < wide.length; i++) {
            q[i] = (byte) wide[i];
        }
        return p;
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
