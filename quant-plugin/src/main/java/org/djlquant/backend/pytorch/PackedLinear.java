package org.djlquant.backend.pytorch;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.DynamicReluOps;
import org.djlquant.backend.pytorch.internal.OpLibrary;

/**
 * One INT8 linear layer {@code y = x W^T + b} run by libtorch's quantized kernels: the weights are
 * quantized here in Java (per output channel, {@code qint8}), packed by libtorch for the quantized
 * engine current at creation ({@link QEngine#current()}) and held as a native {@code
 * LinearPackedParamsBase} object.
 *
 * <p>Two kinds:
 *
 * <ul>
 *   <li>{@linkplain #dynamicInt8 dynamic}: each call quantizes its input to {@code quint8} with a
 *       scale and zero point chosen from that input's min/max ({@code quantized::linear_dynamic};
 *       on {@link QEngine#FBGEMM} and {@link QEngine#X86} with {@code reduce_range}, i.e. 7-bit
 *       activations, as PyTorch's dynamic {@code Linear} does, so fbgemm's 16-bit pairwise sums
 *       cannot saturate);
 *   <li>{@linkplain #staticInt8 static}: the input is quantized with calibrated parameters, the
 *       output requantized with calibrated parameters ({@code quantized::linear} or {@code
 *       quantized::linear_relu}), then dequantized.
 * </ul>
 *
 * <p>Weight quantization: {@code q[o][i] = clamp(rint(w[o][i] / scales[o]) + zeroPoints[o], -128,
 * 127)} ({@code rint} rounds half to even, as libtorch does).
 *
 * <p>Lifecycle: {@link #close()} frees the packed weights; it is idempotent. {@link #forward} after
 * close throws.
 *
 * <p>Thread-safety: {@code forward} may be called from several threads at once (tested with four
 * threads on every engine); do not close while a call runs.
 */
public final class PackedLinear implements AutoCloseable {

    /** How activations are quantized. */
    public enum Mode {
        /** Per call, from the input's range. */
        DYNAMIC,
        /** With calibrated input and output parameters. */
        STATIC,
        /** As {@link #STATIC}, with ReLU fused into the requantization. */
        STATIC_RELU,
        /**
         * As {@link #DYNAMIC}, with ReLU applied in the requantization ({@code
         * quantized::linear_relu_dynamic}).
         */
        DYNAMIC_RELU
    }

    private final IValue packed;
    private final OpLibrary ops;
    private final Mode mode;
    private final QEngine engine;
    private final long inFeatures;
    private final long outFeatures;
    private final double inputScale;
    private final long inputZeroPoint;
    private final double outputScale;
    private final long outputZeroPoint;
    private final boolean reduceRange;
    private final AtomicBoolean closed = new AtomicBoolean();

    private PackedLinear(
            IValue packed,
            OpLibrary ops,
            Mode mode,
            QEngine engine,
            long[] shape,
            double inputScale,
            long inputZeroPoint,
            double outputScale,
            long outputZeroPoint,
            boolean reduceRange) {
        this.packed = packed;
        this.reduceRange = reduceRange;
        this.ops = ops;
        this.mode = mode;
        this.engine = engine;
        this.outFeatures = shape[0];
        this.inFeatures = shape[1];
        this.inputScale = inputScale;
        this.inputZeroPoint = inputZeroPoint;
        this.outputScale = outputScale;
        this.outputZeroPoint = outputZeroPoint;
    }

    /**
     * Creates a dynamic INT8 linear layer.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales, {@code out} values, each finite and {@code >
     *     0}
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]} ({@code 0} for
     *     symmetric)
     * @param axis the channel axis of the scales; must be {@code 0} (output channels)
     * @param bias {@code out} float biases, or {@code null}
     * @return the packed layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch refuses to pack the weights
     */
    public static PackedLinear dynamicInt8(
            float[] weight, long[] shape, float[] scales, long[] zeroPoints, int axis, float[] bias)
            throws QuantizationException {
        QEngine engine = QEngine.current();
        return dynamicInt8(
                weight,
                shape,
                scales,
                zeroPoints,
                axis,
                bias,
                engine == QEngine.FBGEMM || engine == QEngine.X86);
    }

    /**
     * Creates a dynamic INT8 linear layer whose per-call activation quantization uses 7 bits
     * ({@code reduceRange}) or the full 8 bits. Full range is safe for fbgemm on CPUs with
     * AVX512-VNNI, whose kernels sum u8 x s8 pairs into int32 ({@code vpdpbusd}); elsewhere
     * (including AVX-VNNI-only CPUs, which libtorch 2.7.1's fbgemm runs with its AVX2 kernels) the
     * pairwise sums are 16-bit and may saturate: keep {@code reduceRange} true.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]}
     * @param axis must be {@code 0}
     * @param bias {@code out} float biases, or {@code null}
     * @param reduceRange true for 7-bit activations (PyTorch's x86 default)
     * @return the packed layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch refuses to pack the weights
     */
    public static PackedLinear dynamicInt8(
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            boolean reduceRange)
            throws QuantizationException {
        return dynamicInt8(weight, shape, scales, zeroPoints, axis, bias, reduceRange, false);
    }

    /**
     * Creates a dynamic INT8 linear layer, optionally computing {@code relu(x Wᵀ + b)} with the
     * ReLU applied in fbgemm's requantization ({@code quantized::linear_relu_dynamic}, {@link
     * Mode#DYNAMIC_RELU}) instead of as a separate pass over the float output.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]}
     * @param axis must be {@code 0}
     * @param bias {@code out} float biases, or {@code null}
     * @param reduceRange true for 7-bit activations
     * @param fuseRelu true to apply ReLU to the output inside the kernel
     * @return the layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch cannot pack the weights
     */
    public static PackedLinear dynamicInt8(
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            boolean reduceRange,
            boolean fuseRelu)
            throws QuantizationException {
        return create(
                fuseRelu ? Mode.DYNAMIC_RELU : Mode.DYNAMIC,
                weight,
                shape,
                scales,
                zeroPoints,
                axis,
                bias,
                0,
                0,
                0,
                0,
                reduceRange);
    }

    /**
     * Creates a static INT8 linear layer.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales, {@code out} values, each finite and {@code >
     *     0}
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]}
     * @param axis the channel axis of the scales; must be {@code 0} (output channels)
     * @param bias {@code out} float biases, or {@code null}
     * @param inputScale the calibrated {@code quint8} input scale, finite and {@code > 0}
     * @param inputZeroPoint the input zero point in {@code [0, 255]}; on fbgemm keep quantized
     *     inputs within 7 bits ({@code [0, 127]}), as PyTorch's x86 configs do, or its 16-bit
     *     pairwise sums may saturate
     * @param outputScale the calibrated {@code quint8} output scale, finite and {@code > 0}
     * @param outputZeroPoint the output zero point in {@code [0, 255]}
     * @param fuseRelu whether to apply ReLU in the requantization
     * @return the packed layer; the caller closes it
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     * @throws QuantizationException if libtorch refuses to pack the weights
     */
    public static PackedLinear staticInt8(
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            float inputScale,
            long inputZeroPoint,
            float outputScale,
            long outputZeroPoint,
            boolean fuseRelu)
            throws QuantizationException {
        checkScale("inputScale", inputScale);
        checkZeroPoint("inputZeroPoint", inputZeroPoint, 0, 255);
        checkScale("outputScale", outputScale);
        checkZeroPoint("outputZeroPoint", outputZeroPoint, 0, 255);
        return create(
                fuseRelu ? Mode.STATIC_RELU : Mode.STATIC,
                weight,
                shape,
                scales,
                zeroPoints,
                axis,
                bias,
                inputScale,
                inputZeroPoint,
                outputScale,
                outputZeroPoint,
                false);
    }

    private static PackedLinear create(
            Mode mode,
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            double inputScale,
            long inputZeroPoint,
            double outputScale,
            long outputZeroPoint,
            boolean reduceRange)
            throws QuantizationException {
        byte[] q = quantizeWeight(weight, shape, scales, zeroPoints, axis);
        int out = (int) shape[0];
        if (bias != null && bias.length != out) {
            throw new IllegalArgumentException(
                    "bias length was " + bias.length + ", must be out = " + out + " or null");
        }
        double[] scalesD = new double[out];
        for (int o = 0; o < out; o++) {
            scalesD[o] = scales[o];
        }
        OpLibrary ops = OpLibrary.get();
        QEngine engine = QEngine.current();
        try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
            PtNDArray w = (PtNDArray) manager.create(q, new Shape(shape));
            PtNDArray s = (PtNDArray) manager.create(scalesD);
            PtNDArray z = (PtNDArray) manager.create(zeroPoints.clone());
            IValue packed;
            try (IValue wv = IValue.from(w);
                    IValue sv = IValue.from(s);
                    IValue zv = IValue.from(z);
                    IValue av = IValue.from((long) axis)) {
                if (bias == null) {
                    packed = ops.run("prepack_no_bias", wv, sv, zv, av);
                } else {
                    PtNDArray b = (PtNDArray) manager.create(bias);
                    try (IValue bv = IValue.from(b)) {
                        packed = ops.run("prepack", wv, sv, zv, av, bv);
                    }
                }
            } catch (IllegalStateException e) {
                throw new QuantizationException(
                        "libtorch could not pack a ["
                                + shape[0]
                                + ", "
                                + shape[1]
                                + "] INT8 weight for "
                                + engine,
                        e);
            }
            return new PackedLinear(
                    packed,
                    ops,
                    mode,
                    engine,
                    shape,
                    inputScale,
                    inputZeroPoint,
                    outputScale,
                    outputZeroPoint,
                    reduceRange);
        }
    }

    /**
     * Quantizes a weight matrix per output channel to signed 8 bits.
     *
     * @param weight row-major {@code [out, in]} floats, all finite
     * @param shape {@code {out, in}}
     * @param scales {@code out} scales, finite and {@code > 0}
     * @param zeroPoints {@code out} zero points in {@code [-128, 127]}
     * @param axis must be {@code 0}
     * @return the quantized values, row-major
     * @throws IllegalArgumentException if an argument is invalid
     */
    static byte[] quantizeWeight(
            float[] weight, long[] shape, float[] scales, long[] zeroPoints, int axis) {
        if (shape == null || shape.length != 2 || shape[0] < 1 || shape[1] < 1) {
            throw new IllegalArgumentException(
                    "shape was "
                            + Arrays.toString(shape)
                            + ", must be {out, in} with out >= 1 and in >= 1");
        }
        if (axis != 0) {
            throw new IllegalArgumentException(
                    "axis was "
                            + axis
                            + ", must be 0 (per output channel of the [out, in] weight)");
        }
        long n = shape[0] * shape[1];
        if (weight == null || weight.length != n) {
            throw new IllegalArgumentException(
                    "weight length was "
                            + (weight == null ? "null" : weight.length)
                            + ", must be "
                            + shape[0]
                            + " * "
                            + shape[1]
                            + " = "
                            + n);
        }
        int out = (int) shape[0];
        int in = (int) shape[1];
        if (scales == null || scales.length != out) {
            throw new IllegalArgumentException(
                    "scales length was "
                            + (scales == null ? "null" : scales.length)
                            + ", must be out = "
                            + out);
        }
        if (zeroPoints == null || zeroPoints.length != out) {
            throw new IllegalArgumentException(
                    "zeroPoints length was "
                            + (zeroPoints == null ? "null" : zeroPoints.length)
                            + ", must be out = "
                            + out);
        }
        byte[] q = new byte[(int) n];
        for (int o = 0; o < out; o++) {
            checkScale("scales[" + o + "]", scales[o]);
            checkZeroPoint("zeroPoints[" + o + "]", zeroPoints[o], -128, 127);
            for (int i = 0; i < in; i++) {
                float w = weight[o * in + i];
                if (!Float.isFinite(w)) {
                    throw new IllegalArgumentException(
                            "weight[" + o + "][" + i + "] was " + w + ", must be finite");
                }
                double v = Math.rint((double) w / scales[o]) + zeroPoints[o];
                q[o * in + i] = (byte) Math.max(-128, Math.min(127, v));
            }
        }
        return q;
    }

    static void checkScale(String name, float scale) {
        if (!(scale > 0) || !Float.isFinite(scale)) {
            throw new IllegalArgumentException(name + " was " + scale + ", must be finite and > 0");
        }
    }

    static void checkZeroPoint(String name, long zp, long min, long max) {
        if (zp < min || zp > max) {
            throw new IllegalArgumentException(
                    name + " was " + zp + ", must be in [" + min + ", " + max + "]");
        }
    }

    /**
     * Runs the layer on {@code x}, shaped {@code [..., in]}.
     *
     * @param x a float32 array of DJL's PyTorch engine; not modified and not closed
     * @return a new float32 array {@code [..., out]}, attached to {@code x}'s manager: the caller
     *     closes it (or that manager). It is computed under libtorch's inference mode (DJL's {@code
     *     runMethod}), so it carries no gradient and cannot be used inside a {@code
     *     GradientCollector}
     * @throws IllegalArgumentException if {@code x} is not a PyTorch float32 array whose last
     *     dimension is {@code in}
     * @throws IllegalStateException if this layer is closed, or libtorch fails
     */
    public NDArray forward(NDArray x) {
        if (closed.get()) {
            throw new IllegalStateException("PackedLinear is closed");
        }
        PtNDArray px = checkFloat("x", x);
        checkWidth(x.getShape());
        try (IValue xv = IValue.from(px);
                IValue result = run(xv)) {
            return result.toTensor((PtNDManager) px.getManager());
        }
    }

    /**
     * Runs a static layer on an already quantized input and keeps the output quantized, with this
     * layer's output scale and zero point (and ReLU if fused). The input's own scale and zero point
     * are used, not this layer's calibrated input parameters.
     *
     * @param x a quantized activation {@code [..., in]}; not closed
     * @return the quantized output {@code [..., out]}; the caller closes it
     * @throws IllegalStateException if this layer is dynamic or closed, or {@code x} is closed
     * @throws IllegalArgumentException if the last dimension of {@code x} is not {@code in}
     */
    public QuantizedActivation forward(QuantizedActivation x) {
        if (closed.get()) {
            throw new IllegalStateException("PackedLinear is closed");
        }
        if (mode == Mode.DYNAMIC || mode == Mode.DYNAMIC_RELU) {
            throw new IllegalStateException(
                    "mode was " + mode + ", a quantized input needs mode STATIC or STATIC_RELU");
        }
        Shape shape = x.getShape();
        checkWidth(shape);
        String method = mode == Mode.STATIC_RELU ? "linear_relu_q" : "linear_q";
        try (IValue os = IValue.from(outputScale);
                IValue oz = IValue.from(outputZeroPoint)) {
            IValue y = ops.run(method, x.handle(), packed, os, oz);
            long[] dims = shape.getShape().clone(); // Shape.getShape() is its own array
            dims[dims.length - 1] = outFeatures;
            return new QuantizedActivation(y, ops, new Shape(dims), outputScale, outputZeroPoint);
        }
    }

    static PtNDArray checkFloat(String name, NDArray x) {
        if (!(x instanceof PtNDArray)) {
            throw new IllegalArgumentException(
                    name
                            + " was an array of engine "
                            + (x == null ? "null" : x.getManager().getEngine().getEngineName())
                            + ", must be of engine PyTorch");
        }
        if (x.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException(
                    name + " was " + x.getDataType() + " " + x.getShape() + ", must be float32");
        }
        return (PtNDArray) x;
    }

    private static DynamicReluOps reluOps() {
        try {
            return DynamicReluOps.get();
        } catch (QuantizationException e) {
            throw new IllegalStateException(
                    "libtorch refused the dynamic ReLU op library: " + e.getMessage(), e);
        }
    }

    private void checkWidth(Shape shape) {
        if (shape.dimension() < 1 || shape.get(shape.dimension() - 1) != inFeatures) {
            throw new IllegalArgumentException(
                    "x was " + shape + ", must be [..., " + inFeatures + "]");
        }
    }

    private IValue run(IValue xv) {
        if (mode == Mode.DYNAMIC) {
            try (IValue rr = IValue.from(reduceRange)) {
                return ops.run("linear_dynamic", xv, packed, rr);
            }
        }
        if (mode == Mode.DYNAMIC_RELU) {
            try (IValue rr = IValue.from(reduceRange)) {
                return reluOps().linearReluDynamic(xv, packed, rr);
            }
        }
        String method = mode == Mode.STATIC_RELU ? "linear_relu_static" : "linear_static";
        try (IValue is = IValue.from(inputScale);
                IValue iz = IValue.from(inputZeroPoint);
                IValue os = IValue.from(outputScale);
                IValue oz = IValue.from(outputZeroPoint)) {
            return ops.run(method, xv, packed, is, iz, os, oz);
        }
    }

    /**
     * Returns the activation mode.
     *
     * @return the mode
     */
    public Mode getMode() {
        return mode;
    }

    /**
     * Returns whether a dynamic layer quantizes its activations to 7 bits.
     *
     * @return the flag ({@code false} for static layers)
     */
    public boolean isReduceRange() {
        return reduceRange;
    }

    /**
     * Returns the quantized engine the weights were packed for.
     *
     * @return the engine current at creation
     */
    public QEngine getEngine() {
        return engine;
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
     * Returns whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public boolean isClosed() {
        return closed.get();
    }

    /** Frees the packed weights. Idempotent: later calls do nothing. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            packed.close();
        }
    }
}
