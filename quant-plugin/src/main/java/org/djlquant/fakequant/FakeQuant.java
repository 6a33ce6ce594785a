package org.djlquant.fakequant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QParams;

/**
 * Fake quantization with a straight-through estimator (STE), per-tensor, per-channel and per-group
 * (on a 2-D {@code [out, in]} weight grouped along axis 1).
 *
 * <p>Forward value: {@code fq(x) = (clamp(round(x / s) + z, qmin, qmax) - z) * s} with round half
 * to even (libtorch's {@code round}). Backward: the gradient is 1 where {@code lo <= x <= hi}
 * ({@code lo = (qmin - z) s}, {@code hi = (qmax - z) s}) and 0 for clipped values. This is the
 * estimator {@code xc = clip(x, lo, hi); out = xc + (fq(x) - xc).stopGradient()}, written as {@code
 * out = fq(x) + (m x - stopGradient(m x))} with the 0/1 mask {@code m} of in-range elements: the
 * same gradient, and a forward value that is exactly {@code fq(x)} with no rounding error from
 * adding and subtracting {@code xc}.
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
        NDManager m = x.getManager();
        Shape shape = x.getShape();
        Granularity g = p.spec().granularity();
        NDArray xv = x;
        Shape paramShape;
        switch (g.kind()) {
            case PER_TENSOR:
                paramShape = new Shape();
                break;
            case PER_CHANNEL:
                paramShape = channelShape(shape, g.axis(), p.scales().length);
                break;
            case PER_GROUP:
                if (shape.dimension() != 2 || g.axis() != 1) {
                    throw new IllegalArgumentException(
                            "per-group fake quantization was asked for shape "
                                    + shape
                                    + " along axis "
                                    + g.axis()
                                    + ", allowed: 2-D [out, in] grouped along axis 1");
                }
                long groups = shape.get(1) / g.groupSize();
                if (shape.get(1) % g.groupSize() != 0
                        || p.scales().length != shape.get(0) * groups) {
                    throw new IllegalArgumentException(
                            "per-group params "
                                    + Arrays.toString(p.paramShape())
                                    + " do not fit weight "
                                    + shape
                                    + " with group size "
                                    + g.groupSize());
                }
                xv = x.reshape(shape.get(0), groups, g.groupSize());
                paramShape = new Shape(shape.get(0), groups, 1);
                break;
            default:
                throw new IllegalArgumentException("unknown granularity " + g.kind());
        }
        float[] s = p.scales();
        long[] zl = p.zeroPoints();
        float[] z = new float[zl.length];
        float[] inv = new float[s.length];
        float[] lo = new float[s.length];
        float[] hi = new float[s.length];
        long qmin = p.spec().qmin();
        long qmax = p.spec().qmax();
        for (int i = 0; i < s.length; i++) {
            z[i] = zl[i];
            inv[i] = 1.0f / s[i];
            lo[i] = (qmin - zl[i]) * s[i];
            hi[i] = (qmax - zl[i]) * s[i];
        }
        NDArray scale = m.create(s, paramShape);
        NDArray invScale = m.create(inv, paramShape);
        NDArray zero = m.create(z, paramShape);
        NDArray loA = m.create(lo, paramShape);
        NDArray hiA = m.create(hi, paramShape);
        NDArray fq =
                xv.stopGradient()
                        .mul(invScale)
                        .round()
                        .add(zero)
                        .clip(qmin, qmax)
                        .sub(zero)
                        .mul(scale);
        NDArray mask = xv.gte(loA).logicalAnd(xv.lte(hiA)).toType(DataType.FLOAT32, false);
        NDArray passed = xv.mul(mask);
        NDArray out = fq.add(passed.sub(passed.stopGradient()));
        return xv == x ? out : out.reshape(shape);
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
}
