package org.djlquant.examples;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What every {@link Variant} may need to build itself.
 *
 * @param fp32Onnx the original all-MiniLM-L6-v2 ONNX file
 * @param int8Onnx ONNX Runtime's dynamically quantized twin of it
 * @param tokenizer the model's {@code tokenizer.json}
 * @param workDir where variants write their artifacts
 * @param threads intra-op threads for every engine
 * @param calibration the sentences a static variant calibrates on
 * @param maxLength the longest input in tokens used for embedding (special tokens included)
 */
public record PipelineContext(
        Path fp32Onnx,
        Path int8Onnx,
        Path tokenizer,
        Path workDir,
        int threads,
        List<String> calibration,
        int maxLength) {

    /** Validates the fields. */
    public PipelineContext {
        Objects.requireNonNull(fp32Onnx, "fp32Onnx");
        Objects.requireNonNull(int8Onnx, "int8Onnx");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(workDir, "workDir");
        if (threads < 1) {
            throw new IllegalArgumentException("threads was " + threads + ", must be >= 1");
        }
        calibration = List.copyOf(calibration);
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength was " + maxLength + ", must be >= 2");
        }
    }
}
