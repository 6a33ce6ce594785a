package org.djlquant.cli;

import java.nio.file.Path;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.Quantizer;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.policy.apply.PrecisionConfigs;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * What {@code sensitivity} and {@code policy} both measure on (a picocli mixin): the model, the
 * sentences, and how many of them are tokenized how. Validation raises usage errors (exit 2).
 */
final class MeasurementOptions {

    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file or a model folder.")
    Path model;

    @Option(
            names = "--calibration",
            required = true,
            paramLabel = "FILE",
            description = "Sentences to measure on (text lines, JSONL or a JSON array).")
    Path calibration;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The tokenizer.json.")
    Path tokenizer;

    @Option(names = "--max-sentences", defaultValue = "64", description = "Sentences used.")
    int maxSentences;

    @Option(names = "--batch-size", defaultValue = "8", description = "Sentences per batch.")
    int batchSize;

    @Option(names = "--max-length", defaultValue = "128", description = "Tokens per sentence.")
    int maxLength;

    @Option(
            names = "--int8-form",
            converter = Names.Int8FormConverter.class,
            defaultValue = "preset",
            description =
                    "How INT8 layers are simulated: preset (PyTorch's defaults) or per-channel"
                            + " (per-channel weights, full 8-bit activations; give quantize the"
                            + " same) (default: ${DEFAULT-VALUE}).")
    PrecisionConfigs.Form int8Form;

    @Option(
            names = "--qengine",
            converter = Names.QEngineConverter.class,
            completionCandidates = Names.QEngineNames.class,
            description =
                    "The libtorch quantized engine to measure on (selected before any weight is"
                            + " packed): one of ${COMPLETION-CANDIDATES}; fbgemm, x86 or onednn"
                            + " with --backend fbgemm, qnnpack with --backend qnnpack (default: the"
                            + " backend's engine). Give 'djlq quantize' the same.")
    QEngine qengine;

    /**
     * Checks --qengine against the backend and this libtorch build (usage errors naming the option,
     * the value and the values allowed) and selects the engine to measure on, process-wide.
     *
     * @param cl the command, for usage errors
     * @param backend the --backend
     * @return the engine selected: --qengine, else the backend's own; null for onnxruntime without
     *     --qengine (nothing selected)
     */
    QEngine selectEngine(CommandLine cl, BackendTarget backend) {
        if (qengine != null) {
            Usage.qengine(cl, backend, qengine);
        }
        QEngine engine =
                qengine != null
                        ? qengine
                        : backend == BackendTarget.ONNXRUNTIME ? null : Quantizer.qengine(backend);
        if (engine != null) {
            QEngine.select(engine);
        }
        return engine;
    }

    /**
     * Resolves the model files.
     *
     * @param cl the command, for usage errors
     * @return the model source
     */
    ModelSource source(CommandLine cl) {
        return Usage.source(cl, model, tokenizer);
    }

    /**
     * Checks the sentence count, batch size and length.
     *
     * @param cl the command, for usage errors
     */
    void checkSizes(CommandLine cl) {
        Usage.positive(cl, "--max-sentences", maxSentences);
        Usage.positive(cl, "--batch-size", batchSize);
        Usage.atLeast(cl, "--max-length", maxLength, 2);
    }

    /**
     * Reads the first {@code --max-sentences} sentences and tokenizes them in batches.
     *
     * @param cl the command, for usage errors
     * @param tokenizerFile the tokenizer.json
     * @return the token batches
     * @throws QuantizationException if the tokenizer cannot be read
     */
    TokenBatches tokens(CommandLine cl, Path tokenizerFile) throws QuantizationException {
        TextData.Data data = Usage.readData(cl, "--calibration", calibration);
        List<String> texts = data.texts().subList(0, Math.min(maxSentences, data.texts().size()));
        return TokenBatches.encode(tokenizerFile, texts, batchSize, maxLength);
    }
}
