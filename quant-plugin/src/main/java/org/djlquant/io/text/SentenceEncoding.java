package org.djlquant.io.text;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Tokenisation, truncation, padding and pooling shared by the single and batch translators. */
final class SentenceEncoding {

    static final String INPUT_IDS = "input_ids";
    static final String ATTENTION_MASK = "attention_mask";
    static final String TOKEN_TYPE_IDS = "token_type_ids";
    static final String LAST_HIDDEN_STATE = "last_hidden_state";

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;
    private final AtomicLong truncations = new AtomicLong();

    SentenceEncoding(HuggingFaceTokenizer tokenizer, int maxLength) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
    }

    int maxLength() {
        return maxLength;
    }

    long truncations() {
        return truncations.get();
    }

    void close() {
        tokenizer.close();
    }

    /** A padded batch: row-major [batch, tokens] ids, mask and token types. */
    record Batch(int batch, int tokens, long[] ids, long[] mask, long[] types) {

        NDList toNDList(NDManager manager) {
            Shape shape = new Shape(batch, tokens);
            NDArray i = manager.create(ids, shape);
            i.setName(INPUT_IDS);
            NDArray m = manager.create(mask, shape);
            m.setName(ATTENTION_MASK);
            NDArray t = manager.create(types, shape);
            t.setName(TOKEN_TYPE_IDS);
            return new NDList(i, m, t);
        }
    }

    Batch encode(List<String> sentences) {
        if (sentences.isEmpty()) {
            throw new IllegalArgumentException("batch was empty, must hold at least one sentence");
        }
        long[][] ids = new long[sentences.size()][];
        long[][] types = new long[sentences.size()][];
        int tokens = 0;
        for (int b = 0; b < ids.length; b++) {
            String sentence = sentences.get(b);
            if (sentence == null) {
                throw new IllegalArgumentException("sentence " + b + " was null, must be a string");
            }
            Encoding e = tokenizer.encode(sentence, true, false);
            ids[b] = e.getIds();
            types[b] = e.getTypeIds();
            if (ids[b].length > maxLength) {
                ids[b] = truncate(ids[b]);
                types[b] = truncate(types[b]);
                truncations.incrementAndGet();
            }
            tokens = Math.max(tokens, ids[b].length);
        }
        long[] flatIds = new long[ids.length * tokens];
        long[] flatMask = new long[ids.length * tokens];
        long[] flatTypes = new long[ids.length * tokens];
        for (int b = 0; b < ids.length; b++) {
            System.arraycopy(ids[b], 0, flatIds, b * tokens, ids[b].length);
            System.arraycopy(types[b], 0, flatTypes, b * tokens, types[b].length);
            for (int t = 0; t < ids[b].length; t++) {
                flatMask[b * tokens + t] = 1;
            }
        }
        return new Batch(ids.length, tokens, flatIds, flatMask, flatTypes);
    }

    /** Keeps the first maxLength-1 tokens and the closing special token. */
    private long[] truncate(long[] values) {
        long[] out = new long[maxLength];
        System.arraycopy(values, 0, out, 0, maxLength - 1);
        out[maxLength - 1] = values[values.length - 1];
        return out;
    }

    /** Mean-pools the real tokens of each row of last_hidden_state and L2-normalises. */
    static float[][] pool(NDList outputs, Batch batch) {
        NDArray hidden =
                outputs.contains(LAST_HIDDEN_STATE)
                        ? outputs.get(LAST_HIDDEN_STATE)
                        : outputs.get(0);
        Shape shape = hidden.getShape();
        if (shape.dimension() != 3
                || shape.get(0) != batch.batch()
                || shape.get(1) != batch.tokens()) {
            throw new IllegalStateException(
                    "model output shape was "
                            + shape
                            + ", must be [batch, tokens, hidden] = ["
                            + batch.batch()
                            + ", "
                            + batch.tokens()
                            + ", H]");
        }
        int width = (int) shape.get(2);
        float[] values = hidden.toFloatArray();
        float[][] out = new float[batch.batch()][width];
        for (int b = 0; b < batch.batch(); b++) {
            double[] sum = new double[width];
            int count = 0;
            for (int t = 0; t < batch.tokens(); t++) {
                if (batch.mask()[b * batch.tokens() + t] == 0) {
                    continue;
                }
                count++;
                int offset = (b * batch.tokens() + t) * width;
                for (int h = 0; h < width; h++) {
                    sum[h] += values[offset + h];
                }
            }
            double norm = 0;
            for (int h = 0; h < width; h++) {
                sum[h] /= Math.max(count, 1);
                norm += sum[h] * sum[h];
            }
            norm = Math.max(Math.sqrt(norm), 1e-12);
            for (int h = 0; h < width; h++) {
                out[b][h] = (float) (sum[h] / norm);
            }
        }
        return out;
    }
}
