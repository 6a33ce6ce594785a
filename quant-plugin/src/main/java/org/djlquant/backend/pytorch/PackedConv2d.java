package org.djlquant.backend.pytorch;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.ConvOps;
import org.djlquant.backend.pytorch.internal.OpLibrary;

/**
 * One static INT8 2-D convolution run by libtorch's quantized kernels ({@code quantized::conv2d},
 * or {@code quantized::conv2d_relu} with ReLU fused into the requantization): the float NCHW input
 * is quantized to {@code quint8} with calibrated parameters, convolved with {@code qint8} weights
 * packed for the quantized engine current at {@link Builder#build()} ({@link QEngine#current()}),
 * and the output is requantized with calibrated parameters, then dequantized.
 *
 * <p>The float input is clamped to the real range of the integer levels {@code [0, inputQuantMax]}
 * first ({@link Builder#optInputQuantMax}).
 *
 * <p>Weights {@code [O, I / groups, kH, kW]} are quantized here in Java per tensor (one scale) or
 * per output channel (axis 0, {@code O} scales): {@code q = clamp(rint(w / scale) + zeroPoint,
 * -128, 127)}. There is no dynamic convolution kernel in libtorch, so there is no dynamic mode.
 *
 * <pre>{@code
 * try (PackedConv2d conv = PackedConv2d.builder()
 *         .setWeight(w, new long[] {16, 8, 3, 3})
 *         .setWeightParams(scales, zeroPoints)
 *         .optBias(b).optPadding(1, 1)
 *         .setInputParams(0.02f, 0).setOutputParams(0.05f, 0).optFuseRelu(true)
 *         .build()) {
 *     NDArray y = conv.forward(x); // caller closes y
 * }
 * }</pre>
 *
 * <p>Lifecycle: {@link #close()} frees the packed weights exactly once; later calls do nothing.
 * {@code forward} after close throws. Thread-safety: {@code forward} may be called from several
 * threads at once; do not close while a call runs.
 */
public final class PackedConv2d implements AutoCloseable {

    private final IValue packed;
    private final ConvOps ops;
    private final QEngine engine;
    private final long[] weightShape;
    private final long[] stride;
    private final long[] padding;
    private final long[] dilation;
    private final int groups;
    private final double inputScale;
    private final long inputZeroPoint;
    private final long inputQuantMax;
    private final double outputScale;
    private final long outputZeroPoint;
    private final long outputQuantMax;
    private final boolean reluFused;
    private final AtomicBoolean closed = new AtomicBoolean();

    private PackedConv2d(Builder b, IValue packed, ConvOps ops, QEngine engine) {
        this.packed = packed;
        this.ops = ops;
        this.engine = engine;
        this.weightShape = b.shape.clone();
        this.stride = b.stride.clone();
        this.padding = b.padding.clone();
        this.dilation = b.dilation.clone();
        this.groups = b.groups;
        this.inputScale = b.inputScale;
        this.inputZeroPoint = b.inputZeroPoint;
        this.inputQuantMax = b.inputQuantMax;
        this.outputScale = b.outputScale;
        this.outputZeroPoint = b.outputZeroPoint;
        this.outputQuantMax = b.outputQuantMax;
        this.reluFused = b.fuseRelu;
    }

    /**
     * Returns a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link PackedConv2d}; {@link #build()} validates every field. */
    public static final class Builder {
        private float[] weight;
        private long[] shape;
        private float[] scales;
        private long[] zeroPoints;
        private float[] bias;
        private long[] stride = {1, 1};
        private long[] padding = {0, 0};
        private long[] dilation = {1, 1};
        private int groups = 1;
        private float inputScale = Float.NaN;
        private long inputZeroPoint = -1;
        private long inputQuantMax = 255;
        private float outputScale = Float.NaN;
        private long outputZeroPoint = -1;
        private long outputQuantMax = 255;
        private boolean fuseRelu;

        private Builder() {}

        /**
         * Sets the float weights (required).
         *
         * @param weight row-major {@code [O, I / groups, kH, kW]} floats, all finite; copied
         * @param shape {@code {O, I / groups, kH, kW}}
         * @return this builder
         */
        public Builder setWeight(float[] weight, long[] shape) {
            this.weight = weight == null ? null : weight.clone();
            this.shape = shape == null ? null : shape.clone();
            return this;
        }

        /**
         * Sets the weight quantization parameters (required): one scale and zero point (per tensor)
         * or {@code O} of each (per output channel, axis 0).
         *
         * @param scales the scales, finite and {@code > 0}; copied
         * @param zeroPoints the zero points in {@code [-128, 127]}; copied
         * @return this builder
         */
        public Builder setWeightParams(float[] scales, long[] zeroPoints) {
            this.scales = scales == null ? null : scales.clone();
            this.zeroPoints = zeroPoints == null ? null : zeroPoints.clone();
            return this;
        }

        /**
         * Sets the float bias.
         *
         * @param bias {@code O} values, or null for none; copied
         * @return this builder
         */
        public Builder optBias(float[] bias) {
            this.bias = bias == null ? null : bias.clone();
            return this;
        }

        /**
         * Sets the stride (default {@code 1, 1}).
         *
         * @param sh vertical stride, {@code >= 1}
         * @param sw horizontal stride, {@code >= 1}
         * @return this builder
         */
        public Builder optStride(long sh, long sw) {
            this.stride = new long[] {sh, sw};
            return this;
        }

        /**
         * Sets the zero padding (default {@code 0, 0}).
         *
         * @param ph rows added above and below, {@code >= 0}
         * @param pw columns added left and right, {@code >= 0}
         * @return this builder
         */
        public Builder optPadding(long ph, long pw) {
            this.padding = new long[] {ph, pw};
            return this;
        }

        /**
         * Sets the dilation (default {@code 1, 1}).
         *
         * @param dh vertical dilation, {@code >= 1}
         * @param dw horizontal dilation, {@code >= 1}
         * @return this builder
         */
        public Builder optDilation(long dh, long dw) {
            this.dilation = new long[] {dh, dw};
            return this;
        }

        /**
         * Sets the number of groups (default 1); {@code O} must be a multiple of it.
         *
         * @param groups {@code >= 1}
         * @return this builder
         */
        public Builder optGroups(int groups) {
            this.groups = groups;
            return this;
        }

        /**
         * Sets the calibrated {@code quint8} input parameters (required).
         *
         * @param scale finite and {@code > 0}
         * @param zeroPoint in {@code [0, 255]}; on fbgemm keep quantized inputs within 7 bits, as
         *     PyTorch's x86 configs do ({@code reduceRange})
         * @return this builder
         */
        public Builder setInputParams(float scale, long zeroPoint) {
            this.inputScale = scale;
            this.inputZeroPoint = zeroPoint;
            return this;
        }

        /**
         * Sets the largest integer level of the input (default 255): inputs are clamped to the real
         * range of {@code [0, qmax]} before quantization, so a 7-bit calibrated range ({@code qmax}
         * 127, PyTorch's x86 {@code reduce_range}) stays 7-bit as the fake-quant simulation clamps
         * it, and fbgemm's 16-bit pairwise sums cannot saturate.
         *
         * @param qmax in {@code (inputZeroPoint, 255]}
         * @return this builder
         */
        public Builder optInputQuantMax(long qmax) {
            this.inputQuantMax = qmax;
            return this;
        }

        /**
         * Sets the calibrated {@code quint8} output parameters (required; of the ReLU output when
         * fused).
         *
         * @param scale finite and {@code > 0}
         * @param zeroPoint in {@code [0, 255]}
         * @return this builder
         */
        public Builder setOutputParams(float scale, long zeroPoint) {
            this.outputScale = scale;
            this.outputZeroPoint = zeroPoint;
            return this;
        }

        /**
         * Sets the largest integer level of the output (default 255): the float output of {@link
         * PackedConv2d#forward(NDArray)} is clamped at its real value, as the fake-quant simulation
         * of a 7-bit calibrated range clamps it. {@link PackedConv2d#forward(QuantizedActivation)}
         * does not clamp.
         *
         * @param qmax in {@code (outputZeroPoint, 255]}
         * @return this builder
         */
        public Builder optOutputQuantMax(long qmax) {
            this.outputQuantMax = qmax;
            return this;
        }

        /**
         * Sets whether ReLU runs in the requantization ({@code quantized::conv2d_relu}; default
         * false).
         *
         * @param fuseRelu the flag
         * @return this builder
         */
        public Builder optFuseRelu(boolean fuseRelu) {
            this.fuseRelu = fuseRelu;
            return this;
        }

        /**
         * Validates the fields, quantizes the weights and packs them for the current engine.
         *
         * @return the layer; the caller closes it
         * @throws IllegalArgumentException if a field is missing or invalid; the message names it,
         *     the value given and what is allowed
         * @throws QuantizationException if libtorch refuses to pack the weights
         */
        public PackedConv2d build() throws QuantizationException {
            byte[] q = validateAndQuantize();
            ConvOps ops = ConvOps.get();
            QEngine engine = QEngine.current();
            int out = (int) shape[0];
            float[] b = bias == null ? new float[out] : bias;
            try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
                PtNDArray w = (PtNDArray) manager.create(q, new Shape(shape));
                PtNDArray bv = (PtNDArray) manager.create(b);
                IValue packed;
                try (IValue wv = IValue.from(w);
                        IValue biasv = IValue.from(bv);
                        IValue sv = IValue.listFrom(stride);
                        IValue pv = IValue.listFrom(padding);
                        IValue dv = IValue.listFrom(dilation);
                        IValue gv = IValue.from((long) groups)) {
                    if (scales.length == 1) {
                        try (IValue s = IValue.from((double) scales[0]);
                                IValue z = IValue.from(zeroPoints[0])) {
                            packed = ops.run("prepack_per_tensor", wv, s, z, biasv, sv, pv, dv, gv);
                        }
                    } else {
                        double[] sd = new double[out];
                        for (int o = 0; o < out; o++) {
                            sd[o] = scales[o];
                        }
                        PtNDArray st = (PtNDArray) manager.create(sd);
                        PtNDArray zt = (PtNDArray) manager.create(zeroPoints.clone());
                        try (IValue s = IValue.from(st);
                                IValue z = IValue.from(zt)) {
                            packed =
                                    ops.run("prepack_per_channel", wv, s, z, biasv, sv, pv, dv, gv);
                        }
                    }
                } catch (IllegalStateException e) {
                    throw new QuantizationException(
                            "libtorch could not pack a "
                                    + Arrays.toString(shape)
                                    + " INT8 conv2d weight (groups "
                                    + groups
                                    + ") for "
                                    + engine
                                    + ": "
                                    + e.getMessage(),
                            e);
                }
                return new PackedConv2d(this, packed, ops, engine);
            }
        }

        private byte[] validateAndQuantize() {
            if (weight == null || shape == null) {
                throw new IllegalArgumentException(
                        "weight was null, must be set with setWeight(float[], long[])");
            }
            if (shape.length != 4 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || shape[3] < 1) {
                throw new IllegalArgumentException(
                        "weight shape was "
                                + Arrays.toString(shape)
                                + ", must be {O, I / groups, kH, kW}, all >= 1");
            }
            long n = shape[0] * shape[1] * shape[2] * shape[3];
            if (weight.length != n) {
                throw new IllegalArgumentException(
                        "weight length was "
                                + weight.length
                                + ", must be "
                                + n
                                + " for shape "
                                + Arrays.toString(shape));
            }
            int out = (int) shape[0];
            if (scales == null || zeroPoints == null) {
                throw new IllegalArgumentException(
                        "weight params were null, must be set with setWeightParams");
            }
            if ((scales.length != 1 && scales.length != out)
                    || zeroPoints.length != scales.length) {
                throw new IllegalArgumentException(
                        "weight params had "
                                + scales.length
                                + " scales and "
                                + zeroPoints.length
                                + " zero points, must be 1 and 1 (per tensor) or "
                                + out
                                + " and "
                                + out
                                + " (per output channel)");
            }
            if (bias != null && bias.length != out) {
                throw new IllegalArgumentException(
                        "bias length was " + bias.length + ", must be O = " + out + " or null");
            }
            checkPair("stride", stride, 1);
            checkPair("padding", padding, 0);
            checkPair("dilation", dilation, 1);
            if (groups < 1 || out % groups != 0) {
                throw new IllegalArgumentException(
                        "groups was " + groups + ", must be >= 1 and divide O = " + out);
            }
            PackedLinear.checkScale("inputScale", inputScale);
            PackedLinear.checkZeroPoint("inputZeroPoint", inputZeroPoint, 0, 255);
            PackedLinear.checkZeroPoint("inputQuantMax", inputQuantMax, inputZeroPoint + 1, 255);
            PackedLinear.checkScale("outputScale", outputScale);
            PackedLinear.checkZeroPoint("outputZeroPoint", outputZeroPoint, 0, 255);
            PackedLinear.checkZeroPoint("outputQuantMax", outputQuantMax, outputZeroPoint + 1, 255);
            for (int i = 0; i < scales.length; i++) {
                PackedLinear.checkScale("weight scales[" + i + "]", scales[i]);
                PackedLinear.checkZeroPoint(
                        "weight zeroPoints[" + i + "]", zeroPoints[i], -128, 127);
            }
            int per = (int) (n / out);
            byte[] q = new byte[(int) n];
            for (int o = 0; o < out; o++) {
                int c = scales.length == 1 ? 0 : o;
                for (int i = 0; i < per; i++) {
                    float w = weight[o * per + i];
                    if (!Float.isFinite(w)) {
                        throw new IllegalArgumentException(
                                "weight[" + (o * per + i) + "] was " + w + ", must be finite");
                    }
                    double v = Math.rint((double) w / scales[c]) + zeroPoints[c];
                    q[o * per + i] = (byte) Math.max(-128, Math.min(127, v));
                }
            }
            return q;
        }

        private static void checkPair(String name, long[] v, long min) {
            if (v[0] < min || v[1] < min) {
                throw new IllegalArgumentException(
                        name + " was " + Arrays.toString(v) + ", must be >= " + min + " each");
            }
        }
    }

    /**
     * Runs the convolution on a float input.
     *
     * @param x a float32 {@code [N, I, H, W]} array of DJL's PyTorch engine; not modified and not
     *     closed
     * @return a new contiguous float32 array {@code [N, O, H', W']}, attached to {@code x}'s
     *     manager: the caller closes it (or that manager). Computed under libtorch's inference mode
     *     (no gradient)
     * @throws IllegalArgumentException if {@code x} is not a PyTorch float32 4-D array with {@code
     *     I} channels, or too small for the kernel
     * @throws IllegalStateException if this layer is closed, or libtorch fails
     */
    public NDArray forward(NDArray x) {
        checkOpen();
        PtNDArray px = PackedLinear.checkFloat("x", x);
        outputShape(x.getShape());
        String method = reluFused ? "conv_relu_static" : "conv_static";
        try (IValue xv = IValue.from(px);
                IValue is = IValue.from(inputScale);
                IValue iz = IValue.from(inputZeroPoint);
                IValue im = IValue.from(inputQuantMax);
                IValue os = IValue.from(outputScale);
                IValue oz = IValue.from(outputZeroPoint);
                IValue om = IValue.from(outputQuantMax);
                IValue y = ops.run(method, xv, packed, is, iz, im, os, oz, om)) {
            return y.toTensor((PtNDManager) px.getManager());
        }
    }

    /**
     * Runs the convolution on an already quantized input and keeps the output quantized, with this
     * layer's output parameters (and ReLU if fused), clamped to {@code [0, outputQuantMax]} like
     * the float path. The input's own scale and zero point are used, not this layer's calibrated
     * input parameters.
     *
     * @param x a quantized {@code [N, I, H, W]} activation; not closed
     * @return the quantized output {@code [N, O, H', W']}; the caller closes it
     * @throws IllegalArgumentException if {@code x} does not fit the kernel
     * @throws IllegalStateException if this layer or {@code x} is closed, or libtorch fails
     */
    public QuantizedActivation forward(QuantizedActivation x) {
        checkOpen();
        Shape out = outputShape(x.getShape());
        String method = reluFused ? "conv_relu_q" : "conv_q";
        try (IValue os = IValue.from(outputScale);
                IValue oz = IValue.from(outputZeroPoint);
                IValue om = IValue.from(outputQuantMax)) {
            return activation(
                    ops.run(method, x.handle(), packed, os, oz, om),
                    out,
                    outputScale,
                    outputZeroPoint);
        }
    }

    /**
     * Quantizes a float input with this layer's input parameters, clamped to {@code [0,
     * inputQuantMax]} as {@link #forward(NDArray)} does, for {@link #forward(QuantizedActivation)}
     * (the first layer of a chain of INT8 layers).
     *
     * @param x a float {@code [N, I, H, W]} input; not closed
     * @return the quantized input; the caller closes it
     * @throws IllegalArgumentException if {@code x} is not float or does not fit the kernel
     * @throws IllegalStateException if this layer is closed or libtorch fails
     */
    public QuantizedActivation quantizeInput(NDArray x) {
        checkOpen();
        PtNDArray px = PackedLinear.checkFloat("x", x);
        outputShape(x.getShape());
        try (IValue xv = IValue.from(px);
                IValue is = IValue.from(inputScale);
                IValue iz = IValue.from(inputZeroPoint);
                IValue im = IValue.from(inputQuantMax)) {
            return activation(
                    ops.run("quantize_input", xv, is, iz, im),
                    x.getShape(),
                    inputScale,
                    inputZeroPoint);
        }
    }

    /** Wraps a quantized tensor as an activation; frees it if the op library cannot load. */
    private static QuantizedActivation activation(
            IValue tensor, Shape shape, double scale, long zeroPoint) {
        OpLibrary lib;
        try {
            lib = OpLibrary.get();
        } catch (QuantizationException e) {
            tensor.close();
            throw new IllegalStateException(e.getMessage(), e);
        }
        return new QuantizedActivation(tensor, lib, shape, scale, zeroPoint);
    }

    /**
     * Returns the output shape for an input shape: {@code H' = floor((H + 2 p - d (k - 1) - 1) / s)
     * + 1}, likewise {@code W'}.
     *
     * @param input {@code [N, I, H, W]}
     * @return {@code [N, O, H', W']}
     * @throws IllegalArgumentException if the input does not fit the kernel
     */
    public Shape outputShape(Shape input) {
        long in = weightShape[1] * groups;
        if (input.dimension() != 4 || input.get(1) != in) {
            throw new IllegalArgumentException(
                    "x was " + input + ", must be [N, " + in + ", H, W] (NCHW)");
        }
        long[] o = new long[] {input.get(0), weightShape[0], 0, 0};
        for (int d = 0; d < 2; d++) {
            long span = dilation[d] * (weightShape[2 + d] - 1) + 1;
            long padded = input.get(2 + d) + 2 * padding[d];
            if (padded < span) {
                throw new IllegalArgumentException(
                        "x was "
                                + input
                                + ", its padded spatial size "
                                + padded
                                + " on axis "
                                + (2 + d)
                                + " must be >= the dilated kernel size "
                                + span);
            }
            o[2 + d] = (padded - span) / stride[d] + 1;
        }
        return new Shape(o);
    }

    private void checkOpen() {
        if (closed.get()) {
            throw new IllegalStateException("PackedConv2d is closed");
        }
    }

    /**
     * Returns the quantized engine the weights were packed for.
     *
     * @return the engine current at build time
     */
    public QEngine getEngine() {
        return engine;
    }

    /**
     * Returns the weight shape.
     *
     * @return a copy, {@code {O, I / groups, kH, kW}}
     */
    public long[] getWeightShape() {
        return weightShape.clone();
    }

    /**
     * Returns whether ReLU runs in the requantization.
     *
     * @return the flag
     */
    public boolean isReluFused() {
        return reluFused;
    }

    /**
     * Returns the output scale.
     *
     * @return the calibrated output scale
     */
    public double getOutputScale() {
        return outputScale;
    }

    /**
     * Returns the output zero point.
     *
     * @return the calibrated output zero point
     */
    public long getOutputZeroPoint() {
        return outputZeroPoint;
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
