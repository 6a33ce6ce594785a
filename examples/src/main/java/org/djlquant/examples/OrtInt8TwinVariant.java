package org.djlquant.examples;

import java.nio.file.Path;

/**
 * {@code ort-int8-twin}: {@code all-minilm-l6-v2-q.onnx}, the same model quantized by ONNX
 * Runtime's own (Python) dynamic INT8 quantizer, on DJL's OnnxRuntime engine: the peer to beat.
 */
public final class OrtInt8TwinVariant extends OrtFileVariant {

    /** The variant name. */
    public static final String NAME = "ort-int8-twin";

    /** Creates the variant (nothing is loaded until {@link #build}). */
    public OrtInt8TwinVariant() {}

    /** {@inheritDoc} */
    @Override
    public String name() {
        return NAME;
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "ONNX Runtime's own dynamic INT8 twin (all-minilm-l6-v2-q.onnx), peer to beat";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.PEER;
    }

    /** {@inheritDoc} */
    @Override
    protected Path file(PipelineContext context) {
        return context.int8Onnx();
    }
}
