package org.djlquant.examples;

import java.nio.file.Path;

/** {@code fp32-ort}: the original all-MiniLM-L6-v2 ONNX file on DJL's OnnxRuntime engine. */
public final class Fp32OrtVariant extends OrtFileVariant {

    /** The variant name. */
    public static final String NAME = "fp32-ort";

    /** Creates the variant (nothing is loaded until {@link #build}). */
    public Fp32OrtVariant() {}

    /** {@inheritDoc} */
    @Override
    public String name() {
        return NAME;
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "original FP32 ONNX file on ONNX Runtime";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.FP32;
    }

    /** {@inheritDoc} */
    @Override
    protected Path file(PipelineContext context) {
        return context.fp32Onnx();
    }
}
