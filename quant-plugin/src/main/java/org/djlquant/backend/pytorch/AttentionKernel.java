package org.djlquant.backend.pytorch;

/**
 * How {@link TorchScriptExporter} lowers a BERT self-attention (Q·Kᵀ, mask, softmax, P·V) after its
 * Q, K and V projections; the projections themselves are lowered the same way either way.
 */
public enum AttentionKernel {
    /**
     * Separate {@code matmul}, {@code add}, {@code softmax} and {@code matmul}, with the attention
     * probabilities quantized and dequantized to their calibrated parameters when the twin observes
     * them: exactly what the prepared model simulates. The default.
     */
    MATMUL_SOFTMAX,
    /**
     * One fused {@code aten::scaled_dot_product_attention} (libtorch's CPU flash-attention kernel)
     * over the (dequantized) Q, K and V: no {@code [batch, heads, tokens, tokens]} intermediate is
     * written, several times faster at 128 tokens. The attention probabilities stay float, so a
     * twin's calibrated probability parameters are not applied: the export then differs from the
     * simulation by that one rounding (it is closer to the float model).
     */
    FUSED_SDPA
}
