package org.djlquant.backend.onnx;

/**
 * How the exporter writes the graph.
 *
 * @param opset the ONNX opset of the default domain (17: the first with {@code LayerNormalization})
 * @param layerNorm how {@code LayerNorm} is written
 * @param dynamicOperator how dynamic INT8 linear layers are written
 * @param embeddings how the word-embedding table of a BERT model is stored
 */
public record ExportOptions(
        int opset,
        LayerNormForm layerNorm,
        DynamicOperator dynamicOperator,
        EmbeddingPrecision embeddings) {

    /** How {@code LayerNorm} is written. */
    public enum LayerNormForm {
        /** One {@code LayerNormalization} node (opset 17). */
        FUSED,
        /** {@code ReduceMean}, {@code Sub}, {@code Mul}, {@code Sqrt}, {@code Div}, … */
        DECOMPOSED
    }

    /** How a dynamic INT8 linear layer is written. */
    public enum DynamicOperator {
        /**
         * {@code DynamicQuantizeLinear} + {@code MatMulInteger} (per-column weight zero points) +
         * {@code Cast} + {@code Mul} by input scale × weight scales + {@code Add} bias.
         */
        MATMUL_INTEGER,
        /** ONNX Runtime's {@code com.microsoft.DynamicQuantizeMatMul} (per-column scales). */
        DYNAMIC_QUANTIZE_MATMUL
    }

    /** How the word-embedding table is stored. */
    public enum EmbeddingPrecision {
        /** Float32, as in the model. */
        FLOAT,
        /**
         * INT8 symmetric, one scale per row (token); rows are gathered as INT8 and scaled after the
         * lookup (weight-only: the embedding output differs from the float model).
         */
        INT8_PER_ROW
    }

    /**
     * Validates the options.
     *
     * @param opset the opset
     * @param layerNorm the LayerNorm form
     * @param dynamicOperator the dynamic operator
     * @param embeddings the embedding precision
     */
    public ExportOptions {
        if (opset != 17) {
            // ReduceMean and friends change their signature at 18; only 17 is written and tested
            throw new IllegalArgumentException("opset was " + opset + ", allowed: [17]");
        }
        if (layerNorm == null || dynamicOperator == null || embeddings == null) {
            throw new IllegalArgumentException(
                    "layerNorm, dynamicOperator and embeddings must be non-null");
        }
    }
}
