package org.djlquant.scheme;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import java.util.Arrays;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.RangeOps;

/**
 * The operations of {@link QuantMath} on DJL {@link NDArray}s, computed with engine ops
 * (vectorised, no per-element Java loop) and bit-exact with the {@code float[]} reference: the
 * input is taken as float32 (other types are converted first), multiplied by the float32 reciprocal
 * {@code 1.0f / s}, rounded half to even ({@code NDArray.round()} is {@code torch.round}), offset
 * by {@code z} and clipped to {@code [qmin, qmax]} with {@code maximum}/{@code minimum} (DJL's
 * {@code clip} measured 5-10x slower on libtorch 2.7.1). With {@code z == 0} the offset still adds
 * {@code +0.0f}, which turns {@code -0.0} into {@code +0.0} as PyTorch's integer round trip does.
 *
 * <p><b>Ownership.</b> Every returned array is new, attached to the input's manager, and closed by
 * the caller (or by closing that manager). Intermediate arrays are closed before return. Inputs are
 * neither closed nor modified.
 *
 * <p>Thread-safe as far as the engine is: no state is kept.
 */
public final class NDQuant {

    private NDQuant() {}

    /**
     * Quantizes {@code x}: {@code clamp(round(x * (1.0f / s)) + z, qmin, qmax)}.
     *
     * @param x the tensor (float32, or converted to float32)
     * @param p the parameters, whose {@code paramShape} must match {@code x}'s shape
     * @return a new FLOAT32 array holding the integer values (exact in float32 for every integer
     *     type here); convert with {@code toType(DataType.INT8, false)} etc. if needed. Owned by
     *     {@code x}'s manager; the caller closes it.
     * @throws IllegalArgumentException if the parameters do not fit the shape
     */
    public static NDArray quantize(NDArray x, QParams p) {
        Params pp = Params.of(x, p);
        NDArray xf = asFloat(x);
        try {
            return pp.apply(xf, true, false);
        } finally {
            if (xf != x) {
                xf.close();
            }
        }
    }

    /**
     * Dequantizes {@code q}: {@code (q - z) * s} in float32.
     *
     * @param q integer values (any numeric type; converted to float32)
     * @param p the parameters
     * @return a new FLOAT32 array owned by {@code q}'s manager; the caller closes it
     * @throws IllegalArgumentException if the parameters do not fit the shape
     */
    public static NDArray dequantize(NDArray q, QParams p) {
        Params pp = Params.of(q, p);
        NDArray qf = asFloat(q);
        try {
            return pp.apply(qf, false, true);
        } finally {
            if (qf != q) {
                qf.close();
            }
        }
    }

    /**
     * Fake-quantizes {@code x}: {@code dequantize(quantize(x))}, forward value only (no
     * straight-through gradient; wrap as {@code x + (fq - x).stopGradient()} for training).
     *
     * @param x the tensor (float32, or converted to float32)
     * @param p the parameters
     * @return a new FLOAT32 array owned by {@code x}'s manager; the caller closes it
     * @throws IllegalArgumentException if the parameters do not fit the shape
     */
    public static NDArray fakeQuantize(NDArray x, QParams p) {
        Params pp = Params.of(x, p);
        NDArray xf = asFloat(x);
        try {
            return pp.apply(xf, true, true);
        } finally {
            if (xf != x) {
                xf.close();
            }
        }
    }

    /**
     * Computes the minimum and maximum of {@code x} at a granularity: per tensor {@code float[1]},
     * per channel one value per index of the axis, per group one value per group (row-major over
     * {@link Granularity#paramShape}). PyTorch arrays are reduced by libtorch's {@code aminmax}
     * (per tensor: one pass for both) and {@code amin}/{@code amax} over all other dimensions (per
     * channel / group), through a TorchScript library loaded once per process and run without
     * autograd; other engines' arrays by DJL's {@code min}/{@code max}. The values are the same.
     *
     * @param x the tensor, not empty; not closed
     * @param g the granularity
     * @return {@code {min[], max[]}}
     * @throws NonFiniteValueException if {@code x} holds NaN or an infinity
     * @throws IllegalArgumentException if {@code x} is empty or the granularity does not fit its
     *     shape
     */
    public static float[][] minMax(NDArray x, Granularity g) {
        long[] shape = x.getShape().getShape();
        if (x.size() == 0) {
            throw new IllegalArgumentException(
                    "tensor of shape "
                            + Arrays.toString(shape)
                            + " had 0 elements, must have at least 1");
        }
        long[] paramShape = g.paramShape(shape);
        float[][] r = fusedMinMax(x, g, shape);
        if (r == null) {
            r = engineMinMax(x, g, shape);
        }
        long n = 1;
        for (long d : paramShape) {
            n *= d;
        }
        if (r[0].length != n) {
            throw new IllegalStateException("internal: min/max length " + r[0].length + " != " + n);
        }
        for (int i = 0; i < r[0].length; i++) {
            if (!Float.isFinite(r[0][i]) || !Float.isFinite(r[1][i])) {
                throw new NonFiniteValueException(
                        "",
                        "tensor of shape "
                                + Arrays.toString(shape)
                                + " had range ["
                                + r[0][i]
                                + ", "
                                + r[1][i]
                                + "] at parameter index "
                                + i);
            }
        }
        return r;
    }

    /** Min and max with DJL's own reductions (one pass each; per channel along one axis). */
    private static float[][] engineMinMax(NDArray x, Granularity g, long[] shape) {
        float[][] r;
        switch (g.kind()) {
            case PER_TENSOR:
                try (NDArray mn = x.min();
                        NDArray mx = x.max()) {
                    r = new float[][] {toFloats(mn), toFloats(mx)};
                }
                break;
            case PER_CHANNEL:
                {
                    // as PyTorch's per-channel observers: channel axis first, flatten the rest,
                    // reduce along one axis (DJL's PyTorch min/max take a single axis)
                    long c = shape[g.axis()];
                    try (NDArray t = g.axis() == 0 ? null : x.swapAxes(0, g.axis());
                            NDArray v = (t == null ? x : t).reshape(c, -1);
                            NDArray mn = v.min(new int[] {1});
                            NDArray mx = v.max(new int[] {1})) {
                        r = new float[][] {toFloats(mn), toFloats(mx)};
                    }
                    break;
                }
            default:
                {
                    try (NDArray v = x.reshape(new Shape(groupedShape(shape, g)));
                            NDArray mn = v.min(new int[] {g.axis() + 1});
                            NDArray mx = v.max(new int[] {g.axis() + 1})) {
                        r = new float[][] {toFloats(mn), toFloats(mx)};
                    }
                    break;
                }
        }
        return r;
    }

    /** Set once libtorch refused the range library; the DJL reductions give the same values. */
    private static volatile boolean fusedUnavailable;

    /**
     * Min and max through libtorch's {@code aminmax} / {@code amin} + {@code amax} ({@link
     * RangeOps}): one pass per tensor instead of two, and per-channel reductions without the
     * arg-min / arg-max that DJL's {@code min(axis)} / {@code max(axis)} compute. Returns null for
     * arrays of other engines.
     */
    private static float[][] fusedMinMax(NDArray x, Granularity g, long[] shape) {
        if (fusedUnavailable || !(x instanceof PtNDArray)) {
            return null;
        }
        RangeOps ops;
        try {
            ops = RangeOps.get();
        } catch (QuantizationException e) {
            fusedUnavailable = true;
            return null;
        }
        int[] dims;
        NDArray v = x;
        switch (g.kind()) {
            case PER_TENSOR:
                dims = null;
                break;
            case PER_CHANNEL:
                if (shape.length == 1) {
                    // amin over no dimension would reduce all of them
                    return null;
                }
                dims = new int[shape.length - 1];
                for (int i = 0, k = 0; i < shape.length; i++) {
                    if (i != g.axis()) {
                        dims[k++] = i;
                    }
                }
                break;
            default:
                v = x.reshape(new Shape(groupedShape(shape, g)));
                dims = new int[] {g.axis() + 1};
                break;
        }
        float[] both;
        try (NDArray mm = ops.minMax(v, dims)) {
            both = toFloats(mm);
        } finally {
            if (v != x) {
                v.close();
            }
        }
        int half = both.length / 2;
        return new float[][] {
            Arrays.copyOfRange(both, 0, half), Arrays.copyOfRange(both, half, both.length)
        };
    }

    private static float[] toFloats(NDArray a) {
        if (a.getDataType() == DataType.FLOAT32) {
            return a.toFloatArray();
        }
        try (NDArray f = a.toType(DataType.FLOAT32, false)) {
            return f.toFloatArray();
        }
    }

    private static NDArray asFloat(NDArray x) {
        return x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
    }

    /** Shape with the group axis split into [n / g, g]. */
    static long[] groupedShape(long[] shape, Granularity g) {
        int a = g.axis();
        long[] s = new long[shape.length + 1];
        for (int d = 0; d < a; d++) {
            s[d] = shape[d];
        }
        s[a] = shape[a] / g.groupSize();
        s[a + 1] = g.groupSize();
        for (int d = a + 1; d < shape.length; d++) {
            s[d + 1] = shape[d];
        }
        return s;
    }

    /** Parameters laid out for broadcasting against one tensor. */
    private static final class Params {
        private final QParams p;
        private final long[] shape;
        private final long[] workShape; // shape the tensor is viewed as (grouped for per-group)
        private final long[] paramBroadcastShape;

        private Params(QParams p, long[] shape, long[] workShape, long[] paramBroadcastShape) {
            this.p = p;
            this.shape = shape;
            this.workShape = workShape;
            this.paramBroadcastShape = paramBroadcastShape;
        }

        static Params of(NDArray x, QParams p) {
            long[] shape = x.getShape().getShape();
            Granularity g = p.spec().granularity();
            long[] expected = g.paramShape(shape);
            if (!Arrays.equals(expected, p.paramShape())) {
                throw new IllegalArgumentException(
                        "parameters have paramShape "
                                + Arrays.toString(p.paramShape())
                                + " but a tensor of shape "
                                + Arrays.toString(shape)
                                + " with "
                                + g
                                + " needs "
                                + Arrays.toString(expected));
            }
            switch (g.kind()) {
                case PER_TENSOR:
                    return new Params(p, shape, shape, null);
                case PER_CHANNEL:
                    {
                        long[] b = new long[shape.length];
                        Arrays.fill(b, 1);
                        b[g.axis()] = shape[g.axis()];
                        return new Params(p, shape, shape, b);
                    }
                default:
                    {
                        long[] ws = groupedShape(shape, g);
                        long[] b = ws.clone();
                        b[g.axis() + 1] = 1;
                        return new Params(p, shape, ws, b);
                    }
            }
        }

        NDArray apply(NDArray x, boolean quantize, boolean dequantize) {
            NDManager m = x.getManager();
            float qmin = p.spec().qmin();
            float qmax = p.spec().qmax();
            if (paramBroadcastShape == null) {
                float s = p.scale();
                float z = p.zeroPoint();
                // negated as a long so that z == 0 gives +0.0f: x + (+0) turns -0 into +0, as
                // PyTorch's integer round trip does
                float negZ = -p.zeroPoint();
                NDArray cur = x;
                if (quantize) {
                    cur = step(cur, x, cur.mul(1.0f / s));
                    cur = step(cur, x, cur.round());
                    cur = step(cur, x, cur.add(z));
                    cur = step(cur, x, cur.maximum(qmin));
                    cur = step(cur, x, cur.minimum(qmax));
                }
                if (dequantize) {
                    cur = step(cur, x, cur.add(negZ));
                    cur = step(cur, x, cur.mul(s));
                }
                return cur == x ? x.duplicate() : cur;
            }
            int n = p.size();
            float[] inv = new float[n];
            float[] zs = new float[n];
            float[] negZs = new float[n];
            float[] ss = new float[n];
            for (int i = 0; i < n; i++) {
                ss[i] = p.scaleAt(i);
                inv[i] = 1.0f / ss[i];
                zs[i] = p.zeroPointAt(i);
                negZs[i] = -p.zeroPointAt(i);
            }
            Shape bs = new Shape(paramBroadcastShape);
            try (NDArray invA = m.create(inv, bs);
                    NDArray zA = m.create(zs, bs);
                    NDArray negZA = m.create(negZs, bs);
                    NDArray sA = m.create(ss, bs)) {
                NDArray cur = x;
                if (!Arrays.equals(workShape, shape)) {
                    cur = x.reshape(new Shape(workShape));
                }
                if (quantize) {
                    cur = step(cur, x, cur.mul(invA));
                    cur = step(cur, x, cur.round());
                    cur = step(cur, x, cur.add(zA));
                    cur = step(cur, x, cur.maximum(qmin));
                    cur = step(cur, x, cur.minimum(qmax));
                }
                if (dequantize) {
                    cur = step(cur, x, cur.add(negZA));
                    cur = step(cur, x, cur.mul(sA));
                }
                if (!Arrays.equals(workShape, shape)) {
                    cur = step(cur, x, cur.reshape(new Shape(shape)));
                }
                return cur == x ? x.duplicate() : cur;
            }
        }

        private static NDArray step(NDArray prev, NDArray input, NDArray next) {
            if (prev != input && prev != next) {
                prev.close();
            }
            return next;
        }
    }
}
