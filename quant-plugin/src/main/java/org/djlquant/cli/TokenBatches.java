package org.djlquant.cli;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.djlquant.QuantizationException;

/**
 * Sentences tokenized once into BERT inputs ({@code input_ids}, {@code attention_mask}, {@code
 * token_type_ids}, int64 [batch, longest in batch]), kept as Java arrays; each iteration of {@link
 * #fresh} makes new {@link NDList}s, so the calibrator may close them.
 */
final class TokenBatches {

    private final List<long[][]> batches = new ArrayList<>();
    private final List<long[]> shapes = new ArrayList<>();
    private final int sentences;

    private TokenBatches(int sentences) {
        this.sentences = sentences;
    }

    /**
     * Tokenizes sentences in batches.
     *
     * @param tokenizerJson the model's tokenizer.json
     * @param texts the sentences
     * @param batchSize sentences per batch
     * @param maxLength longest input in tokens, special tokens included
     * @return the batches
     * @throws QuantizationException if the tokenizer cannot be loaded
     */
    static TokenBatches encode(Path tokenizerJson, List<String> texts, int batchSize, int maxLength)
            throws QuantizationException {
        TokenBatches out = new TokenBatches(texts.size());
        try (HuggingFaceTokenizer tok =
                HuggingFaceTokenizer.builder()
                        .optTokenizerPath(tokenizerJson)
                        .optAddSpecialTokens(true)
                        .optPadding(true)
                        .optTruncation(true)
                        .optMaxLength(maxLength)
                        .build()) {
            for (int i = 0; i < texts.size(); i += batchSize) {
                List<String> chunk = texts.subList(i, Math.min(texts.size(), i + batchSize));
                Encoding[] enc = tok.batchEncode(chunk);
                int t = enc[0].getIds().length;
                long[][] arrays = new long[3][enc.length * t];
                for (int b = 0; b < enc.length; b++) {
                    System.arraycopy(enc[b].getIds(), 0, arrays[0], b * t, t);
                    System.arraycopy(enc[b].getAttentionMask(), 0, arrays[1], b * t, t);
                    System.arraycopy(enc[b].getTypeIds(), 0, arrays[2], b * t, t);
                }
                out.batches.add(arrays);
                out.shapes.add(new long[] {enc.length, t});
            }
        } catch (IOException | RuntimeException e) {
            throw new QuantizationException(
                    "cannot tokenize with " + tokenizerJson + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** Returns the number of sentences. */
    int sentences() {
        return sentences;
    }

    /** Returns the number of batches. */
    int size() {
        return batches.size();
    }

    /** Makes batch {@code i} on a manager. */
    NDList batch(int i, NDManager manager) {
        long[][] a = batches.get(i);
        Shape s = new Shape(shapes.get(i));
        return new NDList(
                manager.create(a[0], s), manager.create(a[1], s), manager.create(a[2], s));
    }

    /** Every batch, created anew on {@code manager} at each iteration (the user closes them). */
    Iterable<NDList> fresh(NDManager manager) {
        return () ->
                new Iterator<>() {
                    private int next;

                    @Override
                    public boolean hasNext() {
                        return next < batches.size();
                    }

                    @Override
                    public NDList next() {
                        return batch(next++, manager);
                    }
                };
    }

    /** Every batch, created once on {@code manager} (kept until it closes). */
    List<NDList> kept(NDManager manager) {
        List<NDList> out = new ArrayList<>();
        for (int i = 0; i < batches.size(); i++) {
            out.add(batch(i, manager));
        }
        return out;
    }

    /**
     * Mean-pools the hidden states [B, T, H] over the tokens the attention mask keeps.
     *
     * @param inputs the batch (the mask is its second array)
     * @param outputs the model outputs (hidden states first)
     * @return [B, H], attached to the outputs' manager
     */
    static NDArray meanPool(NDList inputs, NDList outputs) {
        NDArray hidden = outputs.head();
        NDArray mask = inputs.get(1).toType(DataType.FLOAT32, false).expandDims(-1);
        return hidden.mul(mask).sum(new int[] {1}).div(mask.sum(new int[] {1}).maximum(1e-9f));
    }
}
