package org.djlquant.fakequant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QuantMath;

/**
 * Fake quantization with a straight-through estimator (STE), per-tensor, per-channel and per-group
 * (on a 2-D {@code [out, in]} weight grouped along axis 1).
 *
 * <p>Forward value: {@code fq(x) = (clamp(round(x * (1f / s)) + z, qmin, qmax) - z) * s} with round
 * half to even (libtorch's {@code round}), bit-exact with {@link
 * org.djlquant.scheme.QuantMath#fakeQuantize} (so {@code -0} comes out as {@code +0}, as in
 * PyTorch). Backward: the gradient is 1 where {@code lo <= x <= hi} ({@code lo = (qmin - z) s},
 * {@code hi = (qmax - z) s}, both ends included) and 0 for clipped values.
 *
 * <p><b>Per tensor</b> (activations; 6 engine ops, two of them in place): {@code c = clamp(x, lo,
 * hi)} (libtorch's {@code clamp} passes the gradient exactly where {@code lo <= x <= hi}), {@code q
 * = round(c * (1f / s)) * s} computed on {@code c} detached, and {@code out = c + stopGradient(q -
 * c)}. The value is exactly {@code fq(x)}: clamping first changes no rounded value ({@code fq(lo) =
 * lo}, {@code fq(hi) = hi}), adding and removing {@code z} is exact for integers and is left out,
 * and {@code c + (q - c)} is exactly {@code q} because {@code |q - c| <= s / 2} makes the
 * subtraction exact (Sterbenz) for {@code q != 0}, while {@code q = 0} gives {@code c + (-c) = +0},
 * which also turns a {@code -0} into {@code +0}.
 *
 * <p><b>Per channel / per group</b> (weights): {@code out = fq(x) + (m x - stopGradient(m x))} with
 * the 0/1 mask {@code m} of in-range elements: the same gradient, and a forward value that is
 * exactly {@code fq(x)}. Its parameter arrays can be made once and reused ({@link Prepared}).
 *
 * <p>Every method returns a new array attached to the input's manager; the caller closes it (in
 * practice with the batch's sub-manager). Stateless and thread-safe.
 */
public final class FakeQuant {

    private FakeQuant() {}

    /**
     * Fake-quantizes with the STE.
     *
     * @param x the float input
     * @param p the quantization parameters
     * @return the fake-quantized array, same shape; the caller closes it
     * @throws IllegalArgumentException if the parameters do not fit the shape of {@code x}
     */
    public static NDArray apply(NDArray x, QParams p) {
        if (p.spec().granularity().kind() == Granularity.Kind.PER_TENSOR) {
            return perTensor(x, p);
        }
        try (Prepared prepared = prepare(p, x.getShape(), x.getManager())) {
            return apply(x, prepared);
        }
    }

    /**
     * Fake-quantizes with the STE, with parameter arrays made beforehand by {@link #prepare}.
     *
     * @param x the float input, of the shape the parameters were prepared for
     * @param prepared the parameters; not closed
     * @return the fake-quantized array, same shape; the caller closes it
     * @throws IllegalArgumentException if {@code x} does not have the prepared shape
     * @throws IllegalStateException if {@code prepared} is closed
     */
    public static NDArray apply(NDArray x, Prepared prepared) {
        QParams p = prepared.params;
        if (p.spec().granularity().kind() == Granularity.Kind.PER_TENSOR) {
            return perTensor(x, p);
        }
        if (!x.getShape().equals(prepared.shape)) {
            throw new IllegalArgumentException(
                    "parameters prepared for shape "
                            + prepared.shape
                            + " were given a tensor of shape "
                            + x.getShape());
        }
        if (prepared.closed) {
            throw new IllegalStateException("prepared fake-quant parameters " + p + " are closed");
        }
        Shape shape = x.getShape();
        NDArray xv = prepared.grouped == null ? x : x.reshape(prepared.grouped);
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        NDArray fq;
        try (NDArray xd = xv.stopGradient();
                NDArray t = xd.mul(prepared.invScale);
                NDArray r = t.round();
                NDArray rz = prepared.zero == null ? null : r.add(prepared.zero);
                NDArray cl = (rz == null ? r : rz).clip(qmin, qmax);
                NDArray cz = prepared.zero == null ? null : cl.sub(prepared.zero)) {
            // without zero points the final addition below turns a -0 into +0, as z + (-z) does
            fq = (cz == null ? cl : cz).mul(prepared.scale);
        }
        NDArray out;
        try (NDArray ge = xv.gte(prepared.lo);
                NDArray le = xv.lte(prepared.hi);
                NDArray in = ge.logicalAnd(le);
                NDArray passed = xv.mul(in)) { // the boolean mask promotes to 0/1
            try (NDArray held = passed.stopGradient();
                    NDArray zero = passed.sub(held)) {
                out = fq.add(zero);
            }
        }
        fq.close();
        if (xv != x) {
            NDArray reshaped = out.reshape(shape);
            out.close();
            xv.close();
            return reshaped;
        }
        return out;
    }

    /** The clip form: 6 engine ops and no parameter arrays. */
    /**
     * Fake-quantizes an input the way libtorch's fbgemm {@code quantized::linear_dynamic} quantizes
     * it (see {@link QuantMath#quantizeFbgemmDynamic}): {@code q = clamp(rint(fl32(x · (1f / s) +
     * z)), 0, 255)}, the zero point added before the one rounding, and {@code (q - z) · s}. The sum
     * is formed in float64 (where {@code x · (1f / s)} is exact) and rounded to float32 once more,
     * which equals the kernel's fused multiply-add except when the float64 sum falls exactly on a
     * float32 midpoint (about one value in 2^27). STE as for {@link #apply} per tensor, the
     * gradient 1 inside {@code [(0 - z) s, (255 - z) s]}.
     *
     * @param x the float input
     * @param p per-tensor UINT8 parameters, e.g. from {@link QuantMath#dynamicParamsFbgemm}
     * @return the fake-quantized array, same shape; the caller closes it
     * @throws IllegalArgumentException if the parameters are not per-tensor UINT8
     */
    public static NDArray applyFbgemmDynamic(NDArray x, QParams p) {
        if (p.spec().dtype() != QDataType.UINT8
                || p.spec().granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    "parameters were " + p + ", must be per-tensor UINT8 (fbgemm's input)");
        }
        float s = p.scale();
        long z = p.zeroPoint();
        float inv = 1.0f / s;
        long qmin = QDataType.UINT8.qmin(false);
        long qmax = QDataType.UINT8.qmax(false);
        float lo = (float) (qmin - z) * s;
        float hi = (float) (qmax - z) * s;
        NDArray c = x.clip(lo, hi);
        NDArray out;
        try (NDArray cd = c.stopGradient();
                NDArray c64 = cd.toType(DataType.FLOAT64, false);
                NDArray t64 = c64.mul((double) inv);
                NDArray u64 = t64.add((double) z);
                NDArray u = u64.toType(DataType.FLOAT32, false);
                NDArray r = u.round();
                NDArray q = r.clip(qmin, qmax);
                NDArray qz = q.sub((float) z)) {
            NDArray d = qz.mul(s);
            d.subi(cd);
            out = c.add(d);
            d.close();
        }
        return out;
    }

    private static NDArray perTensor(NDArray x, QParams p) {
        float s = p.scale();
        long z = p.zeroPoint();
        float inv = 1.0f / s;
        // the same float expressions as QuantMath: (q - z) * s with q - z an exact integer
        float lo = (float) (p.spec().qmin() - z) * s;
        float hi = (float) (p.spec().qmax() - z) * s;
        NDArray c = x.clip(lo, hi);
        NDArray out;
        try (NDArray cd = c.stopGradient();
                NDArray t = cd.mul(inv);
                NDArray d = t.round()) {
            // in place on the detached temporary: q = r * s, then d = q - c
            d.muli(s).subi(cd);
            out = c.add(d);
        }
        return out;
    }

    /**
     * Lays out parameters as engine arrays for inputs of one shape, to reuse across calls while the
     * parameters do not change (per-tensor parameters need no arrays; the result then only
     * remembers them).
     *
     * @param p the parameters
     * @param inputShape the shape of the tensors they will fake-quantize
     * @param manager the manager that owns the arrays (until {@link Prepared#close()} or until it
     *     closes)
     * @return the prepared parameters; the caller closes them
     * @throws IllegalArgumentException if the parameters do not fit the shape
     */
    public static Prepared prepare(QParams p, Shape inputShape, NDManager manager) {
        Granularity g = p.spec().granularity();
        Shape paramShape;
        Shape grouped = null;
        switch (g.kind()) {
            case PER_TENSOR:
                return new Prepared(p, inputShape, null, null, null, null, null, null, null);
            case PER_CHANNEL:
                paramShape = channelShape(inputShape, g.axis(), p.size());
                break;
            case PER_GROUP:
                if (inputShape.dimension() != 2 || g.axis() != 1) {
                    throw new IllegalArgumentException(
                            "per-group fake quantization was asked for shape "
                                    + inputShape
                                    + " along axis "
                                    + g.axis()
                                    + ", allowed: 2-D [out, in] grouped along axis 1");
                }
                long groups = inputShape.get(1) / g.groupSize();
                if (inputShape.get(1) % g.groupSize() != 0
                        || p.size() != inputShape.get(0) * groups) {
                    throw new IllegalArgumentException(
                            "per-group params "
                                    + Arrays.toString(p.paramShape())
                                    + " do not fit weight "
                                    + inputShape
                                    + " with group size "
                                    + g.groupSize());
                }
                grouped = new Shape(inputShape.get(0), groups, g.groupSize());
                paramShape = new Shape(inputShape.get(0), groups, 1);
                break;
            default:
                throw new IllegalArgumentException("unknown granularity " + g.kind());
        }
        int n = p.size();
        float[] s = new float[n];
        float[] z = new float[n];
        float[] inv = new float[n];
        float[] lo = new float[n];
        float[] hi = new float[n];
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        boolean zeros = true;
        for (int i = 0; i < n; i++) {
            s[i] = p.scaleAt(i);
            long zi = p.zeroPointAt(i);
            zeros &= zi == 0;
            z[i] = zi;
            inv[i] = 1.0f / s[i];
            lo[i] = (float) (qmin - zi) * s[i];
            hi[i] = (float) (qmax - zi) * s[i];
        }
        NDManager own = manager.newSubManager();
        return new Prepared(
                p,
                inputShape,
                grouped,
                own,
                own.create(s, paramShape),
                own.create(inv, paramShape),
                zeros ? null : own.create(z, paramShape),
                own.create(lo, paramShape),
                own.create(hi, paramShape));
    }

    static Shape channelShape(Shape shape, int axis, int channels) {
        if (axis < 0 || axis >= shape.dimension() || shape.get(axis) != channels) {
            throw new IllegalArgumentException(
                    "per-channel params have "
                            + channels
                            + " channels on axis "
                            + axis
                            + ", input shape was "
                            + shape);
        }
        long[] dims = new long[shape.dimension()];
        Arrays.fill(dims, 1);
        dims[axis] = channels;
        return new Shape(dims);
    }

    /**
     * Quantization parameters laid out as engine arrays for one input shape ({@link #prepare}).
     * Owns its arrays: {@link #close()} frees them, closing twice is harmless. Immutable; may be
     * shared by threads that do not close it.
     */
    public static final class Prepared implements AutoCloseable {

        private final QParams params;
        private final Shape shape;
        private final Shape grouped;
        private final NDManager manager;
        private final NDArray scale;
        private final NDArray invScale;
        private final NDArray zero; // null when every zero point is 0
        private final NDArray lo;
        private final NDArray hi;
        private volatile boolean closed;

        private Prepared(
                QParams params,
                Shape shape,
                Shape grouped,
                NDManager manager,
                NDArray scale,
                NDArray invScale,
                NDArray zero,
                NDArray lo,
                NDArray hi) {
            this.params = params;
            this.shape = shape;
            this.grouped = grouped;
            this.manager = manager;
            this.scale = scale;
            this.invScale = invScale;
            this.zero = zero;
            this.lo = lo;
            this.hi = hi;
        }

        /**
         * Returns the parameters.
         *
         * @return the parameters these arrays hold
         */
        public QParams params() {
            return params;
        }

        /**
         * Returns the input shape the arrays are laid out for.
         *
         * @return the shape
         */
        public Shape inputShape() {
            return shape;
        }

        /**
         * Tells whether these are the given parameters for the given input shape.
         *
         * @param p parameters
         * @param inputShape an input shape
         * @return true if both are equal to the prepared ones and this is open
         */
        public boolean matches(QParams p, Shape inputShape) {
            return !closed && params.equals(p) && shape.equals(inputShape);
        }

        /** Frees the arrays; closing twice is harmless. */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            if (manager != null) {
                manager.close();
            }
        }
    }
}
