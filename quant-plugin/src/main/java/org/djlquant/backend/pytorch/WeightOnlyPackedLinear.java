package org.djlquant.backend.pytorch;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.WeightOnlyOps;

/**
 * One weight-only linear layer {@code y = x Ŵ^T + b}: integer weights held by libtorch, float32
 * activations, run by libtorch's CPU weight-only kernels (present in libtorch 2.7.1, independent of
 * the quantized engine):
 *
 * <ul>
 *   <li>{@linkplain #int8 INT8 per output channel}: {@code aten::_weight_int8pack_mm}; the weight
 *       is an int8 {@code [N, K]} tensor, one float32 scale per output channel, {@code Ŵ[n][k] =
 *       q[n][k] · scale[n]} (symmetric: no zero point);
 *   <li>{@linkplain #int4 INT4 per group of input features}: {@code
 *       aten::_convert_weight_to_int4pack_for_cpu} packs 4-bit values {@code u ∈ [0, 15]} two to a
 *       byte ({@code [N, K / 2]} uint8), and {@code aten::_weight_int4pack_mm_for_cpu} computes
 *       {@code Ŵ[n][k] = (u[n][k] - 8) · scale[n][g] + zero[n][g]} with {@code g = k / groupSize}
 *       (the kernel's scales-and-zeros tensor is float32 {@code [K / groupSize, N, 2]}, built here
 *       from row-major {@code [N, K / groupSize]} scales and zeros). {@code zero} is a float
 *       offset, not an integer zero point: an affine INT4 value {@code q ∈ [-8, 7]} with zero point
 *       {@code z} ({@code Ŵ = s · (q - z)}) maps to {@code u = q + 8}, {@code zero = -s · z}.
 * </ul>
 *
 * <p>Shape rules (libtorch's checks, refused here first with the value and what is allowed): INT4
 * needs {@code groupSize} in {@link #INT4_GROUP_SIZES}, {@code K} a multiple of {@code groupSize}
 * and {@code N} a multiple of {@link #INT4_OUT_MULTIPLE}. INT8 has no shape rule.
 *
 * <p>Arithmetic ({@link Compute}): with {@link Compute#FLOAT32} both kernels run their portable
 * (non-vectorized) float32 loops on x86 ({@code c += a · (q · s)} for INT8, {@code c += a · (u' · s
 * + z)} for INT4, float32 accumulation), so results equal a float matmul with the dequantized
 * weights up to float32 summation order, but slowly. Their vectorized (AVX2 / AVX-512) paths take
 * bfloat16 activations only: {@link Compute#BFLOAT16} casts the input, the scales (and zeros) to
 * bfloat16, accumulates in float32 and rounds the output to bfloat16 before casting it back
 * (relative error about {@code 2^-9} per rounding). The bfloat16 INT8 loop reads 16 input features
 * at a time, so it needs {@code in} a multiple of {@link #BF16_IN_MULTIPLE}.
 *
 * <p>Lifecycle: {@link #close()} frees the native tensors; it is idempotent. {@link #forward} after
 * close throws. Thread-safety: {@code forward} may run concurrently; do not close while a call
 * runs.
 */
public final class WeightOnlyPackedLinear implements AutoCloseable {

    /** The group sizes libtorch's INT4 CPU kernel accepts. */
    public static final List<Integer> INT4_GROUP_SIZES = List.of(32, 64, 128, 256);

    /** INT4: the number of output features must be a multiple of this (libtorch's packing). */
    public static final int INT4_OUT_MULTIPLE = 16;

    /** BFLOAT16 compute: the number of input features must be a multiple of this. */
    public static final int BF16_IN_MULTIPLE = 16;

    /** The dtype the kernel computes in. */
    public enum Compute {
        /** float32 activations, scales and output: exact up to summation order, slow loops. */
        FLOAT32,
        /**
         * bfloat16 activations, scales (and zeros) and output, float32 accumulation: fast loops.
         */
        BFLOAT16
    }

    /** The weight format. */
    public enum Kind {
        /** INT8 weights, one scale per output channel. */
        INT8_PER_CHANNEL,
        /** 4-bit weights, one scale and one float zero offset per group of input features. */
        INT4_PER_GROUP
    }

    private final WeightOnlyOps ops;
    private final Kind kind;
    private final Compute compute;
    private final String method;
    private final IValue weight;
    private final IValue params;
    private final IValue bias;
    private final IValue group;
    private final long inFeatures;
    private final long outFeatures;
    private final int groupSize;
    private final long weightBytes;
    private final long paramBytes;
    private final AtomicBoolean closed = new AtomicBoolean();

    private WeightOnlyPackedLinear(
            WeightOnlyOps ops,
            Kind kind,
            Compute compute,
            IValue weight,
            IValue params,
            IValue bias,
            long[] shape,
            int groupSize,
            long weightBytes,
            long paramBytes) {
        this.ops = ops;
        this.kind = kind;
        this.compute = compute;
        this.method =
                WeightOnlyOps.method(
                        kind == Kind.INT4_PER_GROUP, compute == Compute.BFLOAT16, bias != null);
        this.weight = weight;
        this.params = params;
        this.bias = bias;
        this.group = kind == Kind.INT4_PER_GROUP ? IValue.from((long) groupSize) : null;
        this.outFeatures = shape[0];
        this.inFeatures = shape[1];
        this.groupSize = groupSize;
        this.weightBytes = weightBytes;
        this.paramBytes = paramBytes;
    }

    /**
     * Creates an INT8 weight-only layer.
     *
     * @param q the int8 weight values, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales {@code out} per-output-channel scales, each finite and {@code > 0}
     * @param bias {@code out} float biases, or {@code null}
     * @return the layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch refuses the tensors
     */
    public static WeightOnlyPackedLinear int8(byte[] q, long[] shape, float[] scales, float[] bias)
            throws QuantizationException {
        return int8(q, shape, scales, bias, Compute.FLOAT32);
    }

    /**
     * Creates an INT8 weight-only layer computing in the given dtype.
     *
     * @param q the int8 weight values, row-major {@code [out, in]}
     * @param shape {@code {out, in}}; for BFLOAT16 {@code in} a multiple of {@link
     *     #BF16_IN_MULTIPLE}
     * @param scales {@code out} per-output-channel scales, each finite and {@code > 0}
     * @param bias {@code out} float biases, or {@code null}
     * @param compute the kernel's dtype
     * @return the layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch refuses the tensors
     */
    public static WeightOnlyPackedLinear int8(
            byte[] q, long[] shape, float[] scales, float[] bias, Compute compute)
            throws QuantizationException {
        String why = int8ShapeProblem(shape, compute);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        int out = (int) shape[0];
        int in = (int) shape[1];
        checkLength("q", q == null ? -1 : q.length, (long) out * in);
        checkLength("scales", scales == null ? -1 : scales.length, out);
        for (int o = 0; o < out; o++) {
            PackedLinear.checkScale("scales[" + o + "]", scales[o]);
        }
        checkBias(bias, out);
        WeightOnlyOps ops = WeightOnlyOps.get();
        List<IValue> made = new ArrayList<>();
        try (NDManager m = Engine.getEngine("PyTorch").newBaseManager()) {
            IValue w = keep(ops, made, m.create(q, new Shape(shape)), false);
            IValue s = keep(ops, made, m.create(scales), compute == Compute.BFLOAT16);
            IValue b = bias == null ? null : keep(ops, made, m.create(bias), false);
            return new WeightOnlyPackedLinear(
                    ops,
                    Kind.INT8_PER_CHANNEL,
                    compute,
                    w,
                    s,
                    b,
                    shape,
                    0,
                    (long) out * in,
                    (compute == Compute.BFLOAT16 ? 2L : 4L) * out);
        } catch (RuntimeException e) {
            made.forEach(IValue::close);
            throw e;
        }
    }

    /**
     * Creates an INT4 weight-only layer.
     *
     * @param u the 4-bit weight values in {@code [0, 15]} (the kernel subtracts 8), row-major
     *     {@code [out, in]}
     * @param shape {@code {out, in}}; {@code out} a multiple of {@link #INT4_OUT_MULTIPLE}, {@code
     *     in} a multiple of {@code groupSize}
     * @param groupSize one of {@link #INT4_GROUP_SIZES}
     * @param scales row-major {@code [out, in / groupSize]} scales, finite and {@code > 0}
     * @param zeros row-major {@code [out, in / groupSize]} finite float offsets
     * @param bias {@code out} float biases, or {@code null}
     * @return the layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names the value and
     *     what is allowed
     * @throws QuantizationException if libtorch refuses the tensors
     */
    public static WeightOnlyPackedLinear int4(
            byte[] u, long[] shape, int groupSize, float[] scales, float[] zeros, float[] bias)
            throws QuantizationException {
        return int4(u, shape, groupSize, scales, zeros, bias, Compute.FLOAT32);
    }

    /**
     * Creates an INT4 weight-only layer computing in the given dtype.
     *
     * @param u the 4-bit weight values in {@code [0, 15]}, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param groupSize one of {@link #INT4_GROUP_SIZES}
     * @param scales row-major {@code [out, in / groupSize]} scales
     * @param zeros row-major {@code [out, in / groupSize]} float offsets
     * @param bias {@code out} float biases, or {@code null}
     * @param compute the kernel's dtype
     * @return the layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid
     * @throws QuantizationException if libtorch refuses the tensors
     */
    public static WeightOnlyPackedLinear int4(
            byte[] u,
            long[] shape,
            int groupSize,
            float[] scales,
            float[] zeros,
            float[] bias,
            Compute compute)
            throws QuantizationException {
        String why = int4ShapeProblem(shape, groupSize);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        int out = (int) shape[0];
        int in = (int) shape[1];
        int groups = in / groupSize;
        checkLength("u", u == null ? -1 : u.length, (long) out * in);
        checkLength("scales", scales == null ? -1 : scales.length, (long) out * groups);
        checkLength("zeros", zeros == null ? -1 : zeros.length, (long) out * groups);
        checkBias(bias, out);
        int[] w32 = new int[u.length];
        for (int i = 0; i < u.length; i++) {
            if (u[i] < 0 || u[i] > 15) {
                throw new IllegalArgumentException(
                        "u[" + i + "] was " + u[i] + ", must be in [0, 15]");
            }
            w32[i] = u[i];
        }
        float[] sz = new float[out * groups * 2];
        for (int o = 0; o < out; o++) {
            for (int g = 0; g < groups; g++) {
                int p = o * groups + g;
                PackedLinear.checkScale("scales[" + o + "][" + g + "]", scales[p]);
                if (!Float.isFinite(zeros[p])) {
                    throw new IllegalArgumentException(
                            "zeros[" + o + "][" + g + "] was " + zeros[p] + ", must be finite");
                }
                sz[(g * out + o) * 2] = scales[p];
                sz[(g * out + o) * 2 + 1] = zeros[p];
            }
        }
        WeightOnlyOps ops = WeightOnlyOps.get();
        List<IValue> made = new ArrayList<>();
        try (NDManager m = Engine.getEngine("PyTorch").newBaseManager()) {
            IValue packed;
            try (IValue wv = IValue.from((PtNDArray) m.create(w32, new Shape(shape)))) {
                packed = ops.run("pack_int4", wv);
            } catch (IllegalStateException e) {
                throw new QuantizationException(
                        "libtorch could not pack a [" + out + ", " + in + "] INT4 weight", e);
            }
            made.add(packed);
            IValue s =
                    keep(
                            ops,
                            made,
                            m.create(sz, new Shape(groups, out, 2)),
                            compute == Compute.BFLOAT16);
            IValue b = bias == null ? null : keep(ops, made, m.create(bias), false);
            return new WeightOnlyPackedLinear(
                    ops,
                    Kind.INT4_PER_GROUP,
                    compute,
                    packed,
                    s,
                    b,
                    shape,
                    groupSize,
                    (long) out * in / 2,
                    (compute == Compute.BFLOAT16 ? 4L : 8L) * out * groups);
        } catch (RuntimeException e) {
            made.forEach(IValue::close);
            throw e;
        }
    }

    /**
     * Says why libtorch's INT4 kernel cannot take a weight shape and group size.
     *
     * @param shape {@code {out, in}}
     * @param groupSize the group size
     * @return null if it can, else a message naming the value given and what is allowed
     */
    public static String int4ShapeProblem(long[] shape, int groupSize) {
        checkShape(shape);
        if (!INT4_GROUP_SIZES.contains(groupSize)) {
            return "INT4 groupSize was "
                    + groupSize
                    + ", must be one of "
                    + INT4_GROUP_SIZES
                    + " (libtorch's _weight_int4pack_mm_for_cpu)";
        }
        if (shape[1] % groupSize != 0) {
            return "INT4 in features (K) was "
                    + shape[1]
                    + ", must be a multiple of groupSize "
                    + groupSize;
        }
        if (shape[0] % INT4_OUT_MULTIPLE != 0) {
            return "INT4 out features (N) was "
                    + shape[0]
                    + ", must be a multiple of "
                    + INT4_OUT_MULTIPLE
                    + " (libtorch's _convert_weight_to_int4pack_for_cpu)";
        }
        return null;
    }

    /**
     * Says why the INT8 kernel cannot take a weight shape in a compute dtype.
     *
     * @param shape {@code {out, in}}
     * @param compute the compute dtype
     * @return null if it can, else a message naming the value given and what is allowed
     */
    public static String int8ShapeProblem(long[] shape, Compute compute) {
        checkShape(shape);
        if (compute == Compute.BFLOAT16 && shape[1] % BF16_IN_MULTIPLE != 0) {
            return "INT8 in features (K) was "
                    + shape[1]
                    + ", must be a multiple of "
                    + BF16_IN_MULTIPLE
                    + " for BFLOAT16 compute (libtorch's vectorized _weight_int8pack_mm loop);"
                    + " FLOAT32 compute takes any K";
        }
        return null;
    }

    private static IValue keep(WeightOnlyOps ops, List<IValue> made, NDArray a, boolean bf16) {
        try (IValue v = IValue.from((PtNDArray) a)) {
            IValue kept = ops.run(bf16 ? "keep_bf16" : "keep", v);
            made.add(kept);
            return kept;
        }
    }

    private static void checkShape(long[] shape) {
        if (shape == null
                || shape.length != 2
                || shape[0] < 1
                || shape[1] < 1
                || shape[0] * shape[1] > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    "shape was "
                            + Arrays.toString(shape)
                            + ", must be {out, in} with out >= 1, in >= 1 and out * in < 2^31");
        }
    }

    private static void checkLength(String name, long length, long expected) {
        if (length != expected) {
            throw new IllegalArgumentException(
                    name
                            + " length was "
                            + (length < 0 ? "null" : String.valueOf(length))
                            + ", must be "
                            + expected);
        }
    }

    private static void checkBias(float[] bias, int out) {
        if (bias != null && bias.length != out) {
            throw new IllegalArgumentException(
                    "bias length was " + bias.length + ", must be out = " + out + " or null");
        }
    }

    /**
     * Runs the layer on {@code x}, shaped {@code [..., in]}.
     *
     * @param x a float32 array of DJL's PyTorch engine; not modified and not closed
     * @return a new float32 array {@code [..., out]}, attached to {@code x}'s manager: the caller
     *     closes it (or that manager). Computed under libtorch's inference mode, so it carries no
     *     gradient
     * @throws IllegalArgumentException if {@code x} is not a PyTorch float32 array whose last
     *     dimension is {@code in}
     * @throws IllegalStateException if this layer is closed, or libtorch fails
     */
    public NDArray forward(NDArray x) {
        if (closed.get()) {
            throw new IllegalStateException("WeightOnlyPackedLinear is closed");
        }
        PtNDArray px = PackedLinear.checkFloat("x", x);
        Shape shape = x.getShape();
        if (shape.dimension() < 1 || shape.get(shape.dimension() - 1) != inFeatures) {
            throw new IllegalArgumentException(
                    "x was " + shape + ", must be [..., " + inFeatures + "]");
        }
        try (IValue xv = IValue.from(px);
                IValue y = run(xv)) {
            return y.toTensor((PtNDManager) px.getManager());
        }
    }

    private IValue run(IValue xv) {
        if (kind == Kind.INT8_PER_CHANNEL) {
            return bias == null
                    ? ops.run(method, xv, weight, params)
                    : ops.run(method, xv, weight, params, bias);
        }
        return bias == null
                ? ops.run(method, xv, weight, group, params)
                : ops.run(method, xv, weight, group, params, bias);
    }

    /**
     * Returns the dtype the kernel computes in.
     *
     * @return the compute dtype
     */
    public Compute getCompute() {
        return compute;
    }

    /**
     * Returns the weight format.
     *
     * @return the kind
     */
    public Kind getKind() {
        return kind;
    }

    /**
     * Returns the INT4 group size.
     *
     * @return the group size, or 0 for INT8
     */
    public int getGroupSize() {
        return groupSize;
    }

    /**
     * Returns the number of input features.
     *
     * @return {@code in}
     */
    public long getInFeatures() {
        return inFeatures;
    }

    /**
     * Returns the number of output features.
     *
     * @return {@code out}
     */
    public long getOutFeatures() {
        return outFeatures;
    }

    /**
     * Returns the native bytes of the weight values: {@code out · in} for INT8, {@code out · in /
     * 2} for INT4 (two 4-bit values a byte).
     *
     * @return the bytes
     */
    public long weightBytes() {
        return weightBytes;
    }

    /**
     * Returns the native bytes of the quantization parameters: {@code out} scales for INT8, {@code
     * 2 · out · in / groupSize} scales and zeros for INT4, 4 bytes each for FLOAT32 compute and 2
     * for BFLOAT16 (bias not included).
     *
     * @return the bytes
     */
    public long paramBytes() {
        return paramBytes;
    }

    /**
     * Returns whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed.get();
    }

    /** Frees the native tensors. Idempotent: later calls do nothing. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            weight.close();
            params.close();
            if (bias != null) {
                bias.close();
            }
            if (group != null) {
                group.close();
            }
        }
    }
}
