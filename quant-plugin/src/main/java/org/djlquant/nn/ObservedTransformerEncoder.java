package org.djlquant.nn;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.transformer.PointwiseFeedForwardBlock;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * Stands in for DJL's {@link TransformerEncoderBlock} so that its attention can be an {@link
 * ObservedAttention}: the encoder keeps its attention in a private field typed with the final class
 * {@code ScaledDotProductAttentionBlock}, which no twin can take, so the encoder itself is replaced
 * (it is not final, and parents such as {@code BertBlock} hold it in a {@code
 * List<TransformerEncoderBlock>}, which this subclass fits).
 *
 * <p>Everything is the original encoder's: children (with the attention shown as its twin),
 * parameters, save and load. While the attention's P observer is inactive the forward is the
 * original encoder's own; otherwise it computes the same sequence with the twin attention:
 * attention, dropout, residual, norm, point-wise feed-forward, dropout, residual of the encoder
 * input, norm. The blocks the superclass constructor builds are never initialized or used.
 */
public final class ObservedTransformerEncoder extends TransformerEncoderBlock {

    private final TransformerEncoderBlock original;
    private final ObservedAttention attention;
    private final Dropout attentionDropout;
    private final Block attentionNorm;
    private final Block feedForward;
    private final Dropout feedForwardDropout;
    private final Block outputNorm;

    /**
     * Creates the stand-in.
     *
     * @param original the encoder block
     * @param attention the twin of its attention block
     */
    @SuppressWarnings("this-escape")
    public ObservedTransformerEncoder(
            TransformerEncoderBlock original, ObservedAttention attention) {
        super(
                embeddingSize(attention),
                headCount(attention),
                hiddenSize(original),
                dropoutRate(original),
                list -> list);
        this.original = original;
        this.attention = attention;
        Class<?> k = TransformerEncoderBlock.class;
        this.attentionDropout = (Dropout) Reflect.read(original, k, "selfAttentionDropout");
        this.attentionNorm = (Block) Reflect.read(original, k, "attentionNorm");
        this.feedForward = (Block) Reflect.read(original, k, "pointWisefullyConnected");
        this.feedForwardDropout = (Dropout) Reflect.read(original, k, "fullyConnectedDropout");
        this.outputNorm = (Block) Reflect.read(original, k, "outputNorm");
    }

    private static int embeddingSize(ObservedAttention a) {
        return (Integer)
                Reflect.read(a.original(), ScaledDotProductAttentionBlock.class, "embeddingSize");
    }

    private static int headCount(ObservedAttention a) {
        return (Integer)
                Reflect.read(a.original(), ScaledDotProductAttentionBlock.class, "headCount");
    }

    private static int hiddenSize(TransformerEncoderBlock t) {
        PointwiseFeedForwardBlock ff =
                (PointwiseFeedForwardBlock)
                        Reflect.read(t, TransformerEncoderBlock.class, "pointWisefullyConnected");
        Block first = ff.getChildren().get(0).getValue();
        Block lin = first instanceof QuantTwin ? ((QuantTwin) first).original() : first;
        return (int) (long) (Long) Reflect.read(lin, Linear.class, "units");
    }

    private static float dropoutRate(TransformerEncoderBlock t) {
        Dropout d =
                (Dropout) Reflect.read(t, TransformerEncoderBlock.class, "selfAttentionDropout");
        return (Float) Reflect.read(d, Dropout.class, "rate");
    }

    /**
     * Returns the replaced encoder.
     *
     * @return the original block
     */
    public TransformerEncoderBlock original() {
        return original;
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        TwinControl c = attention.control();
        if (!(c.has(TwinControl.PROBS) && (c.isObserving() || c.isFakeQuant()))) {
            return original.forward(ps, inputs, training, params);
        }
        NDArray embedding = inputs.head();
        NDList att = attention.forward(ps, inputs, training);
        NDArray residual =
                attentionDropout.forward(ps, att, training).singletonOrThrow().add(embedding);
        NDList normed = attentionNorm.forward(ps, new NDList(residual), training);
        NDList ff = feedForward.forward(ps, normed, training);
        NDArray out =
                feedForwardDropout.forward(ps, ff, training).singletonOrThrow().add(embedding);
        return outputNorm.forward(ps, new NDList(out), training);
    }

    /** {@inheritDoc} */
    @Override
    public BlockList getChildren() {
        BlockList out = new BlockList();
        for (Pair<String, Block> c : original.getChildren()) {
            out.add(c.getKey(), c.getValue() == attention.original() ? attention : c.getValue());
        }
        return out;
    }

    /** {@inheritDoc} */
    @Override
    public ParameterList getDirectParameters() {
        return original.getDirectParameters();
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return original.getOutputShapes(inputShapes);
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
