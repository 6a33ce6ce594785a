package org.djlquant.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import org.djlquant.config.QConfig;

/**
 * The twin of DJL's {@link ScaledDotProductAttentionBlock}, adding an observer (and fake
 * quantization) on the attention probabilities P, the left input of {@code P·V}.
 *
 * <p>The original's Q/K/V/output projections are {@link ObservedLinear} twins already (the Q, K and
 * V twins observe their outputs: the inputs of {@code Q·K^T} and the right input of {@code P·V});
 * softmax, the mask and dropout stay float. While P is neither observed nor fake-quantized, the
 * forward is the original block's own forward, so outputs are identical; otherwise the twin
 * computes multi-head attention itself: {@code softmax(Q K^T / sqrt(H) + mask) V}, heads split as
 * {@code (B, S, N, H) -> (B, N, S, H)}, a 3-D 0/1 mask turned into offsets of -100000 as the
 * original does, a 4-D mask added as given. Children, parameters, save and load are the original's.
 */
public final class ObservedAttention extends AttentionTwin<ScaledDotProductAttentionBlock> {

    private final int embeddingSize;
    private final int headCount;
    private final Dropout probsDropout;

    /**
     * Creates the twin. The original's projections should already be twins.
     *
     * @param original the attention block
     * @param path its block path
     * @param config its config
     */
    public ObservedAttention(ScaledDotProductAttentionBlock original, String path, QConfig config) {
        super(original, path, config);
        this.embeddingSize =
                (Integer)
                        Reflect.read(
                                original, ScaledDotProductAttentionBlock.class, "embeddingSize");
        this.headCount =
                (Integer) Reflect.read(original, ScaledDotProductAttentionBlock.class, "headCount");
        this.probsDropout =
                (Dropout)
                        Reflect.read(
                                original,
                                ScaledDotProductAttentionBlock.class,
                                "attentionProbsDropout");
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        boolean active =
                control.has(TwinControl.PROBS) && (control.isObserving() || control.isFakeQuant());
        if (!active) {
            return original.forward(ps, inputs, training, params);
        }
        ai.djl.nn.Parameter w = original.getKeyProjection().getParameters().get("weight");
        if (w.isInitialized()) {
            control.setParamManager(w.getArray().getManager());
        }
        int n = inputs.size();
        if (n < 1 || n > 4) {
            throw new IllegalArgumentException(
                    "attention at "
                            + control.path()
                            + " got "
                            + n
                            + " inputs, allowed: 1-4 (x | x, mask | k, q, v | k, q, v, mask)");
        }
        NDArray keyIn = inputs.get(0);
        NDArray queryIn = n < 3 ? keyIn : inputs.get(1);
        NDArray valueIn = n < 3 ? keyIn : inputs.get(2);
        NDArray mask = (n == 2 || n == 4) ? inputs.get(n - 1) : null;
        long batch = keyIn.getShape().get(0);
        long from = keyIn.getShape().get(1);
        long to = queryIn.getShape().get(1);
        long head = embeddingSize / headCount;

        NDArray k;
        NDArray q;
        NDArray v;
        // with one input for K, Q and V, fake-quantize it once for the three
        try (TwinControl.InputShare share =
                TwinControl.InputShare.install(
                        original.getKeyProjection(),
                        original.getQueryProjection(),
                        original.getValueProjection())) {
            k = project(original.getKeyProjection(), ps, keyIn, training, params);
            q = project(original.getQueryProjection(), ps, queryIn, training, params);
            v = project(original.getValueProjection(), ps, valueIn, training, params);
        }
        NDArray kh = heads(k, batch, from, head);
        NDArray qh = heads(q, batch, to, head);
        NDArray vh = heads(v, batch, from, head);

        NDArray scores =
                qh.matMul(kh.transpose(0, 1, 3, 2))
                        .mul(keyIn.getManager().create(1f / (float) Math.sqrt(head)));
        if (mask != null) {
            NDArray offset = mask;
            if (mask.getShape().dimension() != 4) {
                NDManager m = mask.getManager();
                offset =
                        mask.reshape(batch, 1, to, from)
                                .toType(DataType.FLOAT32, false)
                                .mul(m.create(-1f))
                                .add(m.create(1f))
                                .mul(m.create(-100000f));
            }
            scores = scores.add(offset);
        }
        NDArray probs = scores.softmax(3);
        probs = probsDropout.forward(ps, new NDList(probs), training).singletonOrThrow();
        probs = control.activation(TwinControl.PROBS, probs, ps, training, false);
        NDArray merged = probs.matMul(vh).transpose(0, 2, 1, 3).reshape(batch, to, embeddingSize);
        return original.getResultProjection().forward(ps, new NDList(merged), training);
    }

    private static NDArray project(
            Linear projection,
            ParameterStore ps,
            NDArray x,
            boolean training,
            PairList<String, Object> params) {
        return projection.forward(ps, new NDList(x), training, params).singletonOrThrow();
    }

    private NDArray heads(NDArray x, long batch, long seq, long head) {
        return x.reshape(batch, seq, headCount, head).transpose(0, 2, 1, 3);
    }
}
