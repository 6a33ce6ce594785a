package org.djlquant.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.BlockList;
import ai.djl.nn.ParameterList;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.config.QMode;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.djlquant.scheme.QParams;

/**
 * Our {@link BertSelfAttention} converted to INT8 by {@link Converter}: the four projections are
 * {@link QuantizedLinear} layers (children {@code query}, {@code key}, {@code value}, {@code
 * output} of the original block, swapped in place); {@code Q·Kᵀ}, the mask, softmax and {@code P·V}
 * stay float.
 *
 * <p>Static: the hidden states are quantized once and the Q, K and V projections run on that one
 * {@code quint8} tensor ({@code quantized::linear} with each projection's calibrated output
 * parameters), so the three projections cost one quantize instead of three (their "input" observers
 * saw the same tensor; if their parameters differ anyway, each projection quantizes its own input).
 * Q, K, V are dequantized for the float matmuls. The attention probabilities' calibrated parameters
 * ({@link #getProbsParams()}) are kept for exporters; P stays float here. PyTorch's {@code
 * quantized::matmul} has integer kernels only in builds with {@code USE_RUY_QMATMUL} (its source,
 * {@code qmatmul.cpp}); whether the x86 libtorch 2.7.1 build has them was not checked.
 *
 * <p>Lifecycle and thread-safety as {@link QuantizedLinear}.
 */
public final class QuantizedBertSelfAttention extends AbstractBlock {

    private final BertSelfAttention original;
    private final String path;
    private final QMode mode;
    private final QParams probsParams;

    QuantizedBertSelfAttention(
            BertSelfAttention original, String path, QMode mode, QParams probsParams) {
        this.original = original;
        this.path = path;
        this.mode = mode;
        this.probsParams = probsParams;
        if (original.getInputShapes() != null) {
            // initialized like the block it replaces (DJL's metadata writers need the shapes)
            beforeInitialize(original.getInputShapes());
        }
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
        NDArray[] qkv = projections(ps, x, training);
        NDArray q = qkv[0].reshape(batch, tokens, heads, headSize).transpose(0, 2, 1, 3);
        NDArray k = qkv[1].reshape(batch, tokens, heads, headSize).transpose(0, 2, 1, 3);
        NDArray v = qkv[2].reshape(batch, tokens, heads, headSize).transpose(0, 2, 1, 3);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).div((float) Math.sqrt(headSize));
        NDArray probs = scores.add(mask).softmax(-1);
        NDArray context = probs.matMul(v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden);
        return original.getOutput().forward(ps, new NDList(context), training);
    }

    private NDArray[] projections(ParameterStore ps, NDArray x, boolean training) {
        QuantizedLinear[] p = {query(), key(), value()};
        if (mode != QMode.STATIC || !sameInput(p)) {
            NDArray[] out = new NDArray[3];
            for (int i = 0; i < 3; i++) {
                out[i] = p[i].forward(ps, new NDList(x), training).head();
            }
            return out;
        }
        QParams in = p[0].getInputParams();
        NDManager manager = x.getManager();
        try (QuantizedActivation xq = QuantizedActivation.quantize(x, in.scale(), in.zeroPoint())) {
            NDArray[] out = new NDArray[3];
            for (int i = 0; i < 3; i++) {
                try (QuantizedActivation y = p[i].forwardQuantized(xq)) {
                    out[i] = y.dequantize(manager);
                }
            }
            return out;
        } catch (QuantizationException e) {
            throw new IllegalStateException("layer " + path + ": " + e.getMessage(), e);
        }
    }

    private static boolean sameInput(QuantizedLinear[] p) {
        QParams a = p[0].getInputParams();
        for (QuantizedLinear l : p) {
            QParams b = l.getInputParams();
            if (b == null || b.scale() != a.scale() || b.zeroPoint() != a.zeroPoint()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Returns the BERT attention block this block runs: its {@code query}, {@code key}, {@code
     * value} and {@code output} children are the converted {@link QuantizedLinear} layers.
     *
     * @return the block (not a copy)
     */
    public BertSelfAttention getOriginal() {
        return original;
    }

    /**
     * Returns the converted query projection.
     *
     * @return the {@code query} child
     */
    public QuantizedLinear query() {
        return (QuantizedLinear) original.getQuery();
    }

    /**
     * Returns the converted key projection.
     *
     * @return the {@code key} child
     */
    public QuantizedLinear key() {
        return (QuantizedLinear) original.getKey();
    }

    /**
     * Returns the converted value projection.
     *
     * @return the {@code value} child
     */
    public QuantizedLinear value() {
        return (QuantizedLinear) original.getValue();
    }

    /**
     * Returns the converted output projection.
     *
     * @return the {@code output} child
     */
    public QuantizedLinear output() {
        return (QuantizedLinear) original.getOutput();
    }

    /**
     * Returns the calibrated parameters of the attention probabilities P (run float here).
     *
     * @return UINT8 per-tensor parameters, or null if P was not observed
     */
    public QParams getProbsParams() {
        return probsParams;
    }

    /**
     * Returns the activation mode of the projections.
     *
     * @return {@link QMode#DYNAMIC} or {@link QMode#STATIC}
     */
    public QMode getMode() {
        return mode;
    }

    /**
     * Returns the layer path (raw form).
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the number of attention heads.
     *
     * @return N
     */
    public int getHeadCount() {
        return original.getHeadCount();
    }

    /** {@inheritDoc} */
    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** {@inheritDoc} */
    @Override
    public BlockList getChildren() {
        return original.getChildren();
    }

    /** {@inheritDoc} */
    @Override
    public ParameterList getDirectParameters() {
        return original.getDirectParameters();
    }
}
