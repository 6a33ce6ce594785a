package org.djlquant.nn;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Arrays;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * A linear layer converted to weight-only INT8 or INT4: integer weights held by libtorch, float32
 * activations, {@code y = x Ŵ^T + b} run by libtorch's CPU weight-only kernels through a {@link
 * WeightOnlyPackedLinear}. Made by {@link Converter} from an {@link ObservedLinear} prepared with a
 * {@link org.djlquant.config.QMode#WEIGHT_ONLY} config, from the twin's "weight" parameters.
 *
 * <p>Mapping from the twin's {@link QParams} ({@code ŵ = s · (q - z)}, {@link QuantMath}'s
 * rounding, so the integers are the simulation's):
 *
 * <ul>
 *   <li>INT8 SYMMETRIC, per tensor or per channel (axis 0): {@code q} as int8, one scale per output
 *       channel (a per-tensor scale repeated), {@code aten::_weight_int8pack_mm};
 *   <li>INT4 AFFINE or SYMMETRIC per group along axis 1 ({@code [out, in / g]} parameters): {@code
 *       u = q + 8 ∈ [0, 15]}, {@code scale = s}, {@code zero = -s · z} (float32), {@code
 *       aten::_weight_int4pack_mm_for_cpu}, whose {@code (u - 8) · scale + zero} is {@code s · (q -
 *       z)}. libtorch requires {@code g} in {@link WeightOnlyPackedLinear#INT4_GROUP_SIZES}, {@code
 *       in} a multiple of {@code g} and {@code out} a multiple of 16; other shapes are refused with
 *       {@link WeightOnlyShapeException}.
 * </ul>
 *
 * <p>Compute ({@link WeightOnlyPackedLinear.Compute}): FLOAT32 (default) equals the simulation up
 * to float32 summation order but runs libtorch's non-vectorized loops (slow); BFLOAT16 casts the
 * activations, scales and output to bfloat16 for the vectorized loops (about {@code 2^-8} relative
 * error on top of the weight quantization). Chosen per conversion: {@link
 * Converter#convert(ai.djl.Model, org.djlquant.backend.pytorch.QEngine,
 * WeightOnlyPackedLinear.Compute)}.
 *
 * <p>Memory: {@link #weightBytes()} native bytes of weight values ({@code out · in} for INT8,
 * {@code out · in / 2} for INT4) plus {@link #paramBytes()} of float32 scales (and zeros); the
 * float weights stay in the model's parameters until the model is closed (as for {@link
 * QuantizedLinear}). No Java copy of the integer weights is kept.
 *
 * <p>Lifecycle: {@link Converter} attaches the native tensors to the model's {@code NDManager}, so
 * closing the model frees them, once; {@link #isClosed()} tells. Thread-safety: forward may run
 * concurrently.
 */
public final class WeightOnlyLinear extends AbstractBlock {

    private static final byte VERSION = 1;

    private final String path;
    private final WeightOnlyPackedLinear packed;
    private final QParams weightParams;
    private final long[] weightShape;

    private WeightOnlyLinear(
            String path, WeightOnlyPackedLinear packed, QParams weightParams, long[] weightShape) {
        super(VERSION);
        this.path = path;
        this.packed = packed;
        this.weightParams = weightParams;
        this.weightShape = weightShape;
    }

    /**
     * Quantizes and packs one layer.
     *
     * @param path the layer path, for messages
     * @param weight row-major {@code [out, in]} float weights
     * @param shape {@code {out, in}}
     * @param wp the weight parameters (see the class documentation for the forms accepted)
     * @param bias {@code out} biases or null
     * @param compute the dtype the kernel computes in
     * @return the layer; its native tensors are closed by {@link #close()}
     * @throws WeightOnlyShapeException if the INT4 kernel cannot take the shape or group size
     * @throws IllegalArgumentException if the parameters have a form no kernel runs
     * @throws QuantizationException if libtorch refuses the tensors
     */
    static WeightOnlyLinear create(
            String path,
            float[] weight,
            long[] shape,
            QParams wp,
            float[] bias,
            WeightOnlyPackedLinear.Compute compute)
            throws QuantizationException {
        int out = (int) shape[0];
        int in = (int) shape[1];
        Granularity g = wp.spec().granularity();
        QDataType dtype = wp.spec().dtype();
        if (dtype == QDataType.INT8
                && wp.spec().scheme() == QScheme.SYMMETRIC
                && (g.kind() == Granularity.Kind.PER_TENSOR
                        || (g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0))) {
            long[] q = QuantMath.quantize(weight, shape, wp);
            byte[] q8 = new byte[q.length];
            for (int i = 0; i < q.length; i++) {
                q8[i] = (byte) q[i];
            }
            float[] scales = new float[out];
            for (int o = 0; o < out; o++) {
                scales[o] = wp.size() == 1 ? wp.scaleAt(0) : wp.scaleAt(o);
                if ((wp.size() == 1 ? wp.zeroPointAt(0) : wp.zeroPointAt(o)) != 0) {
                    throw new IllegalArgumentException(
                            "layer " + path + ": symmetric INT8 weight zero point must be 0");
                }
            }
            return new WeightOnlyLinear(
                    path,
                    WeightOnlyPackedLinear.int8(q8, shape, scales, bias, compute),
                    wp,
                    shape.clone());
        }
        if (dtype == QDataType.INT4 && g.kind() == Granularity.Kind.PER_GROUP && g.axis() == 1) {
            String why = WeightOnlyPackedLinear.int4ShapeProblem(shape, g.groupSize());
            if (why != null) {
                throw new WeightOnlyShapeException(path, why);
            }
            long[] q = QuantMath.quantize(weight, shape, wp);
            int groups = in / g.groupSize();
            byte[] u = new byte[q.length];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    u[o * in + i] = (byte) (q[o * in + i] + 8);
                }
            }
            float[] scales = new float[out * groups];
            float[] zeros = new float[out * groups];
            for (int p = 0; p < scales.length; p++) {
                scales[p] = wp.scaleAt(p);
                zeros[p] = -wp.scaleAt(p) * wp.zeroPointAt(p);
            }
            return new WeightOnlyLinear(
                    path,
                    WeightOnlyPackedLinear.int4(
                            u, shape, g.groupSize(), scales, zeros, bias, compute),
                    wp,
                    shape.clone());
        }
        throw new IllegalArgumentException(
                "layer "
                        + path
                        + ": weight-only parameters were "
                        + wp.spec()
                        + ", must be INT8 SYMMETRIC per-tensor or per-channel(axis=0), or INT4"
                        + " AFFINE/SYMMETRIC per-group(axis=1)");
    }

    /**
     * Refuses, before any parameter is computed, a weight shape the INT4 kernel cannot take.
     *
     * @param path the layer's clean path
     * @param rawPath the layer path from DJL's child names
     * @param shape {@code {out, in}}
     * @param spec the weight spec of the layer's config
     * @param compute the dtype the kernel will compute in
     * @throws WeightOnlyShapeException naming the path, the value and what is allowed
     */
    static void checkShape(
            String path,
            String rawPath,
            long[] shape,
            QSpec spec,
            WeightOnlyPackedLinear.Compute compute) {
        Granularity g = spec.granularity();
        if (spec.dtype() == QDataType.INT8) {
            String why = WeightOnlyPackedLinear.int8ShapeProblem(shape, compute);
            if (why != null) {
                throw new WeightOnlyShapeException(path, rawPath, why);
            }
        }
        if (spec.dtype() == QDataType.INT4 && g.kind() == Granularity.Kind.PER_GROUP) {
            String why = WeightOnlyPackedLinear.int4ShapeProblem(shape, g.groupSize());
            if (why != null) {
                throw new WeightOnlyShapeException(path, rawPath, why);
            }
        }
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        return new NDList(packed.forward(inputs.singletonOrThrow()));
    }

    WeightOnlyPackedLinear packed() {
        return packed;
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        long[] dims = inputShapes[0].getShape().clone(); // Shape.getShape() is its own array
        dims[dims.length - 1] = weightShape[0];
        return new Shape[] {new Shape(dims)};
    }

    /**
     * Returns the layer path (raw form) of the twin this layer was converted from.
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the dtype the kernel computes in.
     *
     * @return the compute dtype
     */
    public WeightOnlyPackedLinear.Compute getCompute() {
        return packed.getCompute();
    }

    /**
     * Returns the weight bit width.
     *
     * @return 8 or 4
     */
    public int bits() {
        return packed.getKind() == WeightOnlyPackedLinear.Kind.INT8_PER_CHANNEL ? 8 : 4;
    }

    /**
     * Returns the INT4 group size.
     *
     * @return the group size, 0 for INT8
     */
    public int groupSize() {
        return packed.getGroupSize();
    }

    /**
     * Returns the weight quantization parameters the layer was built from.
     *
     * @return the twin's "weight" parameters
     */
    public QParams getWeightParams() {
        return weightParams;
    }

    /**
     * Returns the weight shape.
     *
     * @return {@code {out, in}}
     */
    public long[] getWeightShape() {
        return weightShape.clone();
    }

    /**
     * Returns the native bytes of the weight values.
     *
     * @return {@code out · in} (INT8) or {@code out · in / 2} (INT4)
     */
    public long weightBytes() {
        return packed.weightBytes();
    }

    /**
     * Returns the native bytes of the float32 scales (and INT4 zero offsets).
     *
     * @return the bytes
     */
    public long paramBytes() {
        return packed.paramBytes();
    }

    /**
     * Returns whether the native tensors were freed (by closing the model's manager).
     *
     * @return true once freed
     */
    public boolean isClosed() {
        return packed.isClosed();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "WeightOnlyLinear(INT"
                + bits()
                + (bits() == 4 ? " group " + groupSize() : "")
                + ", "
                + getCompute()
                + ", "
                + Arrays.toString(weightShape)
                + ")";
    }
}
