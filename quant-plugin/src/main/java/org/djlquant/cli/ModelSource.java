package org.djlquant.cli;

import ai.djl.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.djlquant.QuantizationException;
import org.djlquant.io.onnx.ImportedModel;
import org.djlquant.io.onnx.OnnxImporter;

/**
 * Where a model given on the command line comes from: a BERT-family ONNX file, or a DJL model
 * folder holding one ({@code <dir>/<dir name>.onnx}, {@code model.onnx}, or the only {@code .onnx}
 * file), with its tokenizer ({@code --tokenizer}, else {@code tokenizer.json} or {@code
 * <stem>-tokenizer.json} next to the ONNX file).
 *
 * @param onnx the ONNX file
 * @param tokenizer the tokenizer.json, or null if none was found
 */
record ModelSource(Path onnx, Path tokenizer) {

    /**
     * Resolves the model argument.
     *
     * @param model the file or folder given
     * @param tokenizer the --tokenizer value, or null
     * @return the source
     * @throws IllegalArgumentException naming the value and what is accepted
     */
    static ModelSource resolve(Path model, Path tokenizer) {
        Path onnx = model;
        if (Files.isDirectory(model)) {
            onnx = findOnnx(model);
        } else if (!Files.isRegularFile(model)) {
            throw new IllegalArgumentException(
                    "MODEL '" + model + "' does not exist; give an .onnx file or a model folder");
        } else if (!model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            throw new IllegalArgumentException(
                    "MODEL '"
                            + model
                            + "' is not an .onnx file; give a BERT-family .onnx file or a DJL"
                            + " model folder holding one");
        }
        return new ModelSource(onnx, tokenizer != null ? tokenizer : findTokenizer(onnx));
    }

    /**
     * Looks for {@code tokenizer.json} or {@code <stem>-tokenizer.json} next to a model file.
     *
     * @param modelFile the model file
     * @return the tokenizer file, or null
     */
    static Path findTokenizer(Path modelFile) {
        Path dir = modelFile.toAbsolutePath().getParent();
        for (Path c :
                List.of(
                        dir.resolve("tokenizer.json"),
                        dir.resolve(stem(modelFile) + "-tokenizer.json"))) {
            if (Files.isRegularFile(c)) {
                return c;
            }
        }
        return null;
    }

    private static Path findOnnx(Path dir) {
        Path named = dir.resolve(dir.toAbsolutePath().getFileName() + ".onnx");
        if (Files.isRegularFile(named)) {
            return named;
        }
        if (Files.isRegularFile(dir.resolve("model.onnx"))) {
            return dir.resolve("model.onnx");
        }
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> onnx =
                    files.filter(
                                    p ->
                                            p.getFileName()
                                                    .toString()
                                                    .toLowerCase(Locale.ROOT)
                                                    .endsWith(".onnx"))
                            .sorted()
                            .toList();
            if (onnx.size() == 1) {
                return onnx.get(0);
            }
            throw new IllegalArgumentException(
                    "MODEL folder '"
                            + dir
                            + "' holds "
                            + onnx.size()
                            + " .onnx files "
                            + onnx
                            + ", must hold exactly one (or <folder name>.onnx or model.onnx)");
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "MODEL folder '" + dir + "' cannot be listed: " + e.getMessage(), e);
        }
    }

    /** Returns the file name without its extension. */
    static String stem(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /**
     * Returns the tokenizer or explains how to give one.
     *
     * @return the tokenizer file
     * @throws IllegalArgumentException if none was given or found
     */
    Path requireTokenizer() {
        if (tokenizer == null) {
            throw new IllegalArgumentException(
                    "no tokenizer: --tokenizer was not given and neither tokenizer.json nor "
                            + stem(onnx)
                            + "-tokenizer.json is next to "
                            + onnx);
        }
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException(
                    "--tokenizer '" + tokenizer + "' does not exist or is not a file");
        }
        return tokenizer;
    }

    /**
     * Imports the ONNX file into a DJL model on the PyTorch engine.
     *
     * @return the model; the caller closes it
     * @throws QuantizationException if the file cannot be read or is not a BERT-family graph
     */
    Model load() throws QuantizationException {
        ImportedModel imported = OnnxImporter.importModel(onnx);
        String name = stem(onnx).replaceAll("[^A-Za-z0-9_-]", "_");
        return imported.newModel(name, "PyTorch");
    }
}
