package org.djlquant.examples;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.stream.Stream;
import org.djlquant.QuantizationException;
import org.djlquant.io.onnx.OnnxImporter;

/**
 * {@code fp32-djl}: the ONNX file imported into a DJL block tree and run on DJL's PyTorch engine;
 * the FP32 reference for accuracy and cosine. Its artifact is the DJL parameter file written by
 * {@code Model.save}.
 */
public final class Fp32DjlVariant extends ModelVariant {

    /** The variant name. */
    public static final String NAME = "fp32-djl";

    private long bytes = -1;
    private String artifact = "DJL .params (not built yet)";

    /** Creates the variant (nothing is loaded until {@link #build}). */
    public Fp32DjlVariant() {}

    /** {@inheritDoc} */
    @Override
    public String name() {
        return NAME;
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return "ONNX imported into DJL blocks (BertModelBlock), FP32 on libtorch";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.REFERENCE;
    }

    /** {@inheritDoc} */
    @Override
    public String engine() {
        return "PyTorch";
    }

    /** {@inheritDoc} */
    @Override
    public void build(PipelineContext context) throws QuantizationException {
        setModel(OnnxImporter.importModel(context.fp32Onnx()).newModel("minilm-fp32", engine()));
        Path dir = context.workDir().resolve(NAME);
        try {
            Files.createDirectories(dir);
            model().save(dir, "minilm-fp32");
            bytes = directorySize(dir);
        } catch (IOException | UncheckedIOException e) {
            throw new QuantizationException("cannot save the imported model to " + dir, e);
        }
        artifact = "minilm-fp32-0000.params (DJL Model.save)";
    }

    /** {@inheritDoc} */
    @Override
    public OptionalLong artifactBytes() {
        return bytes < 0 ? OptionalLong.empty() : OptionalLong.of(bytes);
    }

    /** {@inheritDoc} */
    @Override
    public String artifact() {
        return artifact;
    }

    static long directorySize(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile)
                    .mapToLong(
                            f -> {
                                try {
                                    return Files.size(f);
                                } catch (IOException e) {
                                    throw new UncheckedIOException(e);
                                }
                            })
                    .sum();
        }
    }
}
