package org.djlquant.examples;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDList;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;

/**
 * {@code int8-static-ts} / {@code int8-dynamic-ts}: the prepared and calibrated MiniLM exported by
 * {@link TorchScriptExporter} as one TorchScript archive and loaded back by plain DJL ({@code
 * Criteria}, PyTorch engine) with {@code QuantizedMiniLm.TORCHSCRIPT_ENGINE} selected (onednn where
 * libtorch has it, else fbgemm), so the INT8 weights are packed for it at load. The artifact is the
 * {@code .pt} file; the word and position tables are stored INT8 per row ({@link
 * TorchScriptExporter.Builder#optInt8Embeddings}).
 */
final class TorchScriptInt8Variant extends ModelVariant {

    private final QuantizedMiniLm quantized;
    private long bytes = -1;
    private String artifact = "(not built yet)";

    /**
     * Creates the variant over a shared quantized model.
     *
     * @param quantized the prepared model of this variant's mode, shared with its twins
     */
    TorchScriptInt8Variant(QuantizedMiniLm quantized) {
        this.quantized = quantized;
        quantized.want(QuantizedMiniLm.Form.TORCHSCRIPT);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "int8-" + quantized.modeName() + "-ts";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return quantized.recipe().describe(quantized.mode())
                + "; exported to TorchScript (TorchScriptExporter, word embeddings INT8 per"
                + " row), loaded by plain DJL Criteria, "
                + QuantizedMiniLm.TORCHSCRIPT_ENGINE.pytorchName();
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.INT8;
    }

    /** {@inheritDoc} */
    @Override
    public String engine() {
        return "PyTorch";
    }

    /** {@inheritDoc} */
    @Override
    public void build(PipelineContext context) throws QuantizationException {
        quantized.build(context);
        Path dir = quantized.torchScriptDir();
        String name = quantized.torchScriptName();
        Path file = dir.resolve(name + ".pt");
        // the archive packs its INT8 weights for the engine current at load
        QEngine.select(QuantizedMiniLm.TORCHSCRIPT_ENGINE);
        Criteria<NDList, NDList> criteria =
                Criteria.builder()
                        .setTypes(NDList.class, NDList.class)
                        .optEngine("PyTorch")
                        .optModelPath(dir)
                        .optModelName(name)
                        .build();
        try {
            ZooModel<NDList, NDList> model = criteria.loadModel();
            setModel(model);
            bytes = Files.size(file);
        } catch (IOException | ModelNotFoundException | MalformedModelException e) {
            throw new QuantizationException(
                    "cannot load " + file + " with DJL: " + e.getMessage(), e);
        }
        artifact =
                file.getFileName()
                        + " (TorchScript archive, "
                        + quantized.manifest().layers().size()
                        + " INT8 layers in its manifest, word embeddings "
                        + (quantized.int8Embeddings() ? "INT8 per row" : "FP32")
                        + "); "
                        + quantized.summary();
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

    /** {@inheritDoc} */
    @Override
    public void close() {
        super.close();
        quantized.close();
    }
}
