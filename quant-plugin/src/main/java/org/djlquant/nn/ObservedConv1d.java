package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.LayoutType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv1d;
import ai.djl.nn.convolutional.Convolution;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.djlquant.config.QConfig;

/**
 * The observed / fake-quant twin of a {@link Conv1d}: observers and fake quantization on the input
 * and the weight (per output channel = axis 0), sharing the original's {@code weight} and {@code
 * bias} parameters; save and load are the original's.
 *
 * <p>DJL's {@code Conv1d} cannot be subclassed outside its package (package-private constructor,
 * final builder), so this twin is a {@link Convolution}: it replaces a {@code Conv1d} held in the
 * children list or in fields typed {@code Block} / {@code Convolution}; a parent field typed {@code
 * Conv1d} makes preparation fail with the field named.
 */
public class ObservedConv1d extends Convolution implements QuantTwin {

    private static final LayoutType[] LAYOUT = {
        LayoutType.BATCH, LayoutType.CHANNEL, LayoutType.WIDTH
    };

    private final Conv1d original;
    private final TwinControl control;

    /**
     * Creates the twin.
     *
     * @param original the layer to stand in for
     * @param path its block path
     * @param config its config
     */
    @SuppressWarnings("this-escape")
    public ObservedConv1d(Conv1d original, String path, QConfig config) {
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
    private static final class TwinBuilder extends Convolution.ConvolutionBuilder<TwinBuilder> {
        TwinBuilder(Conv1d o) {
            setKernelShape(o.getKernelShape());
            optStride(o.getStride());
            optPadding(o.getPadding());
            optDilation(o.getDilation());
            setFilters(o.getFilters());
            optGroups(o.getGroups());
            optBias(o.isIncludeBias());
        }

        @Override
        protected TwinBuilder self() {
            return this;
        }
    }

    /** {@inheritDoc} */
    @Override
    protected LayoutType[] getExpectedLayout() {
        return LAYOUT.clone();
    }

    /** {@inheritDoc} */
    @Override
    protected String getStringLayout() {
        return "NCW";
    }

    /** {@inheritDoc} */
    @Override
    protected int numDimensions() {
        return 3;
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
        ai.djl.ndarray.NDArray input = inputs.singletonOrThrow();
        Shape ws = weight.getShape();
        Shape xs = input.getShape();
        if (ws != null && (xs.dimension() != 3 || xs.get(1) != ws.get(1) * getGroups())) {
            throw new ShapeMismatchException(
                    control.path(),
                    xs.toString(),
                    "3-D with " + ws.get(1) * getGroups() + " channels on axis 1 for weight " + ws);
        }
        return new NDList(
                control.run(
                        parameterStore,
                        input,
                        weight,
                        bias,
                        training,
                        (x, w, b) ->
                                Conv1d.conv1d(x, w, b, stride, padding, dilation, groups)
                                        .singletonOrThrow()));
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
