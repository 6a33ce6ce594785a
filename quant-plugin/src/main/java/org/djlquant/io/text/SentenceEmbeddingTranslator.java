package org.djlquant.io.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDList;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.QuantizationException;

/**
 * Turns one sentence into a unit-length sentence embedding with any encoder that maps {@code
 * (input_ids, attention_mask, token_type_ids)} to {@code last_hidden_state}.
 *
 * <p>The input arrays are [1, T] int64, named and ordered {@code input_ids, attention_mask,
 * token_type_ids}; the output is the mean of the real tokens' hidden states, L2-normalised. Inputs
 * longer than {@link #getMaxLength()} tokens (special tokens included) are cut to that length,
 * keeping the final {@code [SEP]}, and counted ({@link #getTruncationCount()}). An empty sentence
 * is encoded as {@code [CLS] [SEP]}. For several sentences per model call use {@link #batch()}.
 *
 * <p>Close the translator (it owns the native tokenizer) after the predictors using it.
 */
public final class SentenceEmbeddingTranslator
        implements NoBatchifyTranslator<String, float[]>, AutoCloseable {

    private static final String BATCH = "djlquant.batch";

    private final SentenceEncoding encoding;
    private final Batched batched = new Batched();

    private SentenceEmbeddingTranslator(SentenceEncoding encoding) {
        this.encoding = encoding;
    }

    /**
     * Creates a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the longest input in tokens, special tokens included.
     *
     * @return the maximum length
     */
    public int getMaxLength() {
        return encoding.maxLength();
    }

    /**
     * Returns how many sentences so far were longer than the maximum length and were truncated,
     * counted over this translator and its {@link #batch()} twin.
     *
     * @return the number of truncated sentences
     */
    public long getTruncationCount() {
        return encoding.truncations();
    }

    /**
     * Returns the translator that embeds a list of sentences in one model call (padded to the
     * longest); it shares this translator's tokenizer and truncation counter.
     *
     * @return the batch translator, one embedding row per sentence, in order
     */
    public NoBatchifyTranslator<List<String>, float[][]> batch() {
        return batched;
    }

    /** {@inheritDoc} */
    @Override
    public NDList processInput(TranslatorContext ctx, String input) {
        SentenceEncoding.Batch batch = encoding.encode(List.of(input));
        ctx.setAttachment(BATCH, batch);
        return batch.toNDList(ctx.getNDManager());
    }

    /** {@inheritDoc} */
    @Override
    public float[] processOutput(TranslatorContext ctx, NDList list) {
        SentenceEncoding.Batch batch = (SentenceEncoding.Batch) ctx.getAttachment(BATCH);
        return SentenceEncoding.pool(list, batch)[0];
    }

    /** Closes the tokenizer; closing twice is harmless. */
    @Override
    public void close() {
        encoding.close();
    }

    private final class Batched implements NoBatchifyTranslator<List<String>, float[][]> {

        /** {@inheritDoc} */
        @Override
        public NDList processInput(TranslatorContext ctx, List<String> input) {
            SentenceEncoding.Batch batch = encoding.encode(input);
            ctx.setAttachment(BATCH, batch);
            return batch.toNDList(ctx.getNDManager());
        }

        /** {@inheritDoc} */
        @Override
        public float[][] processOutput(TranslatorContext ctx, NDList list) {
            SentenceEncoding.Batch batch = (SentenceEncoding.Batch) ctx.getAttachment(BATCH);
            return SentenceEncoding.pool(list, batch);
        }
    }

    /** Builds a {@link SentenceEmbeddingTranslator}. */
    public static final class Builder {

        private Path tokenizer;
        private int maxLength = 512;

        private Builder() {}

        /**
         * Sets the Hugging Face {@code tokenizer.json} of the model (required).
         *
         * @param tokenizerJson path of the file
         * @return this builder
         */
        public Builder setTokenizer(Path tokenizerJson) {
            this.tokenizer = tokenizerJson;
            return this;
        }

        /**
         * Sets the longest input in tokens, special tokens included; default 512 (BERT's position
         * table). Use the model's position count ({@code BertConfig.maxPositions()}) or the length
         * it was trained with (256 for all-MiniLM-L6-v2).
         *
         * @param maxLength at least 2
         * @return this builder
         */
        public Builder optMaxLength(int maxLength) {
            this.maxLength = maxLength;
            return this;
        }

        /**
         * Builds the translator, loading the tokenizer with its own padding and truncation turned
         * off (the translator does both).
         *
         * @return the translator; the caller closes it
         * @throws IllegalArgumentException if no tokenizer was set or maxLength is below 2
         * @throws QuantizationException if the tokenizer file cannot be read
         */
        public SentenceEmbeddingTranslator build() throws QuantizationException {
            if (tokenizer == null) {
                throw new IllegalArgumentException(
                        "tokenizer was not set, must be the path of a tokenizer.json");
            }
            if (maxLength < 2) {
                throw new IllegalArgumentException(
                        "maxLength was " + maxLength + ", must be >= 2 ([CLS] and [SEP])");
            }
            if (!Files.isRegularFile(tokenizer)) {
                throw new QuantizationException(
                        "tokenizer file " + tokenizer + " does not exist or is not a file");
            }
            try {
                HuggingFaceTokenizer hf =
                        HuggingFaceTokenizer.builder()
                                .optTokenizerPath(tokenizer)
                                .optAddSpecialTokens(true)
                                .optPadding(false)
                                .optTruncation(false)
                                .build();
                return new SentenceEmbeddingTranslator(new SentenceEncoding(hf, maxLength));
            } catch (IOException | RuntimeException e) {
                throw new QuantizationException(
                        "cannot load tokenizer " + tokenizer + ": " + e.getMessage(), e);
            }
        }
    }
}
