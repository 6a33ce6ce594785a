package org.djlquant.examples;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalLong;
import org.djlquant.QuantizationException;

/**
 * An ONNX file run as it is on DJL's OnnxRuntime engine; the artifact is the file. Extension point
 * for exported ONNX variants: subclass and write the file in {@link #file}.
 */
abstract class OrtFileVariant extends ModelVariant {

    private long bytes = -1;
    private String file = "(not built yet)";

    /**
     * Returns the ONNX file this variant runs. An exporter variant writes the file here (into
     * {@link PipelineContext#workDir()}) before returning it.
     *
     * @param context the pipeline context
     * @return the file, named {@code <prefix>.onnx}
     * @throws QuantizationException if the file cannot be produced
     */
    protected abstract Path file(PipelineContext context) throws QuantizationException;

    /** {@inheritDoc} */
    @Override
    public final String engine() {
        return "OnnxRuntime";
    }

    /** {@inheritDoc} */
    @Override
    public final void build(PipelineContext context) throws QuantizationException {
        Path onnx = file(context);
        String fileName = onnx.getFileName().toString();
        String prefix = fileName.substring(0, fileName.length() - ".onnx".length());
        Model model = Model.newInstance(name(), engine());
        try {
            // one session thread pool of `threads` threads; operators run one after another
            model.load(
                    onnx.getParent(),
                    prefix,
                    Map.of(
                            "intraOpNumThreads",
                            String.valueOf(context.threads()),
                            "interOpNumThreads",
                            "1"));
            bytes = Files.size(onnx);
        } catch (IOException | MalformedModelException e) {
            model.close();
            throw new QuantizationException(
                    "cannot load " + onnx + " on ONNX Runtime: " + e.getMessage(), e);
        }
        setModel(model);
        file = fileName + " (" + artifactNote() + ")";
    }

    /**
     * Says where the file comes from, for the artifact column.
     *
     * @return the note; by default {@code ONNX file as shipped}
     */
    protected String artifactNote() {
        return "ONNX file as shipped";
    }

    /** {@inheritDoc} */
    @Override
    public final OptionalLong artifactBytes() {
        return bytes < 0 ? OptionalLong.empty() : OptionalLong.of(bytes);
    }

    /** {@inheritDoc} */
    @Override
    public final String artifact() {
        return file;
    }
}
