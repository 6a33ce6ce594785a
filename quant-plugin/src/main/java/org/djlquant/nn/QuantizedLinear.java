package org.djlquant.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Arrays;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.config.QMode;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QuantMath;

/**
 * A linear layer converted to real INT8: {@code y = x W^T + b} run by libtorch's quantized kernels
 * through a {@link PackedLinear}, made by {@link Converter} from a calibrated (or QAT-trained)
 * {@link ObservedLinear}. It takes and returns float32 arrays, so the model's translator and
 * predictor keep working unchanged.
 *
 * <p>Modes ({@link #getMode()}): {@link QMode#DYNAMIC} (activations quantized per call from their
 * own range), {@link QMode#STATIC} (input quantized with the calibrated "input" parameters, output
 * requantized with the calibrated "output" parameters, then dequantized; {@link QMode#QAT} twins
 * convert to this mode too). With {@link #isReluFused()} the ReLU that followed the layer runs in
 * the requantization ({@code quantized::linear_relu}, or {@code quantized::linear_relu_dynamic} for
 * DYNAMIC).
 *
 * <p>What an exporter needs is readable here: {@link #getWeightInt8()} (the INT8 values libtorch
 * packed, bit-identical to the simulation's rounding), {@link #getWeightParams()}, {@link
 * #getBias()}, {@link #getInputParams()}, {@link #getOutputParams()}, {@link #getEngine()}, {@link
 * #path()}. All getters return copies or immutable values.
 *
 * <p>Lifecycle: the packed weights are native; {@link Converter} attaches them to the model's
 * {@code NDManager}, so closing the model frees them, once. {@link #isClosed()} tells whether they
 * were freed; {@code forward} after that throws. Thread-safety: forward may run concurrently.
 *
 * <p>INT8 between layers: {@link Converter} links a static layer to the static layer that takes its
 * output next when the second's input parameters are the first's output parameters (prepare makes
 * them so for Linear → ReLU → Linear): see {@link #getNext()} and {@link #isChainedFromPrevious()}.
 */
public final class QuantizedLinear extends AbstractBlock {

    private static final byte VERSION = 1;

    private final String path;
    private final QMode mode;
    private final PackedLinear packed;
    private final byte[] weightInt8;
    private final long[] weightShape;
    private final QParams weightParams;
    private final float[] bias;
    private final QParams inputParams;
    private final QParams outputParams;
    private final boolean reluFused;
    private volatile QuantizedLinear next;
    private volatile boolean chainedFromPrevious;

    private QuantizedLinear(
            String path,
            QMode mode,
            PackedLinear packed,
            byte[] weightInt8,
            long[] weightShape,
            QParams weightParams,
            float[] bias,
            QParams inputParams,
            QParams outputParams,
            boolean reluFused) {
        super(VERSION);
        this.path = path;
        this.mode = mode;
        this.packed = packed;
        this.weightInt8 = weightInt8;
        this.weightShape = weightShape;
        this.weightParams = weightParams;
        this.bias = bias;
        this.inputParams = inputParams;
        this.outputParams = outputParams;
        this.reluFused = reluFused;
    }

    /**
     * Packs one layer for the quantized engine current now. The weights are quantized with {@link
     * QuantMath#quantize} (the simulation's rounding) and handed to libtorch as exactly
     * representable multiples of their scales, so the packed INT8 values are the simulation's.
     *
     * @param path the layer path
     * @param mode DYNAMIC or STATIC
     * @param weight row-major {@code [out, in]} float weights
     * @param shape {@code {out, in}}
     * @param weightParams INT8 per-tensor or per-channel (axis 0) weight parameters
     * @param bias {@code out} biases or null
     * @param inputParams the static input parameters (null for DYNAMIC)
     * @param outputParams the static output parameters (null for DYNAMIC)
     * @param fuseRelu whether a following ReLU runs in the requantization ({@code
     *     quantized::linear_relu} STATIC, {@code quantized::linear_relu_dynamic} DYNAMIC)
     * @param reduceRange DYNAMIC: 7-bit activations (the config's activation spec says which)
     * @return the layer; its packed weights are closed by {@link #close()}
     * @throws QuantizationException if libtorch refuses the weights
     */
    static QuantizedLinear create(
            String path,
            QMode mode,
            float[] weight,
            long[] shape,
            QParams weightParams,
            float[] bias,
            QParams inputParams,
            QParams outputParams,
            boolean fuseRelu,
            boolean reduceRange)
            throws QuantizationException {
        int out = (int) shape[0];
        long[] q = QuantMath.quantize(weight, shape, weightParams);
        float[] scales = new float[out];
        long[] zps = new long[out];
        boolean perTensor = weightParams.size() == 1;
        for (int o = 0; o < out; o++) {
            scales[o] = perTensor ? weightParams.scale() : weightParams.scaleAt(o);
            zps[o] = perTensor ? weightParams.zeroPoint() : weightParams.zeroPointAt(o);
        }
        int in = (int) shape[1];
        byte[] int8 = new byte[q.length];
        float[] exact = new float[q.length];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                int k = o * in + i;
                int8[k] = (byte) q[k];
                exact[k] = (float) ((q[k] - zps[o]) * (double) scales[o]);
            }
        }
        PackedLinear packed;
        if (mode == QMode.DYNAMIC) {
            packed =
                    PackedLinear.dynamicInt8(
                            exact, shape, scales, zps, 0, bias, reduceRange, fuseRelu);
        } else {
            packed =
                    PackedLinear.staticInt8(
                            exact,
                            shape,
                            scales,
                            zps,
                            0,
                            bias,
                            inputParams.scale(),
                            inputParams.zeroPoint(),
                            outputParams.scale(),
                            outputParams.zeroPoint(),
                            fuseRelu);
        }
        return new QuantizedLinear(
                path,
                mode,
                packed,
                int8,
                shape.clone(),
                weightParams,
                bias == null ? null : bias.clone(),
                inputParams,
                outputParams,
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
            // the preceding layer ran this one on its INT8 output (see chain)
            return inputs;
        }
        NDArray x = inputs.singletonOrThrow();
        if (next == null) {
            return new NDList(packed.forward(x));
        }
        QuantizedActivation a;
        try (QuantizedActivation xq =
                QuantizedActivation.quantize(x, inputParams.scale(), inputParams.zeroPoint())) {
            a = packed.forward(xq);
        } catch (QuantizationException e) {
            throw new IllegalStateException("layer " + path + ": " + e.getMessage(), e);
        }
        try {
            for (QuantizedLinear l = next; l != null; l = l.next) {
                QuantizedActivation b = l.packed.forward(a);
                a.close();
                a = b;
            }
            return new NDList(a.dequantize(x.getManager()));
        } finally {
            a.close();
        }
    }

    /**
     * Keeps the activation INT8 from this static layer into {@code following}, the static layer
     * that consumes its output next in the same {@code SequentialBlock} (directly or through the
     * identity of a fused ReLU) with input parameters equal to this layer's output parameters. From
     * then on this layer's forward runs both layers ({@code quint8} handed from one kernel to the
     * next, as an exported archive does) and {@code following}'s forward is the identity. Exact:
     * dequantizing and requantizing on the same grid gives the same integers.
     */
    void chain(QuantizedLinear following) {
        if (mode != QMode.STATIC
                || following.mode != QMode.STATIC
                || following.inputParams.scale() != outputParams.scale()
                || following.inputParams.zeroPoint() != outputParams.zeroPoint()) {
            throw new IllegalArgumentException(
                    "layer "
                            + following.path
                            + ": input "
                            + following.inputParams
                            + " cannot take the INT8 output "
                            + outputParams
                            + " of "
                            + path
                            + "; both must be STATIC with equal scale and zero point");
        }
        next = following;
        following.chainedFromPrevious = true;
    }

    /**
     * Returns the static layer this one hands its INT8 output to in place (its forward runs that
     * layer too), if any.
     *
     * @return the following layer, or null
     */
    public QuantizedLinear getNext() {
        return next;
    }

    /**
     * Returns whether the preceding layer runs this one on its INT8 output in place; this layer's
     * own forward is then the identity (the preceding layer's output already went through it).
     * Export is unaffected: each layer is lowered as itself and the {@code quint8} tensor is handed
     * on.
     *
     * @return the flag
     */
    public boolean isChainedFromPrevious() {
        return chainedFromPrevious;
    }

    /**
     * Runs a static layer on an already quantized input, keeping the output quantized.
     *
     * @param x the quantized input; not closed
     * @return the quantized output; the caller closes it
     * @throws IllegalStateException if the layer is dynamic or closed
     */
    QuantizedActivation forwardQuantized(QuantizedActivation x) {
        return packed.forward(x);
    }

    /**
     * Records the input shapes of the layer this one replaces, so that DJL's metadata writers
     * ({@code saveParameters}, used for the export checksum) see an initialized block.
     */
    void adoptInputShapes(Shape[] shapes) {
        if (shapes != null) {
            beforeInitialize(shapes);
        }
    }

    PackedLinear packed() {
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
     * @return e.g. {@code 01SequentialBlock.02Linear}
     */
    public String path() {
        return path;
    }

    /**
     * Returns the activation mode.
     *
     * @return {@link QMode#DYNAMIC} or {@link QMode#STATIC}
     */
    public QMode getMode() {
        return mode;
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
     * Returns whether a dynamic layer quantizes its activations to 7 bits ({@code reduce_range}).
     *
     * @return the flag; {@code false} for static layers
     */
    public boolean isReduceRange() {
        return packed.isReduceRange();
    }

    /**
     * Returns whether a ReLU following this layer runs in its requantization.
     *
     * @return the flag
     */
    public boolean isReluFused() {
        return reluFused;
    }

    /**
     * Returns the INT8 weight values libtorch packed.
     *
     * @return a copy, row-major {@code [out, in]}
     */
    public byte[] getWeightInt8() {
        return weightInt8.clone();
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
     * Returns the weight quantization parameters ({@code w ≈ (q - zp) * scale}).
     *
     * @return per-tensor or per-output-channel (axis 0) INT8 parameters
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
     * @return UINT8 per-tensor parameters, or null for a dynamic layer
     */
    public QParams getInputParams() {
        return inputParams;
    }

    /**
     * Returns the calibrated output parameters (of the ReLU output if {@link #isReluFused()}).
     *
     * @return UINT8 per-tensor parameters, or null for a dynamic layer
     */
    public QParams getOutputParams() {
        return outputParams;
    }

    /**
     * Returns the bytes of the packed INT8 weight values (one byte per element; bias, scales and
     * zero points not included).
     *
     * @return {@code out * in}
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
        return "QuantizedLinear("
                + mode
                + (reluFused ? "+ReLU" : "")
                + ", "
                + getEngine()
                + ", "
                + Arrays.toString(weightShape)
                + (chainedFromPrevious ? ", INT8 input from the previous layer" : "")
                + ")";
    }
}
