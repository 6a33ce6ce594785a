package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.translate.TranslateException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.djlquant.backend.onnx.ExportOptions;
import org.djlquant.backend.onnx.ExportReport;
import org.djlquant.backend.onnx.OnnxExporter;
import org.djlquant.backend.pytorch.AttentionKernel;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.calibrate.CalibratingTranslator;
import org.djlquant.config.QMode;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;

/**
 * One MiniLM prepared with the {@link MiniLmRecipe} in one mode and (static) calibrated once,
 * shared by the real INT8 variants of that mode so that in place, TorchScript and ONNX quantize
 * with the very same parameters.
 *
 * <p>Lifecycle: each variant declares the form it needs ({@link #want}) when it is created; the
 * first {@link #build} imports, prepares and calibrates, writes the TorchScript archive and the
 * ONNX file (both exporters read the prepared, calibrated twins), and last converts the model in
 * place ({@link Converter}, which replaces the twins) if that form was wanted. The in-place variant
 * takes the converted model ({@link #takeInPlaceModel}); otherwise the model is closed at the end
 * of {@link #build}. Not thread-safe.
 */
final class QuantizedMiniLm implements AutoCloseable {

    /**
     * The quantized engine the in-place INT8 rows pack for ({@link Converter}). Converted for
     * onednn the dynamic model runs exactly what its onednn TorchScript export runs with separate
     * matmul / softmax attention (min cosine 1.00000), but onednn's {@code
     * quantized::linear_dynamic} applies scales and bias in another float order than fbgemm: its
     * outputs differ in the last bits (at most 1e-5), the next dynamic layers' ranges and INT8
     * roundings then flip, and dynamic MiniLM amplifies that to a min sentence cosine of 0.979
     * against fbgemm in place (scaling fbgemm's embeddings by one ulp gives 0.989). The fbgemm rows
     * stay the reference the agreement tests were measured against.
     */
    static final QEngine ENGINE = QEngine.FBGEMM;

    /**
     * The quantized engine the TorchScript archives are exported for and packed for at load: onednn
     * where this libtorch has it (on x86-64 it runs the same integer products as fbgemm, through
     * oneDNN's AMX / AVX-512 VNNI kernels), fbgemm otherwise.
     */
    static final QEngine TORCHSCRIPT_ENGINE =
            QEngine.available().contains(QEngine.ONEDNN) ? QEngine.ONEDNN : QEngine.FBGEMM;

    /**
     * How the TorchScript export lowers attention: fused (libtorch's flash-attention kernel, the
     * probabilities stay float), several times faster than separate matmul / softmax at 128 tokens.
     * The in-place and ONNX forms keep the probabilities quantized.
     */
    static final AttentionKernel ATTENTION = AttentionKernel.FUSED_SDPA;

    /** The forms a quantized model is run in. */
    enum Form {
        /** Converted in place: {@code QuantizedLinear} blocks inside the DJL model. */
        IN_PLACE,
        /** Exported as one TorchScript archive, loaded by plain DJL. */
        TORCHSCRIPT,
        /** Exported as ONNX with quantized operators, run on ONNX Runtime. */
        ONNX
    }

    private final QMode mode;
    private final MiniLmRecipe recipe;
    private final boolean int8Embeddings;
    private final Set<Form> wanted = EnumSet.noneOf(Form.class);
    private boolean built;
    private Model inPlace;
    private Path torchScriptDir;
    private Path onnxFile;
    private QuantizationManifest manifest;
    private ExportReport onnxReport;
    private ConvertReport convertReport;
    private String calibration = "(not built yet)";
    private List<String> floatLinears = List.of();
    private int quantizedLinears;

    /**
     * A quantized model whose exports store the word-embedding table INT8 per row.
     *
     * @param mode {@link QMode#STATIC} or {@link QMode#DYNAMIC}
     * @param recipe the recipe
     */
    QuantizedMiniLm(QMode mode, MiniLmRecipe recipe) {
        this(mode, recipe, true);
    }

    /**
     * A quantized model.
     *
     * @param mode {@link QMode#STATIC} or {@link QMode#DYNAMIC}
     * @param recipe the recipe
     * @param int8Embeddings whether the exports store the word-embedding table INT8 per row (the
     *     in-place model keeps its float table either way)
     */
    QuantizedMiniLm(QMode mode, MiniLmRecipe recipe, boolean int8Embeddings) {
        if (mode != QMode.STATIC && mode != QMode.DYNAMIC) {
            throw new IllegalArgumentException(
                    "mode was " + mode + ", must be one of [STATIC, DYNAMIC]");
        }
        this.mode = mode;
        this.recipe = Objects.requireNonNull(recipe, "recipe");
        this.int8Embeddings = int8Embeddings;
    }

    /** Whether the exports store the word-embedding table INT8 per row. */
    boolean int8Embeddings() {
        return int8Embeddings;
    }

    QMode mode() {
        return mode;
    }

    MiniLmRecipe recipe() {
        return recipe;
    }

    /** Short mode name for variant names: {@code static} or {@code dynamic}. */
    String modeName() {
        return mode.name().toLowerCase(Locale.ROOT);
    }

    void want(Form form) {
        if (built) {
            throw new IllegalStateException("form " + form + " asked for after build");
        }
        wanted.add(form);
    }

    /**
     * Prepares, calibrates, exports and converts, once; later calls return at once.
     *
     * @param context the pipeline context
     * @throws QuantizationException if a file cannot be read or written, or conversion fails
     */
    void build(PipelineContext context) throws QuantizationException {
        if (built) {
            return;
        }
        built = true;
        Model model =
                OnnxImporter.importModel(context.fp32Onnx())
                        .newModel("minilm-int8-" + modeName(), "PyTorch");
        try {
            PrepareReport report = Preparer.prepare(model, recipe.mapping(mode));
            List<String> floats = new ArrayList<>();
            for (PrepareReport.Entry e : report.entries()) {
                if (e.status() == PrepareReport.Status.FLOAT && e.blockClass().equals("Linear")) {
                    floats.add(e.cleanPath());
                }
            }
            floatLinears = List.copyOf(floats);
            quantizedLinears =
                    (int)
                            report.entries().stream()
                                    .filter(e -> e.status() == PrepareReport.Status.WRAPPED)
                                    .filter(e -> e.blockClass().equals("Linear"))
                                    .count();
            calibration =
                    mode == QMode.STATIC
                            ? calibrate(model, context, "int8-" + modeName())
                            : "no calibration (activation range per batch)";
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), false);
            if (wanted.contains(Form.TORCHSCRIPT)) {
                QEngine.select(TORCHSCRIPT_ENGINE);
                torchScriptDir = context.workDir().resolve("int8-" + modeName() + "-ts");
                TorchScriptExporter exporter =
                        TorchScriptExporter.builder()
                                .setBlock(model.getBlock())
                                .optEngine(TORCHSCRIPT_ENGINE)
                                .optAttention(ATTENTION)
                                .optCompressed(true)
                                .optInt8Embeddings(int8Embeddings)
                                .build();
                manifest = exporter.export(torchScriptDir, torchScriptName());
            }
            if (wanted.contains(Form.ONNX)) {
                onnxFile = context.workDir().resolve("minilm-int8-" + modeName() + ".onnx");
                onnxReport =
                        OnnxExporter.builder()
                                .setBlock(model.getBlock())
                                .optEmbeddings(
                                        int8Embeddings
                                                ? ExportOptions.EmbeddingPrecision.INT8_PER_ROW
                                                : ExportOptions.EmbeddingPrecision.FLOAT)
                                .build()
                                .write(onnxFile);
            }
            if (wanted.contains(Form.IN_PLACE)) {
                QEngine.select(ENGINE);
                convertReport = Converter.convert(model, ENGINE);
                inPlace = model;
                model = null;
            }
        } finally {
            if (model != null) {
                model.close();
            }
        }
    }

    /**
     * Runs the calibration sentences through a model in batches of {@link MiniLmPipeline#BATCH},
     * through a {@link CalibratingTranslator} around the sentence translator.
     *
     * @param model the prepared model (its observers on)
     * @param context the calibration sentences and tokenizer
     * @param name the variant name, for messages
     * @return what was calibrated, for the artifact column
     * @throws QuantizationException if a batch fails
     */
    static String calibrate(Model model, PipelineContext context, String name)
            throws QuantizationException {
        List<String> sentences = context.calibration();
        if (sentences.isEmpty()) {
            throw new IllegalArgumentException(
                    "calibration sentences were empty, must hold at least one for " + name);
        }
        try (SentenceEmbeddingTranslator translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(context.tokenizer())
                        .optMaxLength(context.maxLength())
                        .build()) {
            CalibratingTranslator<List<String>, float[][]> calibrating =
                    new CalibratingTranslator<>(translator.batch());
            try (Predictor<List<String>, float[][]> p = model.newPredictor(calibrating)) {
                for (int i = 0; i < sentences.size(); i += MiniLmPipeline.BATCH) {
                    p.predict(
                            sentences.subList(
                                    i, Math.min(i + MiniLmPipeline.BATCH, sentences.size())));
                }
            } catch (TranslateException e) {
                throw new QuantizationException(
                        "calibration of " + name + " failed: " + e.getMessage(), e);
            } finally {
                calibrating.stop();
            }
            // the batch translator takes a whole list per call: observedInputs counts batches
            return "calibrated on "
                    + sentences.size()
                    + " sentences in "
                    + calibrating.observedInputs()
                    + " batches";
        }
    }

    String torchScriptName() {
        return "minilm-int8-" + modeName();
    }

    Path torchScriptDir() {
        return require(torchScriptDir, Form.TORCHSCRIPT);
    }

    QuantizationManifest manifest() {
        return require(manifest, Form.TORCHSCRIPT);
    }

    Path onnxFile() {
        return require(onnxFile, Form.ONNX);
    }

    ExportReport onnxReport() {
        return require(onnxReport, Form.ONNX);
    }

    ConvertReport convertReport() {
        return require(convertReport, Form.IN_PLACE);
    }

    /**
     * Hands the converted model to the caller, who closes it.
     *
     * @return the model converted in place
     */
    Model takeInPlaceModel() {
        Model m = require(inPlace, Form.IN_PLACE);
        inPlace = null;
        return m;
    }

    /**
     * Says what was quantized and what stays float, for the artifact column.
     *
     * @return one line
     */
    String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append(quantizedLinears).append(" Linear INT8");
        if (floatLinears.isEmpty()) {
            sb.append(", none FP32");
        } else {
            sb.append(", ")
                    .append(floatLinears.size())
                    .append(" FP32 (")
                    .append(MiniLmRecipe.FFN_DOWN_PROJECTIONS)
                    .append(')');
        }
        sb.append("; ").append(calibration);
        return sb.toString();
    }

    /**
     * Returns the clean paths of the Linear layers the recipe keeps float.
     *
     * @return the paths, in tree order
     */
    List<String> floatLinears() {
        return floatLinears;
    }

    private <T> T require(T value, Form form) {
        if (!built) {
            throw new IllegalStateException("the " + modeName() + " INT8 model was not built");
        }
        if (value == null) {
            throw new IllegalStateException(
                    "form " + form + " of the " + modeName() + " INT8 model was not asked for");
        }
        return value;
    }

    /** Closes the in-place model if no variant took it; closing twice is harmless. */
    @Override
    public void close() {
        if (inPlace != null) {
            inPlace.close();
            inPlace = null;
        }
    }
}
