package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.djlquant.config.QConfig;

/**
 * The observed / fake-quant twin of a {@link Linear}: {@code y = x W^T + b} with observers on
 * {@code x} and {@code W} and fake quantization of both (and of {@code y} for attention Q/K/V
 * projections). It is a {@code Linear}, so it fits wherever a parent declares a {@code Linear}
 * field, and it holds the original's {@code weight} and {@code bias} {@link Parameter} objects:
 * training updates the original weights, and {@link #saveParameters} / {@link #loadParameters} are
 * the original's (same bytes).
 */
public class ObservedLinear extends Linear implements QuantTwin {

    private final Linear original;
    private final TwinControl control;
    private final Parameter weightParam;
    private final Parameter biasParam;
    private boolean reluFused;

    /**
     * Creates the twin of a linear layer.
     *
     * @param original the layer to stand in for
     * @param path its block path
     * @param config its config
     * @param observeOutput true to observe (and fake-quantize) the output as well
     */
    @SuppressWarnings("this-escape")
    public ObservedLinear(Linear original, String path, QConfig config, boolean observeOutput) {
        super(twinBuilder(original));
        this.original = original;
        this.control =
                observeOutput
                        ? new TwinControl(path, config, true, TwinControl.INPUT, TwinControl.OUTPUT)
                        : new TwinControl(path, config, true, TwinControl.INPUT);
        this.weightParam = (Parameter) Reflect.read(original, Linear.class, "weight");
        this.biasParam = (Parameter) Reflect.read(original, Linear.class, "bias");
        // share the original's Parameter objects: same names, same order, same arrays
        parameters.clear();
        parameters.putAll(original.getDirectParameters().toMap());
        Reflect.write(this, Linear.class, "weight", weightParam);
        Reflect.write(this, Linear.class, "bias", biasParam);
        control.setWeight(weightParam);
    }

    private static Linear.Builder twinBuilder(Linear original) {
        long units = (Long) Reflect.read(original, Linear.class, "units");
        boolean bias = Reflect.read(original, Linear.class, "bias") != null;
        return new TwinBuilder(units, bias);
    }

    /** Gives access to Linear's protected builder. */
    private static final class TwinBuilder extends Linear.Builder {
        TwinBuilder(long units, boolean bias) {
            setUnits(units);
            optBias(bias);
        }
    }

    /** {@inheritDoc} */
    @Override
    public String path() {
        return control.path();
    }

    /** {@inheritDoc} */
    @Override
    public Block original() {
        return original;
    }

    /** {@inheritDoc} */
    @Override
    public TwinControl control() {
        return control;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray input = inputs.singletonOrThrow();
        Shape ws = weightParam.getShape();
        Shape xs = input.getShape();
        if (ws != null && (xs.dimension() == 0 || xs.get(xs.dimension() - 1) != ws.get(1))) {
            throw new ShapeMismatchException(
                    control.path(), xs.toString(), "(..., " + ws.get(1) + ") for weight " + ws);
        }
        NDArray emulated =
                control.fbgemmDynamicLinear(
                        parameterStore, input, weightParam, biasParam, training);
        if (emulated != null) {
            return new NDList(reluFused ? Activation.relu(emulated) : emulated);
        }
        return new NDList(
                control.run(
                        parameterStore,
                        input,
                        weightParam,
                        biasParam,
                        training,
                        (x, w, b) -> {
                            NDArray y = Linear.linear(x, w, b).singletonOrThrow();
                            return reluFused ? Activation.relu(y) : y;
                        }));
    }

    /**
     * Makes this twin compute {@code relu(x W^T + b)}: {@link Preparer} does it when a DJL ReLU
     * ({@code Activation.reluBlock()}) directly follows a STATIC or QAT twin in a {@code
     * SequentialBlock}, so that the output observer and fake quantization see the ReLU's output, as
     * the fused INT8 kernel ({@code quantized::linear_relu}) computes it. The ReLU block stays in
     * the model and is then an identity on this twin's output.
     */
    void fuseRelu() {
        reluFused = true;
    }

    /**
     * Returns whether the ReLU that follows this layer is computed inside it (and its output
     * observed after the ReLU).
     *
     * @return the flag
     */
    public boolean isReluFused() {
        return reluFused;
    }

    /** {@inheritDoc} */
    @Override
    public void initialize(NDManager manager, DataType dataType, Shape... inputShapes) {
        original.initialize(manager, dataType, inputShapes);
        beforeInitialize(inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    public boolean isInitialized() {
        return original.isInitialized();
    }

    /** {@inheritDoc} */
    @Override
    public PairList<String, Shape> describeInput() {
        return original.describeInput();
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getInputShapes() {
        return original.getInputShapes();
    }

    /** {@inheritDoc} */
    @Override
    public void saveParameters(DataOutputStream os) throws IOException {
        original.saveParameters(os);
    }

    /** {@inheritDoc} */
    @Override
    public void loadParameters(NDManager manager, DataInputStream is)
            throws IOException, MalformedModelException {
        original.loadParameters(manager, is);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "ObservedLinear(" + control.config().mode() + (reluFused ? "+ReLU" : "") + ")";
    }
}
