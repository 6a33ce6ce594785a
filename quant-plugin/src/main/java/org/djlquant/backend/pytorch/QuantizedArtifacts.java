package org.djlquant.backend.pytorch;

import ai.djl.MalformedModelException;
import ai.djl.engine.Engine;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipInputStream;
import org.djlquant.QuantizationException;

/**
 * Reads, checks and loads models written by {@link TorchScriptExporter}.
 *
 * <p>{@link #load} reads the archive in Java first (every record's CRC, the manifest), refuses an
 * archive that does not fit the running environment with a message saying what differs, and only
 * then hands it to DJL. A damaged file is thus a {@link CorruptArtifactException}, never a crash
 * inside libtorch.
 *
 * <p>Stateless and thread-safe; the loaded model belongs to the caller (close it).
 */
public final class QuantizedArtifacts {

    private static final String SUFFIX = "/extra/" + QuantizationManifest.FILE_NAME;

    private QuantizedArtifacts() {}

    /**
     * Reads the manifest of an exported model without loading it, checking every record of the
     * archive.
     *
     * @param modelFile the {@code .pt} file
     * @return the manifest
     * @throws CorruptArtifactException if the file is not a complete archive, a record is
     *     corrupted, or the manifest is missing or does not parse
     */
    public static QuantizationManifest readManifest(Path modelFile)
            throws CorruptArtifactException {
        // the central directory first: a truncated file has none
        try (ZipFile zip = new ZipFile(modelFile.toFile())) {
            if (zip.size() == 0) {
                throw new CorruptArtifactException(modelFile + " is an empty zip", null);
            }
        } catch (IOException e) {
            throw new CorruptArtifactException(
                    modelFile + " is not a complete zip archive (truncated?): " + e.getMessage(),
                    e);
        }
        String json = null;
        try (ZipInputStream in = new ZipInputStream(Files.newInputStream(modelFile))) {
            ZipEntry entry;
            while ((entry = in.getNextEntry()) != null) {
                byte[] content = readAll(in); // the stream checks each record's CRC
                if (entry.getName().endsWith(SUFFIX)) {
                    json = new String(content, StandardCharsets.UTF_8);
                }
            }
        } catch (IOException e) {
            throw new CorruptArtifactException(
                    modelFile + " has a corrupted record: " + e.getMessage(), e);
        }
        if (json == null) {
            throw new CorruptArtifactException(
                    modelFile
                            + " has no "
                            + QuantizationManifest.FILE_NAME
                            + "; it was not written by TorchScriptExporter",
                    null);
        }
        try {
            return QuantizationManifest.fromJson(json);
        } catch (IllegalArgumentException e) {
            throw new CorruptArtifactException(modelFile + ": " + e.getMessage(), e);
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }

    /**
     * Checks a manifest against the running environment: format version, backend, libtorch version
     * and the quantized engine (it must be in this libtorch build, and current: call {@link
     * QEngine#select} with the manifest's engine before loading, e.g. {@link QEngine#ONEDNN} for an
     * archive exported for onednn).
     *
     * @param manifest the manifest
     * @throws IncompatibleArtifactException naming the first field that differs and what to do
     */
    public static void checkCompatible(QuantizationManifest manifest)
            throws IncompatibleArtifactException {
        if (manifest.formatVersion() > QuantizationManifest.FORMAT_VERSION) {
            throw new IncompatibleArtifactException(
                    "formatVersion",
                    Integer.toString(manifest.formatVersion()),
                    "readers up to " + QuantizationManifest.FORMAT_VERSION,
                    "the artifact was written by a newer djl-quant ("
                            + manifest.libraryVersion()
                            + "); upgrade djl-quant or re-export with this version");
        }
        if (!"PyTorch".equals(manifest.backend())) {
            throw new IncompatibleArtifactException(
                    "backend",
                    manifest.backend(),
                    "PyTorch",
                    "load it with the " + manifest.backend() + " backend's loader");
        }
        String libtorch = Engine.getEngine("PyTorch").getVersion();
        if (!libtorch.equals(manifest.libtorchVersion())) {
            throw new IncompatibleArtifactException(
                    "libtorch version",
                    manifest.libtorchVersion(),
                    libtorch,
                    "the archive layout is libtorch's internal format; run with libtorch "
                            + manifest.libtorchVersion()
                            + " or re-export");
        }
        java.util.Set<QEngine> available = QEngine.available();
        if (!available.contains(manifest.qengine())) {
            throw new IncompatibleArtifactException(
                    "qengine",
                    manifest.qengine().pytorchName(),
                    "the engines " + available,
                    "this libtorch build has no "
                            + manifest.qengine().pytorchName()
                            + " engine, so the archive cannot be loaded here; re-export it for"
                            + " one of "
                            + available);
        }
        QEngine current = QEngine.current();
        if (current != manifest.qengine()) {
            throw new IncompatibleArtifactException(
                    "qengine",
                    manifest.qengine().pytorchName(),
                    current.pytorchName(),
                    "the archive was exported for "
                            + manifest.qengine().pytorchName()
                            + " (its activation ranges and kernels); call QEngine.select(QEngine."
                            + manifest.qengine()
                            + ") before loading, or re-export for "
                            + current.pytorchName());
        }
    }

    /**
     * Checks and loads an exported model with DJL.
     *
     * @param modelDir the folder holding {@code <modelName>.pt}
     * @param modelName the model name
     * @param criteria the caller's criteria (types, translator, ...); model path, name and engine
     *     are set here
     * @param <I> the input type
     * @param <O> the output type
     * @return the loaded model; the caller closes it
     * @throws CorruptArtifactException as {@link #readManifest}
     * @throws IncompatibleArtifactException as {@link #checkCompatible}
     * @throws QuantizationException if DJL fails to load the model
     */
    public static <I, O> ZooModel<I, O> load(
            Path modelDir, String modelName, Criteria.Builder<I, O> criteria)
            throws QuantizationException {
        Path file = modelDir.resolve(modelName + ".pt");
        if (!Files.isRegularFile(file)) {
            throw new CorruptArtifactException(file + " does not exist", null);
        }
        QuantizationManifest manifest = readManifest(file);
        checkCompatible(manifest);
        try {
            return criteria.optModelPath(modelDir)
                    .optModelName(modelName)
                    .optEngine("PyTorch")
                    .build()
                    .loadModel();
        } catch (ModelNotFoundException | MalformedModelException | IOException e) {
            throw new QuantizationException(
                    "DJL could not load " + file + ": " + e.getMessage(), e);
        } catch (ai.djl.engine.EngineException e) {
            throw new CorruptArtifactException(
                    "libtorch refused " + file + ": " + e.getMessage(), e);
        }
    }
}
