package org.djlquant.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Arrays;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.PackedConv2d;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.config.QMode;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QuantMath;

/**
 * A 2-D convolution converted to real static INT8: libtorch's {@code quantized::conv2d} (or {@code
 * quantized::conv2d_relu} with {@link #isReluFused()}) through a {@link PackedConv2d}, made by
 * {@link Converter} from a calibrated (or QAT-trained) STATIC {@link ObservedConv2d}. The input is
 * quantized with the twin's calibrated "input" parameters, the output requantized to the calibrated
 * input parameters of the next static layer (where the simulation rounds it: the twin observes no
 * output) and dequantized, both clamped to their specs' integer ranges (7 bits for fbgemm's {@code
 * reduceRange} presets) as the simulation clamps them: float32 NCHW in, float32 NCHW out, so the
 * model's translator and predictor keep working unchanged.
 *
 * <p>What an exporter needs is readable here: {@link #getWeightInt8()} (the INT8 values libtorch
 * packed, the simulation's rounding), {@link #getWeightShape()}, {@link #getWeightParams()}, {@link
 * #getBias()}, {@link #getInputParams()}, {@link #getOutputParams()}, {@link #getStride()}, {@link
 * #getPadding()}, {@link #getDilation()}, {@link #getGroups()}, {@link #isReluFused()}, {@link
 * #getEngine()}, {@link #path()}. All getters return copies or immutable values.
 *
 * <p>Lifecycle: the packed weights are native; {@link Converter} attaches them to the model's
 * {@code NDManager}, so closing the model frees them, once. {@link #isClosed()} tells whether they
 * were freed; forward after that throws. Thread-safety: forward may run concurrently.
 */
public final class QuantizedConv2d extends AbstractBlock {

    private static final byte VERSION = 1;

    private final String path;
    private final PackedConv2d packed;
    private final byte[] weightInt8;
    private final long[] weightShape;
    private final QParams weightParams;
    private final float[] bias;
    private final QParams inputParams;
    private final QParams outputParams;
    private final long[] stride;
    private final long[] padding;
    private final long[] dilation;
    private final int groups;
    private final boolean reluFused;
    private volatile QuantizedConv2d next;
    private volatile boolean chainedFromPrevious;

    private QuantizedConv2d(
            String path,
            PackedConv2d packed,
            byte[] weightInt8,
            long[] weightShape,
            QParams weightParams,
            float[] bias,
            QParams inputParams,
            QParams outputParams,
            long[] stride,
            long[] padding,
            long[] dilation,
            int groups,
            boolean reluFused) {
        super(VERSION);
        this.path = path;
        this.packed = packed;
        this.weightInt8 = weightInt8;
        this.weightShape = weightShape;
        this.weightParams = weightParams;
        this.bias = bias;
        this.inputParams = inputParams;
        this.outputParams = outputParams;
        this.stride = stride;
        this.padding = padding;
        this.dilation = dilation;
        this.groups = groups;
        this.reluFused = reluFused;
    }

    /**
     * Packs one convolution for the quantized engine current now. The weights are quantized with
     * {@link QuantMath#quantize} (the simulation's rounding) on the {@code [O, I/groups·kH·kW]}
     * view and handed to libtorch as exactly representable multiples of their scales, so the packed
     * INT8 values are the simulation's.
     *
     * @param path the layer path
     * @param weight row-major {@code [O, I / groups, kH, kW]} float weights
     * @param shape {@code {O, I / groups, kH, kW}}
     * @param weightParams INT8 per-tensor or per-channel (axis 0) weight parameters
     * @param bias {@code O} biases or null
     * @param inputParams the static input parameters
     * @param outputParams the parameters to requantize the output to (the next static layer's input
     *     parameters)
     * @param stride {@code {sH, sW}}
     * @param padding {@code {pH, pW}}
     * @param dilation {@code {dH, dW}}
     * @param groups the number of groups
     * @param fuseRelu whether the following ReLU runs in the requantization
     * @return the layer; its packed weights are freed by closing the owner manager
     * @throws QuantizationException if libtorch refuses the weights
     */
    static QuantizedConv2d create(
            String path,
            float[] weight,
            long[] shape,
            QParams weightParams,
            float[] bias,
            QParams inputParams,
            QParams outputParams,
            long[] stride,
            long[] padding,
            long[] dilation,
            int groups,
            boolean fuseRelu)
            throws QuantizationException {
        int out = (int) shape[0];
        int per = weight.length / out;
        long[] view = {out, per};
        Granularity g = weightParams.spec().granularity();
        boolean perTensor = g.kind() == Granularity.Kind.PER_TENSOR;
        if (!perTensor && !(g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0)) {
            throw new IllegalArgumentException(
                    "layer "
                            + path
                            + ": weight granularity was "
                            + g
                            + ", must be PER_TENSOR or PER_CHANNEL axis 0 for a quantized conv2d");
        }
        QParams onView =
                new QParams(
                        weightParams.spec(),
                        weightParams.scales(),
                        weightParams.zeroPoints(),
                        g.paramShape(view));
        long[] q = QuantMath.quantize(weight, view, onView);
        float[] scales = new float[perTensor ? 1 : out];
        long[] zps = new long[scales.length];
        for (int o = 0; o < scales.length; o++) {
            scales[o] = weightParams.scaleAt(o);
            zps[o] = weightParams.zeroPointAt(o);
        }
        byte[] int8 = new byte[q.length];
        float[] exact = new float[q.length];
        for (int o = 0; o < out; o++) {
            int c = perTensor ? 0 : o;
            for (int i = 0; i < per; i++) {
                int k = o * per + i;
                int8[k] = (byte) q[k];
                exact[k] = (float) ((q[k] - zps[c]) * (double) scales[c]);
            }
        }
        PackedConv2d packed =
                PackedConv2d.builder()
                        .setWeight(exact, shape)
                        .setWeightParams(scales, zps)
                        .optBias(bias)
                        .optStride(stride[0], stride[1])
                        .optPadding(padding[0], padding[1])
                        .optDilation(dilation[0], dilation[1])
                        .optGroups(groups)
                        .setInputParams(inputParams.scale(), inputParams.zeroPoint())
                        .optInputQuantMax(inputParams.spec().qmax())
                        .setOutputParams(outputParams.scale(), outputParams.zeroPoint())
                        .optOutputQuantMax(outputParams.spec().qmax())
                        .optFuseRelu(fuseRelu)
                        .build();
        return new QuantizedConv2d(
                path,
                packed,
                int8,
                shape.clone(),
                weightParams,
                bias == null ? null : bias.clone(),
                inputParams,
                outputParams,
                stride.clone(),
                padding.clone(),
                dilation.clone(),
                groups,
                fuseRelu);
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        if (chainedFromPrevious) {
            // the preceding conv ran this one on its INT8 output (see chain)
            return inputs;
        }
        NDArray x = inputs.singletonOrThrow();
        if (next == null) {
            return new NDList(packed.forward(x));
        }
        QuantizedActivation a;
        try (QuantizedActivation xq = packed.quantizeInput(x)) {
            a = packed.forward(xq);
        }
        try {
            for (QuantizedConv2d c = next; c != null; c = c.next) {
                QuantizedActivation b = c.packed.forward(a);
                a.close();
                a = b;
            }
            return new NDList(a.dequantize(x.getManager()));
        } finally {
            a.close();
        }
    }

    /**
     * Keeps the activation INT8 from this conv into {@code following}, the static conv that
     * consumes its output next in the same {@code SequentialBlock} (directly or through the
     * identity of a fused ReLU), whose input parameters are this conv's output parameters. From
     * then on this conv's forward runs both ({@code quint8} handed from one kernel to the next,
     * clamped to the output grid as the float path clamps it, as an exported archive does) and
     * {@code following}'s forward is the identity. Exact: dequantizing and requantizing on the same
     * grid gives the same integers.
     *
     * @throws IllegalArgumentException if the parameters differ
     */
    void chain(QuantizedConv2d following) {
        if (following.inputParams.scale() != outputParams.scale()
                || following.inputParams.zeroPoint() != outputParams.zeroPoint()
                || following.inputParams.spec().qmax() != outputParams.spec().qmax()) {
            throw new IllegalArgumentException(
                    "layer "
                            + following.path
                            + ": input "
                            + following.inputParams
                            + " cannot take the INT8 output "
                            + outputParams
                            + " of "
                            + path
                            + "; scale, zero point and range must be equal");
        }
        next = following;
        following.chainedFromPrevious = true;
    }

    /**
     * Returns the conv this one hands its INT8 output to in place (its forward runs that conv too),
     * if any.
     *
     * @return the following conv, or null
     */
    public QuantizedConv2d getNext() {
        return next;
    }

    /**
     * Returns whether the preceding conv runs this one on its INT8 output in place; this layer's
     * own forward is then the identity. Export is unaffected: each conv is lowered as itself and
     * the {@code quint8} tensor is handed on.
     *
     * @return the flag
     */
    public boolean isChainedFromPrevious() {
        return chainedFromPrevious;
    }

    /**
     * Records the input shapes of the layer this one replaces, so that DJL's metadata writers see
     * an initialized block.
     */
    void adoptInputShapes(Shape[] shapes) {
        if (shapes != null) {
            beforeInitialize(shapes);
        }
    }

    PackedConv2d packed() {
        return packed;
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {packed.outputShape(inputShapes[0])};
    }

    /**
     * Returns the layer path (raw form) of the twin this layer was converted from.
     *
     * @return e.g. {@code 01Conv2d}
     */
    public String path() {
        return path;
    }

    /**
     * Returns the activation mode.
     *
     * @return {@link QMode#STATIC} (the only mode libtorch has a convolution kernel for)
     */
    public QMode getMode() {
        return QMode.STATIC;
    }

    /**
     * Returns the quantized engine the weights were packed for.
     *
     * @return the engine
     */
    public QEngine getEngine() {
        return packed.getEngine();
    }

    /**
     * Returns whether the ReLU that followed this layer runs in its requantization.
     *
     * @return the flag
     */
    public boolean isReluFused() {
        return reluFused;
    }

    /**
     * Returns the INT8 weight values libtorch packed.
     *
     * @return a copy, row-major {@code [O, I / groups, kH, kW]}
     */
    public byte[] getWeightInt8() {
        return weightInt8.clone();
    }

    /**
     * Returns the weight shape.
     *
     * @return {@code {O, I / groups, kH, kW}}
     */
    public long[] getWeightShape() {
        return weightShape.clone();
    }

    /**
     * Returns the weight quantization parameters ({@code w ≈ (q - zp) * scale}).
     *
     * @return INT8 per-tensor or per-output-channel (axis 0) parameters, as the twin computed them
     *     (the parameter shape is the observer's)
     */
    public QParams getWeightParams() {
        return weightParams;
    }

    /**
     * Returns the float bias.
     *
     * @return a copy, or null if the layer has none
     */
    public float[] getBias() {
        return bias == null ? null : bias.clone();
    }

    /**
     * Returns the calibrated input parameters.
     *
     * @return UINT8 per-tensor parameters
     */
    public QParams getInputParams() {
        return inputParams;
    }

    /**
     * Returns the parameters the output is requantized to: the calibrated input parameters of the
     * next static layer of the SequentialBlock (past ReLU, max pooling, flatten, identity,
     * dropout).
     *
     * @return UINT8 per-tensor parameters
     */
    public QParams getOutputParams() {
        return outputParams;
    }

    /**
     * Returns the stride.
     *
     * @return a copy, {@code {sH, sW}}
     */
    public long[] getStride() {
        return stride.clone();
    }

    /**
     * Returns the zero padding.
     *
     * @return a copy, {@code {pH, pW}}
     */
    public long[] getPadding() {
        return padding.clone();
    }

    /**
     * Returns the dilation.
     *
     * @return a copy, {@code {dH, dW}}
     */
    public long[] getDilation() {
        return dilation.clone();
    }

    /**
     * Returns the number of groups.
     *
     * @return {@code >= 1}
     */
    public int getGroups() {
        return groups;
    }

    /**
     * Returns the bytes of the packed INT8 weight values (one byte per element).
     *
     * @return the number of weights
     */
    public long weightBytes() {
        return weightInt8.length;
    }

    /**
     * Returns whether the packed weights were freed (by closing the model's manager).
     *
     * @return true once freed
     */
    public boolean isClosed() {
        return packed.isClosed();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "QuantizedConv2d(STATIC"
                + (reluFused ? "+ReLU" : "")
                + ", "
                + getEngine()
                + ", "
                + Arrays.toString(weightShape)
                + ", stride "
                + Arrays.toString(stride)
                + ", padding "
                + Arrays.toString(padding)
                + (groups > 1 ? ", groups " + groups : "")
                + ")";
    }
}
