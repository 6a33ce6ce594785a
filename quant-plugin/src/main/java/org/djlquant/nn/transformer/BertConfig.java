package org.djlquant.nn.transformer;

/**
 * Architecture of a BERT-family encoder: the numbers needed to rebuild its block tree.
 *
 * @param vocabSize number of rows of the word-embedding table
 * @param hiddenSize width H of every token vector
 * @param layerCount number of encoder layers
 * @param headCount number of attention heads; must divide {@code hiddenSize}
 * @param intermediateSize width of the feed-forward layer inside each encoder layer
 * @param maxPositions number of rows of the position-embedding table (longest input)
 * @param typeVocabSize number of rows of the token-type embedding table
 * @param layerNormEpsilon epsilon of every layer normalisation (1e-12 for BERT)
 * @param maskValue value added to the attention scores of padding positions (BERT exporters use
 *     {@code -Float.MAX_VALUE} or -10000)
 */
public record BertConfig(
        int vocabSize,
        int hiddenSize,
        int layerCount,
        int headCount,
        int intermediateSize,
        int maxPositions,
        int typeVocabSize,
        float layerNormEpsilon,
        float maskValue) {

    /**
     * Validates the numbers.
     *
     * @param vocabSize number of rows of the word-embedding table
     * @param hiddenSize width H of every token vector
     * @param layerCount number of encoder layers
     * @param headCount number of attention heads
     * @param intermediateSize width of the feed-forward layer
     * @param maxPositions number of rows of the position-embedding table
     * @param typeVocabSize number of rows of the token-type embedding table
     * @param layerNormEpsilon epsilon of every layer normalisation
     * @param maskValue value added to the attention scores of padding positions
     * @throws IllegalArgumentException if a size is not positive, the head count does not divide
     *     the hidden size, or epsilon is not a small positive number
     */
    public BertConfig {
        positive("vocabSize", vocabSize);
        positive("hiddenSize", hiddenSize);
        positive("layerCount", layerCount);
        positive("headCount", headCount);
        positive("intermediateSize", intermediateSize);
        positive("maxPositions", maxPositions);
        positive("typeVocabSize", typeVocabSize);
        if (hiddenSize % headCount != 0) {
            throw new IllegalArgumentException(
                    "headCount was "
                            + headCount
                            + ", must divide hiddenSize "
                            + hiddenSize
                            + " without remainder");
        }
        if (!(layerNormEpsilon > 0 && layerNormEpsilon < 1)) {
            throw new IllegalArgumentException(
                    "layerNormEpsilon was " + layerNormEpsilon + ", must be in (0, 1)");
        }
        if (!(maskValue < 0) || Float.isInfinite(maskValue)) {
            throw new IllegalArgumentException(
                    "maskValue was " + maskValue + ", must be finite and negative");
        }
    }

    /**
     * Returns the width of one attention head.
     *
     * @return {@code hiddenSize / headCount}
     */
    public int headSize() {
        return hiddenSize / headCount;
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " was " + value + ", must be > 0");
        }
    }
}
