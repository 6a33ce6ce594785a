package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A whole BERT encoder: {@code (input_ids, attention_mask, token_type_ids) → last_hidden_state}.
 *
 * <p>Children: {@code embeddings} ({@link BertEmbeddings}) and {@code encoder} ({@link
 * BertEncoder}). Paths of the blocks a quantizer wraps, written as DJL child names without their
 * two-digit ordinal prefix: {@code encoder.01.attention} (a {@link BertSelfAttention}), {@code
 * encoder.01.attention.query|key|value|output}, {@code encoder.01.intermediate}, {@code
 * encoder.01.output} (all {@link ai.djl.nn.core.Linear}).
 *
 * <p>Input: three int64 arrays [B, T] in the order {@code input_ids}, {@code attention_mask} (1 for
 * real tokens, 0 for padding), {@code token_type_ids}. Output: {@code [last_hidden_state]} float
 * [B, T, H]; padding positions hold values too (as in the exporters' graphs) and should be ignored.
 */
public class BertModelBlock extends AbstractBlock {

    private static final byte VERSION = 1;

    private final BertConfig config;
    // not final, typed Block: quantization stages may swap children for twins in place
    private Block embeddings;
    private Block encoder;

    /**
     * Creates an uninitialised encoder with the given architecture.
     *
     * @param config the architecture
     */
    public BertModelBlock(BertConfig config) {
        super(VERSION);
        this.config = config;
        embeddings = addChildBlock("embeddings", new BertEmbeddings(config));
        encoder = addChildBlock("encoder", new BertEncoder(config));
    }

    /**
     * Returns the architecture this block was built with.
     *
     * @return the configuration
     */
    public BertConfig getConfig() {
        return config;
    }

    /**
     * Returns the embeddings block.
     *
     * @return the {@code embeddings} child
     */
    public Block getEmbeddings() {
        return embeddings;
    }

    /**
     * Returns the layer stack.
     *
     * @return the {@code encoder} child
     */
    public Block getEncoder() {
        return encoder;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        if (inputs.size() != 3) {
            throw new IllegalArgumentException(
                    "inputs had "
                            + inputs.size()
                            + " arrays, must be 3: input_ids, attention_mask, token_type_ids");
        }
        NDArray ids = inputs.get(0);
        NDArray attentionMask = inputs.get(1);
        NDArray types = inputs.get(2);
        long batch = ids.getShape().get(0);
        long tokens = ids.getShape().get(1);
        NDArray additiveMask =
                attentionMask
                        .toType(DataType.FLOAT32, false)
                        .neg()
                        .add(1f)
                        .mul(config.maskValue())
                        .reshape(batch, 1, 1, tokens);
        NDArray embedded =
                embeddings.forward(parameterStore, new NDList(ids, types), training).head();
        return encoder.forward(parameterStore, new NDList(embedded, additiveMask), training);
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        return new Shape[] {new Shape(ids.get(0), ids.get(1), config.hiddenSize())};
    }

    /** {@inheritDoc} */
    @Override
    protected void initializeChildBlocks(
            NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        embeddings.initialize(manager, dataType, ids, inputShapes[2]);
        Shape hidden = getOutputShapes(inputShapes)[0];
        encoder.initialize(manager, dataType, hidden, new Shape(ids.get(0), 1, 1, ids.get(1)));
    }
}
