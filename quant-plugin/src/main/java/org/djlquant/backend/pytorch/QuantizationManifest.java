package org.djlquant.backend.pytorch;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParser;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.util.List;
import java.util.Objects;
import org.djlquant.QuantizationException;
import org.djlquant.config.QMode;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;

/**
 * What an exported quantized model is: written as JSON into the TorchScript archive ({@code
 * <name>/extra/djlquant_manifest.json}, an entry libtorch ignores) and readable without loading the
 * model ({@link QuantizedArtifacts#readManifest}).
 *
 * @param formatVersion the manifest format, {@link #FORMAT_VERSION} when written by this version
 * @param libraryVersion the djl-quant version that wrote it
 * @param backend the engine that runs it, {@code PyTorch}
 * @param libtorchVersion the libtorch version it was written for (the archive layout is libtorch's
 *     internal format, so it is pinned)
 * @param qengine the quantized engine its weights must be packed for at load
 * @param sourceSha256 SHA-256 (hex) of the source model's FP32 parameters as DJL saves them ({@code
 *     Block.saveParameters})
 * @param layers the quantized layers, in model order; with {@link
 *     TorchScriptExporter.Builder#optInt8Embeddings} these include the INT8 embedding tables
 *     ({@code embeddings.word}, {@code embeddings.position}: weight-only, symmetric, one scale per
 *     row)
 * @param policy the mixed-precision policy the model was converted with (the whole decision: every
 *     layer's precision, why, and the budget), in {@link MixedPrecisionPolicy}'s own JSON form;
 *     null when the model was not made from a policy (then the entry is absent from the JSON, and
 *     manifests written before this field existed read back with null)
 */
public record QuantizationManifest(
        int formatVersion,
        String libraryVersion,
        String backend,
        String libtorchVersion,
        QEngine qengine,
        String sourceSha256,
        List<Layer> layers,
        MixedPrecisionPolicy policy) {

    /** The manifest format this version writes and the newest it reads. */
    public static final int FORMAT_VERSION = 1;

    /** The djl-quant version written into manifests. */
    public static final String LIBRARY_VERSION = "0.1.0-SNAPSHOT";

    /** The name of the manifest entry below {@code <name>/extra/}. */
    public static final String FILE_NAME = "djlquant_manifest.json";

    private static final Gson GSON =
            new GsonBuilder()
                    .setPrettyPrinting()
                    .disableHtmlEscaping()
                    .registerTypeAdapter(MixedPrecisionPolicy.class, new PolicyAdapter().nullSafe())
                    .create();

    /**
     * Copies the layer list.
     *
     * @param formatVersion the format
     * @param libraryVersion the library version
     * @param backend the backend
     * @param libtorchVersion the libtorch version
     * @param qengine the quantized engine
     * @param sourceSha256 the source checksum
     * @param layers the layers
     * @param policy the policy, or null
     */
    public QuantizationManifest {
        layers = List.copyOf(Objects.requireNonNull(layers, "layers"));
    }

    /**
     * Creates a manifest that records no policy.
     *
     * @param formatVersion the format
     * @param libraryVersion the library version
     * @param backend the backend
     * @param libtorchVersion the libtorch version
     * @param qengine the quantized engine
     * @param sourceSha256 the source checksum
     * @param layers the layers
     */
    public QuantizationManifest(
            int formatVersion,
            String libraryVersion,
            String backend,
            String libtorchVersion,
            QEngine qengine,
            String sourceSha256,
            List<Layer> layers) {
        this(
                formatVersion,
                libraryVersion,
                backend,
                libtorchVersion,
                qengine,
                sourceSha256,
                layers,
                null);
    }

    /**
     * Returns a copy that records the policy the model was converted with.
     *
     * @param policy the policy
     * @return the copy
     */
    public QuantizationManifest withPolicy(MixedPrecisionPolicy policy) {
        Objects.requireNonNull(policy, "policy");
        return new QuantizationManifest(
                formatVersion,
                libraryVersion,
                backend,
                libtorchVersion,
                qengine,
                sourceSha256,
                layers,
                policy);
    }

    /** Writes and reads the policy in its own JSON form (the file a person edits). */
    private static final class PolicyAdapter extends TypeAdapter<MixedPrecisionPolicy> {
        private static final Gson PLAIN = new Gson();

        @Override
        public void write(JsonWriter out, MixedPrecisionPolicy policy) throws IOException {
            PLAIN.toJson(JsonParser.parseString(policy.toJson()), out);
        }

        @Override
        public MixedPrecisionPolicy read(JsonReader in) throws IOException {
            String json = JsonParser.parseReader(in).toString();
            try {
                return MixedPrecisionPolicy.fromJson(json);
            } catch (QuantizationException e) {
                throw new IllegalArgumentException(
                        "the manifest's policy is not valid: " + e.getMessage(), e);
            }
        }
    }

    /**
     * One quantized layer (or a quantized embedding table).
     *
     * @param path its block path; for an embedding table the block path and the table's name
     *     ({@code embeddings.word})
     * @param mode how it was quantized
     * @param kernel the libtorch operator(s) it runs, e.g. {@code quantized::linear_dynamic} or
     *     {@code quantized::conv2d_relu}
     * @param weightDtype the weight data type
     * @param weightScheme symmetric or affine
     * @param weightGranularity per tensor, per channel or per group, as text
     * @param weightScaleMin the smallest weight scale
     * @param weightScaleMax the largest weight scale
     * @param weightZeroPointMin the smallest weight zero point
     * @param weightZeroPointMax the largest weight zero point
     * @param inputScale the calibrated input scale (static layers), or null
     * @param inputZeroPoint the calibrated input zero point (static layers), or null
     * @param outputQuantized true if the layer hands a {@code quint8} tensor to the next layer
     * @param storedWeightBytes bytes the weight takes in the archive (values, scales, zero points)
     * @param float32WeightBytes bytes the weight takes as FP32
     */
    public record Layer(
            String path,
            QMode mode,
            String kernel,
            QDataType weightDtype,
            QScheme weightScheme,
            String weightGranularity,
            double weightScaleMin,
            double weightScaleMax,
            long weightZeroPointMin,
            long weightZeroPointMax,
            Double inputScale,
            Long inputZeroPoint,
            boolean outputQuantized,
            long storedWeightBytes,
            long float32WeightBytes) {}

    /**
     * Returns the manifest as JSON.
     *
     * @return pretty-printed JSON
     */
    public String toJson() {
        return GSON.toJson(this);
    }

    /**
     * Parses a manifest.
     *
     * @param json the JSON
     * @return the manifest
     * @throws IllegalArgumentException if the text is not a manifest; the message says why
     */
    public static QuantizationManifest fromJson(String json) {
        QuantizationManifest m;
        try {
            m = GSON.fromJson(json, QuantizationManifest.class);
        } catch (RuntimeException e) { // gson reports bad input as JsonParseException or wraps
            // the record constructor's refusal
            throw new IllegalArgumentException(
                    "manifest JSON does not parse: " + e.getMessage(), e);
        }
        if (m == null || m.backend() == null || m.qengine() == null || m.formatVersion() < 1) {
            throw new IllegalArgumentException(
                    "manifest lacks formatVersion >= 1, backend or a known qengine: " + json);
        }
        return m;
    }
}
