package org.djlquant.io.onnx;

/** Public access, for tests in other packages, to the tiny BERT graphs of {@link TinyBertGraph}. */
public final class TinyBertOnnx {

    /** Vocabulary size of the tiny graphs. */
    public static final int VOCAB = TinyBertGraph.VOCAB;

    /** Hidden size of the tiny graphs. */
    public static final int HIDDEN = TinyBertGraph.HIDDEN;

    /** Intermediate (feed-forward) size of the tiny graphs. */
    public static final int INTERMEDIATE = TinyBertGraph.INTERMEDIATE;

    /** Position-table size of the tiny graphs (longest input in tokens). */
    public static final int POSITIONS = TinyBertGraph.POSITIONS;

    private TinyBertOnnx() {}

    /**
     * A two-layer BERT encoder laid out as PyTorch's exporter writes it with fused LayerNorm.
     *
     * @return the serialized ONNX model
     */
    public static byte[] twoLayers() {
        return TinyBertGraph.fusedStyle().toByteArray();
    }
}
