/**
 * Export to ONNX Runtime: a DJL block tree, prepared and calibrated by this library, written as an
 * ONNX model with quantized operators (QDQ for static INT8, {@code DynamicQuantizeLinear +
 * MatMulInteger} or {@code com.microsoft.DynamicQuantizeMatMul} for dynamic INT8) that DJL's
 * OnnxRuntime engine loads with a plain {@code Criteria}.
 *
 * <p>Entry point: {@link org.djlquant.backend.onnx.OnnxExporter}. Each block class is written by a
 * {@link org.djlquant.backend.onnx.BlockLowering} held in a {@link
 * org.djlquant.backend.onnx.LoweringRegistry}; users register lowerings for their own blocks.
 *
 * <p>Numerics: weights are quantized in Java with {@link org.djlquant.scheme.QuantMath} (the bytes
 * stored are the ones the fake-quant simulation uses). Activations are quantized by ONNX Runtime,
 * which divides by the scale ({@code round(x / s)}) where the simulation multiplies by the float32
 * reciprocal; the two differ by one step only for inputs within an ulp of a rounding tie.
 *
 * <p>Lifecycle: prepare → calibrate → export ({@code write}) → load with DJL. The exporter holds no
 * native resources. Thread-safety: an exporter may be used from one thread at a time and the block
 * tree must not change during an export.
 */
package org.djlquant.backend.onnx;
