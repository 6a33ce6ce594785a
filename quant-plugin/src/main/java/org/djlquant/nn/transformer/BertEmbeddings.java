package org.djlquant.nn.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The input embeddings of a BERT encoder: {@code norm(word[ids] + position[0..T) +
 * tokenType[types])}.
 *
 * <p>Parameters: {@code word} [V, H], {@code position} [P, H], {@code tokenType} [TT, H]. Child:
 * {@code norm} ({@link LayerNorm}). The lookups use DJL's {@link Embedding#embedding} operator on
 * plain id arrays, so no vocabulary object is involved.
 *
 * <p>Input {@code [input_ids, token_type_ids]}, both int64 [B, T] with T ≤ P; output {@code [e]}
 * with e float [B, T, H].
 */
public class BertEmbeddings extends AbstractBlock {

    private static final byte VERSION = 1;

    private final BertConfig config;
    private final Parameter word;
    private final Parameter position;
    private final Parameter tokenType;
    // not final, typed Block: quantization stages may swap it for a twin in place
    private Block norm;

    /**
     * Creates uninitialised embeddings.
     *
     * @param config the architecture; vocabulary, position, token-type and hidden sizes are used
     */
    public BertEmbeddings(BertConfig config) {
        super(VERSION);
        this.config = config;
        word =
                addParameter(
                        Parameter.builder().setName("word").setType(Parameter.Type.WEIGHT).build());
        position =
                addParameter(
                        Parameter.builder()
                                .setName("position")
                                .setType(Parameter.Type.WEIGHT)
                                .build());
        tokenType =
                addParameter(
                        Parameter.builder()
                                .setName("tokenType")
                                .setType(Parameter.Type.WEIGHT)
                                .build());
        norm = addChildBlock("norm", BertLayer.norm(config));
    }

    /**
     * Returns the word-embedding table [V, H].
     *
     * @return the {@code word} parameter
     */
    public Parameter getWord() {
        return word;
    }

    /**
     * Returns the position-embedding table [P, H].
     *
     * @return the {@code position} parameter
     */
    public Parameter getPosition() {
        return position;
    }

    /**
     * Returns the token-type embedding table [TT, H].
     *
     * @return the {@code tokenType} parameter
     */
    public Parameter getTokenType() {
        return tokenType;
    }

    /**
     * Returns the normalisation applied to the summed embeddings.
     *
     * @return the {@code norm} child
     */
    public Block getNorm() {
        return norm;
    }

    /** {@inheritDoc} */
    @Override
    public void prepare(Shape[] inputShapes) {
        long hidden = config.hiddenSize();
        word.setShape(new Shape(config.vocabSize(), hidden));
        position.setShape(new Shape(config.maxPositions(), hidden));
        tokenType.setShape(new Shape(config.typeVocabSize(), hidden));
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        NDArray types = inputs.get(1);
        long tokens = ids.getShape().get(1);
        if (tokens > config.maxPositions()) {
            throw new IllegalArgumentException(
                    "sequence length was "
                            + tokens
                            + ", must be <= maxPositions "
                            + config.maxPositions());
        }
        NDArray wordTable = parameterStore.getValue(word, ids.getDevice(), training);
        NDArray positionTable = parameterStore.getValue(position, ids.getDevice(), training);
        NDArray typeTable = parameterStore.getValue(tokenType, ids.getDevice(), training);
        NDArray sum =
                Embedding.embedding(ids, wordTable, SparseFormat.DENSE)
                        .head()
                        .add(Embedding.embedding(types, typeTable, SparseFormat.DENSE).head())
                        .add(positionTable.get(new NDIndex("0:{}", tokens)));
        return norm.forward(parameterStore, new NDList(sum), training);
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
        norm.initialize(manager, dataType, getOutputShapes(inputShapes));
    }
}
