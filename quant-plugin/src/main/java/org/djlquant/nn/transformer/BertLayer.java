package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One BERT encoder layer (post-norm).
 *
 * <p>Children (in this order): {@code attention} ({@link BertSelfAttention}), {@code attentionNorm}
 * ({@link LayerNorm}), {@code intermediate} ({@link Linear} H→I), {@code output} ({@link Linear}
 * I→H), {@code outputNorm} ({@link LayerNorm}). Forward: {@code a = attentionNorm(x + attention(x,
 * m))}, {@code y = outputNorm(a + output(gelu(intermediate(a))))} with the exact (erf) GELU {@code
 * z · ½ (1 + erf(z / √2))}.
 *
 * <p>Input {@code [x, m]} as for {@link BertSelfAttention}; output {@code [y]} with y [B, T, H].
 */
public class BertLayer extends AbstractBlock {

    private static final byte VERSION = 1;

    // Children are typed Block and not final: quantization stages swap them for observed,
    // fake-quant or INT8 twins in place (in this field and in the children list).
    private Block attention;
    private Block attentionNorm;
    private Block intermediate;
    private Block output;
    private Block outputNorm;

    /**
     * Creates an uninitialised layer.
     *
     * @param config the architecture; its hidden size, head count, intermediate size and epsilon
     *     are used
     */
    public BertLayer(BertConfig config) {
        super(VERSION);
        attention =
                addChildBlock(
                        "attention",
                        new BertSelfAttention(config.hiddenSize(), config.headCount()));
        attentionNorm = addChildBlock("attentionNorm", norm(config));
        intermediate =
                addChildBlock(
                        "intermediate",
                        Linear.builder().setUnits(config.intermediateSize()).build());
        output = addChildBlock("output", Linear.builder().setUnits(config.hiddenSize()).build());
        outputNorm = addChildBlock("outputNorm", norm(config));
    }

    static LayerNorm norm(BertConfig config) {
        return LayerNorm.builder().axis(2).optEpsilon(config.layerNormEpsilon()).build();
    }

    /**
     * Returns the self-attention block.
     *
     * @return the {@code attention} child: a {@link BertSelfAttention}, or its twin after
     *     quantization
     */
    public Block getAttention() {
        return attention;
    }

    /**
     * Returns the normalisation after the attention residual.
     *
     * @return the {@code attentionNorm} child
     */
    public Block getAttentionNorm() {
        return attentionNorm;
    }

    /**
     * Returns the first feed-forward projection (H→I, followed by GELU).
     *
     * @return the {@code intermediate} child: a {@link Linear}, or its twin after quantization
     */
    public Block getIntermediate() {
        return intermediate;
    }

    /**
     * Returns the second feed-forward projection (I→H).
     *
     * @return the {@code output} child: a {@link Linear}, or its twin after quantization
     */
    public Block getOutput() {
        return output;
    }

    /**
     * Returns the normalisation after the feed-forward residual.
     *
     * @return the {@code outputNorm} child
     */
    public Block getOutputNorm() {
        return outputNorm;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray attended = attention.forward(parameterStore, inputs, training).head();
        NDArray a =
                attentionNorm.forward(parameterStore, new NDList(attended.add(x)), training).head();
        NDArray h = intermediate.forward(parameterStore, new NDList(a), training).head();
        NDArray f = output.forward(parameterStore, new NDList(Activation.gelu(h)), training).head();
        return outputNorm.forward(parameterStore, new NDList(f.add(a)), training);
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
        Shape hidden = inputShapes[0];
        attention.initialize(manager, dataType, inputShapes);
        attentionNorm.initialize(manager, dataType, hidden);
        intermediate.initialize(manager, dataType, hidden);
        Shape wide = intermediate.getOutputShapes(new Shape[] {hidden})[0];
        output.initialize(manager, dataType, wide);
        outputNorm.initialize(manager, dataType, hidden);
    }
}
