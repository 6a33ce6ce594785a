package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.djlquant.config.QConfig;
import org.djlquant.nn.transformer.BertSelfAttention;

/**
 * The twin of our {@link BertSelfAttention} for STATIC and QAT configs: observes (and
 * fake-quantizes) the attention probabilities P, the left input of {@code P·V}, under the role
 * {@link TwinControl#PROBS}. The four projections are {@link ObservedLinear} twins already, their
 * outputs observed: Q and K are the inputs of {@code Q·Kᵀ}, V the right input of {@code P·V}.
 *
 * <p>The forward is the original's formula, {@code output(concat_heads(softmax(Q Kᵀ / √d + m) V))},
 * computed here so that P can be observed; softmax and the mask stay float. Children, parameters,
 * save and load are the original's (same bytes). Not thread-safe while observing.
 */
public final class ObservedBertSelfAttention extends AbstractBlock implements QuantTwin {

    private final BertSelfAttention original;
    private final TwinControl control;

    /**
     * Creates the twin. The original's projections should already be twins.
     *
     * @param original the attention block
     * @param path its block path
     * @param config its config (STATIC or QAT)
     */
    public ObservedBertSelfAttention(BertSelfAttention original, String path, QConfig config) {
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
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray mask = inputs.get(1);
        long batch = x.getShape().get(0);
        long tokens = x.getShape().get(1);
        int heads = original.getHeadCount();
        int hidden = original.getHiddenSize();
        int headSize = hidden / heads;
        NDArray q = split(original.getQuery(), ps, x, training, batch, tokens, heads, headSize);
        NDArray k = split(original.getKey(), ps, x, training, batch, tokens, heads, headSize);
        NDArray v = split(original.getValue(), ps, x, training, batch, tokens, heads, headSize);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).div((float) Math.sqrt(headSize));
        NDArray probs = scores.add(mask).softmax(-1);
        probs = control.activation(TwinControl.PROBS, probs, ps, training, false);
        NDArray context = probs.matMul(v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden);
        return original.getOutput().forward(ps, new NDList(context), training);
    }

    static NDArray split(
            Block projection,
            ParameterStore ps,
            NDArray x,
            boolean training,
            long batch,
            long tokens,
            int heads,
            int headSize) {
        NDArray y = projection.forward(ps, new NDList(x), training).head();
        return y.reshape(batch, tokens, heads, headSize).transpose(0, 2, 1, 3);
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
