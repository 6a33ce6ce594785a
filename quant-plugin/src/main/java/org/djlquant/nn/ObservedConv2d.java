package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.djlquant.config.QConfig;

/**
 * The observed / fake-quant twin of a {@link Conv2d}: observers and fake quantization on the input
 * and the weight (per output channel = axis 0), sharing the original's {@code weight} and {@code
 * bias} parameters; save and load are the original's. The output is not observed: the INT8 kernel
 * ({@code quantized::conv2d}, in place through {@link Converter} or exported) requantizes it
 * directly to the calibrated input parameters of the next static layer, as the simulation rounds it
 * there (max pooling, ReLU and flatten in between commute with that rounding).
 *
 * <p>{@link Preparer} fuses a DJL ReLU that directly follows a STATIC or QAT twin in a {@code
 * SequentialBlock} ({@link #isReluFused()}): the twin then computes {@code relu(conv(x))}, as
 * {@code quantized::conv2d_relu} does, and the ReLU block stays as an identity on its output; the
 * ReLU's output range is observed by the next static layer's input observer.
 */
public class ObservedConv2d extends Conv2d implements QuantTwin {

    private final Conv2d original;
    private final TwinControl control;
    private boolean reluFused;

    /**
     * Creates the twin.
     *
     * @param original the layer to stand in for
     * @param path its block path
     * @param config its config
     */
    @SuppressWarnings("this-escape")
    public ObservedConv2d(Conv2d original, String path, QConfig config) {
        super(new TwinBuilder(original));
        this.original = original;
        this.control = new TwinControl(path, config, true, TwinControl.INPUT);
        parameters.clear();
        parameters.putAll(original.getDirectParameters().toMap());
        weight = parameters.get("weight");
        bias = parameters.get("bias");
        control.setWeight(weight);
    }

    /** Gives access to the protected builder. */
    private static final class TwinBuilder extends Conv2d.Builder {
        TwinBuilder(Conv2d o) {
            setKernelShape(o.getKernelShape());
            optStride(o.getStride());
            optPadding(o.getPadding());
            optDilation(o.getDilation());
            setFilters(o.getFilters());
            optGroups(o.getGroups());
            optBias(o.isIncludeBias());
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
        Shape ws = weight.getShape();
        Shape xs = input.getShape();
        if (ws != null && (xs.dimension() != 4 || xs.get(1) != ws.get(1) * getGroups())) {
            throw new ShapeMismatchException(
                    control.path(),
                    xs.toString(),
                    "4-D with " + ws.get(1) * getGroups() + " channels on axis 1 for weight " + ws);
        }
        return new NDList(
                control.run(
                        parameterStore,
                        input,
                        weight,
                        bias,
                        training,
                        (x, w, b) -> {
                            NDArray y =
                                    Conv2d.conv2d(x, w, b, stride, padding, dilation, groups)
                                            .singletonOrThrow();
                            return reluFused ? Activation.relu(y) : y;
                        }));
    }

    /**
     * Makes this twin compute {@code relu(conv(x))} (see the class notes); the ReLU block stays in
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
    public String toString() {
        return "ObservedConv2d(" + control.config().mode() + (reluFused ? "+ReLU" : "") + ")";
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
}
