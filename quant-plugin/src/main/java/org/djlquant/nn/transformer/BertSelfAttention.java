package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Multi-head self-attention of a BERT layer, with its output projection.
 *
 * <p>Children (in this order): {@code query}, {@code key}, {@code value}, {@code output}, each a
 * {@link Linear} H→H with bias. The forward pass computes {@code output(concat_heads(softmax(Q Kᵀ /
 * √d + m) V))} where the heads are split as [B, T, N, d] → [B, N, T, d].
 *
 * <p>Input: {@code [x, m]} with x the hidden states [B, T, H] and m the additive attention mask,
 * float, broadcastable to [B, N, T, T] (the model passes [B, 1, 1, T] holding 0 for real tokens and
 * the mask value for padding). Output: {@code [y]} with y [B, T, H]. The residual connection and
 * the layer normalisation are not part of this block (see {@link BertLayer}).
 */
public class BertSelfAttention extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int headCount;
    // Children are typed Block and not final: quantization stages swap them for observed,
    // fake-quant or INT8 twins in place (in this field and in the children list).
    private Block query;
    private Block key;
    private Block value;
    private Block output;

    /**
     * Creates the block with four uninitialised projections.
     *
     * @param hiddenSize the width H of the token vectors
     * @param headCount the number of heads N; must divide {@code hiddenSize}
     * @throws IllegalArgumentException if a size is not positive or N does not divide H
     */
    public BertSelfAttention(int hiddenSize, int headCount) {
        super(VERSION);
        if (hiddenSize <= 0 || headCount <= 0 || hiddenSize % headCount != 0) {
            throw new IllegalArgumentException(
                    "hiddenSize was "
                            + hiddenSize
                            + " and headCount "
                            + headCount
                            + ", both must be > 0 and headCount must divide hiddenSize");
        }
        this.hiddenSize = hiddenSize;
        this.headCount = headCount;
        query = addChildBlock("query", projection(hiddenSize));
        key = addChildBlock("key", projection(hiddenSize));
        value = addChildBlock("value", projection(hiddenSize));
        output = addChildBlock("output", projection(hiddenSize));
    }

    private static Linear projection(int units) {
        return Linear.builder().setUnits(units).optBias(true).build();
    }

    /**
     * Returns the query projection.
     *
     * @return the {@code query} child: a {@link Linear}, or its twin after quantization
     */
    public Block getQuery() {
        return query;
    }

    /**
     * Returns the key projection.
     *
     * @return the {@code key} child: a {@link Linear}, or its twin after quantization
     */
    public Block getKey() {
        return key;
    }

    /**
     * Returns the value projection.
     *
     * @return the {@code value} child: a {@link Linear}, or its twin after quantization
     */
    public Block getValue() {
        return value;
    }

    /**
     * Returns the projection applied to the concatenated heads.
     *
     * @return the {@code output} child: a {@link Linear}, or its twin after quantization
     */
    public Block getOutput() {
        return output;
    }

    /**
     * Returns the hidden size.
     *
     * @return H
     */
    public int getHiddenSize() {
        return hiddenSize;
    }

    /**
     * Returns the number of attention heads.
     *
     * @return N
     */
    public int getHeadCount() {
        return headCount;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray mask = inputs.get(1);
        long batch = x.getShape().get(0);
        long tokens = x.getShape().get(1);
        int headSize = hiddenSize / headCount;
        NDArray q = heads(query, parameterStore, x, training, batch, tokens);
        NDArray k = heads(key, parameterStore, x, training, batch, tokens);
        NDArray v = heads(value, parameterStore, x, training, batch, tokens);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).div((float) Math.sqrt(headSize));
        NDArray probabilities = scores.add(mask).softmax(-1);
        NDArray context =
                probabilities.matMul(v).transpose(0, 2, 1, 3).reshape(batch, tokens, hiddenSize);
        return output.forward(parameterStore, new NDList(context), training);
    }

    private NDArray heads(
            Block projection,
            ParameterStore parameterStore,
            NDArray x,
            boolean training,
            long batch,
            long tokens) {
        NDArray projected = projection.forward(parameterStore, new NDList(x), training).head();
        return projected
                .reshape(batch, tokens, headCount, hiddenSize / headCount)
                .transpose(0, 2, 1, 3);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        for (Block projection : new Block[] {query, key, value, output}) {
            projection.initialize(manager, dataType, inputShapes[0]);
        }
    }
}
