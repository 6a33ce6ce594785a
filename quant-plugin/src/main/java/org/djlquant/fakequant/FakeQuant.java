package org.djlquant.fakequant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
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
 * <p><b>Per tensor</b> (activations; one new array and 4 in-place engine ops): {@code c = clamp(x,
 * lo, hi)} (libtorch's {@code clamp} passes the gradient exactly where {@code lo <= x <= hi} and
 * keeps its input, not its result, for the backward pass), then {@code c}'s own storage, through a
 * detached alias, is turned into {@code q = round(c * (1f / s)) * s} in place. The value is exactly
 * {@code fq(x)}: clamping first changes no rounded value ({@code fq(lo) = lo}, {@code fq(hi) =
 * hi}), and adding and removing {@code z} is exact for integers and is left out.
 *
 * <p><b>Rounding in place</b>: DJL has no in-place {@code round}, so {@code t} is rounded half to
 * even by {@code (t + 1.5 * 2^23) - 1.5 * 2^23} in float arithmetic, which is exact for {@code |t|
 * < 2^22} (the sum lands where the float spacing is 1) and turns a {@code -0} into {@code +0} as
 * the reference does. Integer ranges whose ends are beyond {@code 2^21} fall back to libtorch's
 * {@code round}.
 *
 * <p><b>Per channel / per group</b> (weights; 4 new arrays, 3 of them freed at once, and 4 in-place
 * ops): DJL's {@code clip} takes scalar bounds only, so the detached input is clamped to the
 * per-channel bounds with {@code c = min(max(x, lo), hi)} (broadcast), the mask {@code m = (x ==
 * c)} is exactly {@code lo <= x <= hi}, and {@code out = where(m, x, c)} carries the gradient (1
 * inside, {@code +0} outside; {@code where} keeps only the mask for the backward pass). {@code
 * out}'s storage, which holds {@code c}, then takes {@code round(c * (1/s)) * s} in place: the
 * clip-first argument above, per channel. Its parameter arrays can be made once and reused ({@link
 * Prepared}).
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
        NDArray out;
        try (NDArray xd = xv.stopGradient();
                NDArray above = xd.maximum(prepared.lo);
                NDArray c = above.minimum(prepared.hi);
                NDArray inRange = xd.eq(c)) {
            // the gradient: where(m, x, c) passes it exactly where lo <= x <= hi (there x == c);
            // where keeps only the mask for the backward pass, so its own storage, which holds
            // the per-channel clamp c, can then take the value in place
            out = NDArrays.where(inRange, xv, c);
        }
        try (NDArray od = out.stopGradient()) {
            od.muli(prepared.invScale);
            if (prepared.magicRounding) {
                od.addi(MAGIC).subi(MAGIC);
            } else {
                try (NDArray r = od.round()) {
                    od.subi(od).addi(r);
                }
            }
            od.muli(prepared.scale);
        }
        if (xv != x) {
            NDArray reshaped = out.reshape(shape);
            out.close();
            xv.close();
            return reshaped;
        }
        return out;
    }

    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to even. */
    private static final float MAGIC = 12582912f;

    /** Whether integers {@code qmin - z .. qmax - z} (and their neighbours) are below 2^21. */
    private static boolean magicRoundingExact(long qmin, long qmax, long z) {
        long limit = 1L << 21;
        return Math.abs(qmin - z) < limit && Math.abs(qmax - z) < limit;
    }

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

    /** The clip form: a clip plus 4 in-place engine ops on its result, no parameter arrays. */
    private static NDArray perTensor(NDArray x, QParams p) {
        float s = p.scale();
        long z = p.zeroPoint();
        float inv = 1.0f / s;
        // the same float expressions as QuantMath: (q - z) * s with q - z an exact integer
        float lo = (float) (p.spec().qmin() - z) * s;
        float hi = (float) (p.spec().qmax() - z) * s;
        NDArray c = x.clip(lo, hi);
        // clamp's backward keeps its input, not its result: the result's storage can take the
        // value q = round(c * (1/s)) * s in place, through a detached alias
        try (NDArray cd = c.stopGradient()) {
            cd.muli(inv);
            if (magicRoundingExact(p.spec().qmin(), p.spec().qmax(), z)) {
                // |c / s| <= max(|qmin - z|, |qmax - z|) (+ rounding): the identity is exact;
                // it also turns a -0 into +0
                cd.addi(MAGIC).subi(MAGIC);
            } else {
                try (NDArray r = cd.round()) {
                    // x - x + r: r with a -0 turned into +0
                    cd.subi(cd).addi(r);
                }
            }
            cd.muli(s);
        }
        return c;
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
                return new Prepared(p, inputShape, null, null, null, null, null, null, false);
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
        float[] inv = new float[n];
        float[] lo = new float[n];
        float[] hi = new float[n];
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        boolean magic = true;
        for (int i = 0; i < n; i++) {
            s[i] = p.scaleAt(i);
            long zi = p.zeroPointAt(i);
            magic &= magicRoundingExact(qmin, qmax, zi);
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
                own.create(lo, paramShape),
                own.create(hi, paramShape),
                magic);
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
        private final NDArray lo;
        private final NDArray hi;
        private final boolean magicRounding;
        private volatile boolean closed;

        private Prepared(
                QParams params,
                Shape shape,
                Shape grouped,
                NDManager manager,
                NDArray scale,
                NDArray invScale,
                NDArray lo,
                NDArray hi,
                boolean magicRounding) {
            this.params = params;
            this.shape = shape;
            this.grouped = grouped;
            this.manager = manager;
            this.scale = scale;
            this.invScale = invScale;
            this.lo = lo;
            this.hi = hi;
            this.magicRounding = magicRounding;
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
