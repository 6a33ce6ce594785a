package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.djlquant.config.QConfig;

/**
 * The common part of the attention twins: everything but the forward is the original block's
 * (children, parameters, shapes, initialization, parameter file), and the twin's control observes
 * the attention probabilities ({@link TwinControl#PROBS}). Subclasses write only the forward.
 *
 * @param <B> the class of the attention block this twin stands in for
 */
abstract class AttentionTwin<B extends Block> extends AbstractBlock implements QuantTwin {

    /** The block this twin replaced; its children and parameters are the twin's. */
    protected final B original;

    /** The twin's switches and observers. */
    protected final TwinControl control;

    AttentionTwin(B original, String path, QConfig config) {
        this.original = original;
        this.control = new TwinControl(path, config, false, TwinControl.PROBS);
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
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return original.getOutputShapes(inputShapes);
    }

    /** {@inheritDoc} */
    @Override
    public BlockList getChildren() {
        return original.getChildren();
    }

    /** {@inheritDoc} */
    @Override
    public ParameterList getDirectParameters() {
        return original.getDirectParameters();
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
    public PairList<String, Shape> describeInput() {
        return original.describeInput();
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
