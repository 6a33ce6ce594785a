package org.djlquant.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.djlquant.Quantizer;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import picocli.CommandLine;

/** Usage checks that fail with exit code 2 and a message naming the option and the value. */
final class Usage {

    private Usage() {}

    static void existingFile(CommandLine cl, String option, Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CommandLine.ParameterException(
                    cl,
                    option
                            + " '"
                            + file
                            + "' "
                            + (Files.isDirectory(file) ? "is a folder" : "does not exist")
                            + ", must be an existing file");
        }
    }

    static void positive(CommandLine cl, String option, long value) {
        atLeast(cl, option, value, 1);
    }

    static void atLeast(CommandLine cl, String option, long value, long min) {
        if (value < min) {
            throw new CommandLine.ParameterException(
                    cl, option + " was " + value + ", must be at least " + min);
        }
    }

    /** The configs of a backend and INT8 form; a form the backend cannot run is a usage error. */
    static org.djlquant.policy.apply.PrecisionConfigs configs(
            CommandLine cl,
            BackendTarget backend,
            org.djlquant.policy.apply.PrecisionConfigs.Form form) {
        try {
            return new org.djlquant.policy.apply.PrecisionConfigs(backend, form);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--int8-form "
                            + Names.of(form)
                            + " with --backend "
                            + Names.of(backend)
                            + ": "
                            + e.getMessage()
                            + "; use --int8-form preset");
        }
    }

    /**
     * Checks a --qengine against the backend and this libtorch build; a mismatch or a missing
     * engine is a usage error naming both options and what is allowed.
     */
    static void qengine(CommandLine cl, BackendTarget backend, QEngine engine) {
        Set<QEngine> compatible = Quantizer.compatibleQEngines(backend);
        String given = "--qengine " + Names.of(engine);
        if (compatible.isEmpty()) {
            throw new CommandLine.ParameterException(
                    cl,
                    given
                            + " with --backend "
                            + Names.of(backend)
                            + ": a quantized engine is a libtorch (.pt) choice; use --backend"
                            + " fbgemm or qnnpack, or drop --qengine");
        }
        if (!compatible.contains(engine)) {
            throw new CommandLine.ParameterException(
                    cl,
                    given
                            + " with --backend "
                            + Names.of(backend)
                            + ": allowed for that backend: "
                            + engineNames(compatible));
        }
        Set<QEngine> available = QEngine.available();
        if (!available.contains(engine)) {
            throw new CommandLine.ParameterException(
                    cl,
                    given + " is not in this libtorch build; available: " + engineNames(available));
        }
    }

    private static String engineNames(Set<QEngine> engines) {
        List<String> names = new ArrayList<>();
        engines.forEach(e -> names.add(Names.of(e)));
        return String.join(", ", names);
    }

    static ModelSource source(CommandLine cl, Path model, Path tokenizer) {
        if (tokenizer != null) {
            existingFile(cl, "--tokenizer", tokenizer);
        }
        try {
            return ModelSource.resolve(model, tokenizer);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }

    static Path tokenizer(CommandLine cl, ModelSource source) {
        try {
            return source.requireTokenizer();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }

    static TextData.Data readData(CommandLine cl, String option, Path file)
            throws QuantizationException {
        existingFile(cl, option, file);
        try {
            return TextData.read(file, option);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }
}
