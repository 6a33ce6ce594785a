package org.djlquant.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
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
public final class ObservedBertSelfAttention extends AttentionTwin<BertSelfAttention> {

    /**
     * Creates the twin. The original's projections should already be twins.
     *
     * @param original the attention block
     * @param path its block path
     * @param config its config (STATIC or QAT)
     */
    public ObservedBertSelfAttention(BertSelfAttention original, String path, QConfig config) {
        super(original, path, config);
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
        NDArray q;
        NDArray k;
        NDArray v;
        // Q, K and V read the same x: fake-quantize it once for the three
        try (TwinControl.InputShare share =
                TwinControl.InputShare.install(
                        original.getQuery(), original.getKey(), original.getValue())) {
            q = split(original.getQuery(), ps, x, training, batch, tokens, heads, headSize);
            k = split(original.getKey(), ps, x, training, batch, tokens, heads, headSize);
            v = split(original.getValue(), ps, x, training, batch, tokens, heads, headSize);
        }
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
}
