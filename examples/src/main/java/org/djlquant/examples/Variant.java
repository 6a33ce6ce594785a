package org.djlquant.examples;

import ai.djl.inference.Predictor;
import ai.djl.translate.NoBatchifyTranslator;
import java.util.List;
import java.util.OptionalLong;
import org.djlquant.QuantizationException;

/**
 * One way of running the MiniLM sentence encoder that {@link MiniLmPipeline} measures side by side.
 * Adding a variant means writing one class implementing this interface and listing it in {@link
 * MiniLmPipeline#variants}.
 *
 * <p>Lifecycle: {@link #build} once (loads or creates the model and writes its artifact, if any),
 * then any number of {@link #newPredictor} calls, then {@link #close} (closing twice is harmless).
 * Not thread-safe.
 */
public interface Variant extends AutoCloseable {

    /** What a variant is, for reading its numbers. */
    enum Kind {
        /** The FP32 model every other variant is compared with. */
        REFERENCE,
        /** Another FP32 runtime of the same model. */
        FP32,
        /** A quantized model made by someone else (ONNX Runtime's own INT8 twin). */
        PEER,
        /** Fake quantization on an FP32 model: accuracy is meaningful, speed and size are not. */
        SIMULATED,
        /** A model that really runs INT8 kernels. */
        INT8
    }

    /**
     * Returns the short name used in the table and the JSON, e.g. {@code fp32-djl}.
     *
     * @return the name
     */
    String name();

    /**
     * Returns one line saying what the variant is.
     *
     * @return the description
     */
    String description();

    /**
     * Returns the kind of variant.
     *
     * @return the kind
     */
    Kind kind();

    /**
     * Returns the DJL engine the variant runs on.
     *
     * @return the engine name, e.g. {@code PyTorch} or {@code OnnxRuntime}
     */
    String engine();

    /**
     * Loads or creates the model and writes its artifact.
     *
     * @param context the model files, work directory, threads and calibration sentences
     * @throws QuantizationException if a file cannot be read, written or loaded
     */
    void build(PipelineContext context) throws QuantizationException;

    /**
     * Creates a predictor that embeds a list of sentences in one model call with the given
     * translator (one unit-length row per sentence).
     *
     * @param translator the batch translator (tokenizer, padding, pooling)
     * @return a new predictor; the caller closes it
     * @throws IllegalStateException if {@link #build} was not called
     */
    Predictor<List<String>, float[][]> newPredictor(
            NoBatchifyTranslator<List<String>, float[][]> translator);

    /**
     * Returns the size on disk of the artifact a deployment would ship.
     *
     * @return bytes, or empty if the variant has no artifact of its own (a simulation)
     */
    OptionalLong artifactBytes();

    /**
     * Says what the artifact is (file name and format), or why there is none.
     *
     * @return the description
     */
    String artifact();

    /** Closes the model; closing twice is harmless. */
    @Override
    void close();
}
