package org.djlquant.examples;

import java.nio.file.Path;
import org.djlquant.QuantizationException;
import org.djlquant.backend.onnx.OnnxExporter;

/**
 * {@code int8-static-onnx} / {@code int8-dynamic-onnx}: the prepared and calibrated MiniLM exported
 * by {@link OnnxExporter} (static: QDQ; dynamic: {@code DynamicQuantizeLinear + MatMulInteger};
 * per-channel weights; word-embedding table INT8 per row) and run on DJL's OnnxRuntime engine.
 */
final class OnnxInt8Variant extends OrtFileVariant {

    private final QuantizedMiniLm quantized;

    /**
     * Creates the variant over a shared quantized model.
     *
     * @param quantized the prepared model of this variant's mode, shared with its twins
     */
    OnnxInt8Variant(QuantizedMiniLm quantized) {
        this.quantized = quantized;
        quantized.want(QuantizedMiniLm.Form.ONNX);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "int8-" + quantized.modeName() + "-onnx";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return quantized.recipe().describe(quantized.mode())
                + "; exported to ONNX (OnnxExporter, word embeddings INT8 per row) on ONNX"
                + " Runtime";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.INT8;
    }

    /** {@inheritDoc} */
    @Override
    protected Path file(PipelineContext context) throws QuantizationException {
        quantized.build(context);
        return quantized.onnxFile();
    }

    /** {@inheritDoc} */
    @Override
    protected String artifactNote() {
        return "ONNX file written by OnnxExporter, word embeddings "
                + (quantized.int8Embeddings() ? "INT8 per row" : "FP32")
                + "; "
                + quantized.summary();
    }

    /** {@inheritDoc} */
    @Override
    public void close() {
        super.close();
        quantized.close();
    }
}
