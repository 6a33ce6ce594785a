package org.djlquant;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.djlquant.backend.onnx.ExportReport;
import org.djlquant.backend.onnx.OnnxExporter;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QEngineUnavailableException;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.calibrate.CalibrationSummary;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.policy.apply.PolicyApplication;
import org.djlquant.policy.apply.PrecisionConfigs;

/**
 * The one entry point that reads like the pipeline: prepare ({@link Preparer}) → calibrate ({@link
 * Calibrator}) → convert in place ({@link Converter}) or export an artifact ({@link
 * TorchScriptExporter} for fbgemm / qnnpack, packed for any libtorch quantized engine the backend
 * allows ({@link Builder#optQEngine}, e.g. onednn), {@link OnnxExporter} for ONNX Runtime). It adds
 * no quantization of its own: it picks the config of a method (or turns a policy file into a
 * mapping with {@link PolicyApplication}) and calls the stages in order.
 *
 * <pre>{@code
 * Quantizer q = Quantizer.builder()
 *         .setMethod(Quantizer.Method.STATIC)
 *         .optBackend(BackendTarget.FBGEMM)
 *         .optCalibration(batches)
 *         .build();
 * q.quantize(model);                            // drop-in: INT8 blocks in place
 * // or: q.quantizeTo(model, Path.of("out/model.pt"));   // a TorchScript artifact
 * }</pre>
 *
 * <p>The stages can also be called one by one ({@link #prepare}, {@link #calibrate}, {@link
 * #convert}, {@link #export}) to look at each report. Calibration batches are required for STATIC
 * (and for a policy with INT8_STATIC layers) and optional otherwise (weights need none).
 *
 * <p>Weight-only methods: {@link #convert} gives libtorch's weight-only kernels in place (INT8 per
 * channel, INT4 per group); the TorchScript export writes INT8 weights run by {@code
 * aten::_weight_int8pack_mm} and INT4 weights (two to a byte, packed for the loading CPU when
 * libtorch loads the archive) run by {@code aten::_weight_int4pack_mm_for_cpu}, or, for an INT4
 * shape that kernel refuses, fake-quantized float weights (the manifest says which); the ONNX
 * export writes weight-only INT8 as {@code DequantizeLinear} weights and refuses INT4. The facade
 * adds nothing here: each stage decides, and refuses with its typed exception. TorchScript
 * artifacts are written with DEFLATE-compressed tensor records ({@link
 * TorchScriptExporter.Builder#optCompressed}; libtorch inflates them while loading).
 *
 * <p>Immutable after {@code build()}; the stages change the given model and are not thread-safe
 * with respect to it. The batches are consumed (closed) by calibration; give an {@code Iterable}
 * that makes fresh batches on each iteration to calibrate more than one model.
 */
public final class Quantizer {

    /** What to do to every quantizable layer (Linear and BERT attention). */
    public enum Method {
        /** INT8 weights, activations quantized per batch at run time. */
        DYNAMIC,
        /** INT8 weights and calibrated INT8 activations; needs calibration batches. */
        STATIC,
        /** INT8 weights, float activations. */
        WEIGHT_ONLY_INT8,
        /** INT4 per-group weights (group {@value PolicyApplication#INT4_GROUP_SIZE}). */
        WEIGHT_ONLY_INT4;

        /**
         * Returns the policy precision this method gives every layer.
         *
         * @return the precision
         */
        public Precision precision() {
            switch (this) {
                case DYNAMIC:
                    return Precision.INT8_DYNAMIC;
                case STATIC:
                    return Precision.INT8_STATIC;
                case WEIGHT_ONLY_INT8:
                    return Precision.INT8_WEIGHT_ONLY;
                case WEIGHT_ONLY_INT4:
                    return Precision.INT4_WEIGHT_ONLY;
                default:
                    throw new AssertionError(this);
            }
        }
    }

    /** The kind of file {@link #export} writes. */
    public enum ArtifactKind {
        /** A TorchScript archive ({@code .pt}) with a {@link QuantizationManifest}. */
        TORCHSCRIPT,
        /** An ONNX model ({@code .onnx}) with quantized operators. */
        ONNX
    }

    /**
     * What {@link #export} wrote.
     *
     * @param kind the artifact kind
     * @param file the file written
     * @param sizeBytes its size on disk
     * @param layers what each exported layer became, by block path, in model order
     * @param manifest the manifest inside a TorchScript artifact, or null for ONNX
     */
    public record Artifact(
            ArtifactKind kind,
            Path file,
            long sizeBytes,
            Map<String, String> layers,
            QuantizationManifest manifest) {

        /**
         * Copies the layer map.
         *
         * @param kind the artifact kind
         * @param file the file written
         * @param sizeBytes its size on disk
         * @param layers what each exported layer became
         * @param manifest the manifest, or null
         */
        public Artifact {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(file, "file");
            layers = Collections.unmodifiableMap(new LinkedHashMap<>(layers));
        }
    }

    private final Method method;
    private final MixedPrecisionPolicy policy;
    private final BackendTarget backend;
    private final Iterable<NDList> calibration;
    private final long maxBatches;
    private final PrintStream progress;
    private final PrecisionConfigs configs;
    private final boolean int8Embeddings;
    private final List<String> keepFloat;
    private final QEngine qengine;

    private Quantizer(Builder b) {
        this.qengine = b.qengine;
        this.configs = b.configs;
        this.int8Embeddings = b.int8Embeddings;
        this.keepFloat = List.copyOf(b.keepFloat);
        this.method = b.method;
        this.policy = b.policy;
        this.backend = b.backend;
        this.calibration = b.calibration;
        this.maxBatches = b.maxBatches;
        this.progress = b.progress;
    }

    /**
     * Starts a builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the method, or null when a policy decides per layer.
     *
     * @return the method or null
     */
    public Method getMethod() {
        return method;
    }

    /**
     * Returns the policy, or null when one method applies to every layer.
     *
     * @return the policy or null
     */
    public MixedPrecisionPolicy getPolicy() {
        return policy;
    }

    /**
     * Returns the configs that stand for each quantized precision (the INT8 form and the backend).
     *
     * @return the configs
     */
    public PrecisionConfigs getConfigs() {
        return configs;
    }

    /**
     * Returns the path globs kept FP32 when one method applies to every layer.
     *
     * @return the globs, in the order given (empty for none)
     */
    public List<String> getKeepFloat() {
        return keepFloat;
    }

    /**
     * Returns the backend the model is quantized for.
     *
     * @return the backend
     */
    public BackendTarget getBackend() {
        return backend;
    }

    /**
     * Returns the libtorch quantized engine the TorchScript export and the in-place conversion
     * select and pack for: the one given to {@link Builder#optQEngine}, else the backend's default
     * ({@link #qengine(BackendTarget)}).
     *
     * @return the engine, or null for the ONNXRUNTIME backend (which does not run on libtorch)
     */
    public QEngine getQEngine() {
        if (qengine != null) {
            return qengine;
        }
        return backend == BackendTarget.ONNXRUNTIME ? null : qengine(backend);
    }

    /**
     * Returns the libtorch quantized engines that can run a backend's quantized models: for FBGEMM
     * the x86 engines ({@link QEngine#FBGEMM}, {@link QEngine#X86}, {@link QEngine#ONEDNN}), for
     * QNNPACK {@link QEngine#QNNPACK}, for ONNXRUNTIME none. The configs (activation ranges,
     * per-channel support) follow the backend; the engine chooses the kernels.
     *
     * @param backend the backend
     * @return the compatible engines, in {@link QEngine} order (empty for ONNXRUNTIME)
     */
    public static Set<QEngine> compatibleQEngines(BackendTarget backend) {
        switch (Objects.requireNonNull(backend, "backend")) {
            case FBGEMM:
                return Collections.unmodifiableSet(
                        EnumSet.of(QEngine.FBGEMM, QEngine.ONEDNN, QEngine.X86));
            case QNNPACK:
                return Collections.unmodifiableSet(EnumSet.of(QEngine.QNNPACK));
            default:
                return Collections.emptySet();
        }
    }

    /**
     * Checks that a quantized engine can run a backend's models and that this libtorch build has
     * it. The backend check needs no native code and comes first.
     *
     * @param backend the backend
     * @param engine the engine
     * @throws IllegalArgumentException naming the engine, the backend and the engines allowed for
     *     it, if they do not fit (every engine for ONNXRUNTIME)
     * @throws org.djlquant.backend.pytorch.QEngineUnavailableException naming the engine and {@link
     *     QEngine#available()}, if this libtorch build lacks it
     */
    public static void checkQEngine(BackendTarget backend, QEngine engine) {
        Objects.requireNonNull(backend, "backend");
        if (engine == null) {
            throw new IllegalArgumentException(
                    "qengine was null, must be one of " + Arrays.toString(QEngine.values()));
        }
        Set<QEngine> compatible = compatibleQEngines(backend);
        if (compatible.isEmpty()) {
            throw new IllegalArgumentException(
                    "qengine was "
                            + engine
                            + " with backend "
                            + backend
                            + ", which does not run on libtorch; a qengine applies to FBGEMM"
                            + " and QNNPACK only");
        }
        if (!compatible.contains(engine)) {
            throw new IllegalArgumentException(
                    "qengine was "
                            + engine
                            + " with backend "
                            + backend
                            + ", must be one of "
                            + compatible
                            + " for that backend");
        }
        Set<QEngine> available = QEngine.available();
        if (!available.contains(engine)) {
            throw new QEngineUnavailableException(engine, available);
        }
    }

    /**
     * Returns the default libtorch quantized engine of a PyTorch backend.
     *
     * @param backend FBGEMM or QNNPACK
     * @return {@link QEngine#FBGEMM} or {@link QEngine#QNNPACK}
     * @throws IllegalArgumentException for ONNXRUNTIME, which does not run on libtorch
     */
    public static QEngine qengine(BackendTarget backend) {
        switch (backend) {
            case FBGEMM:
                return QEngine.FBGEMM;
            case QNNPACK:
                return QEngine.QNNPACK;
            default:
                throw new IllegalArgumentException(
                        "backend was "
                                + backend
                                + ", a libtorch quantized engine exists for FBGEMM and QNNPACK");
        }
    }

    /**
     * Returns the artifact kind a backend is exported as.
     *
     * @param backend the backend
     * @return ONNX for ONNXRUNTIME, else TORCHSCRIPT
     */
    public static ArtifactKind artifactKind(BackendTarget backend) {
        return backend == BackendTarget.ONNXRUNTIME ? ArtifactKind.ONNX : ArtifactKind.TORCHSCRIPT;
    }

    /**
     * Returns the mapping the preparer gets: the method's config for every layer, or one rule per
     * layer of the policy.
     *
     * @param root the model's root block (for a policy: every policy path must be in it)
     * @return the mapping
     * @throws org.djlquant.policy.apply.UnknownLayerException if the policy names a missing layer
     */
    public QConfigMapping mapping(Block root) {
        if (policy != null) {
            return PolicyApplication.toQConfigMapping(policy, configs, root);
        }
        QConfigMapping.Builder m =
                QConfigMapping.builder().optGlobal(configs.config(method.precision()));
        for (String glob : keepFloat) {
            m.optPathGlob(glob, null);
        }
        return m.build();
    }

    /**
     * Stage 1: wraps the model's layers in observed twins (and, for a policy, swaps in the FP16 /
     * BF16 layers).
     *
     * @param model the model, initialized (parameters loaded)
     * @return the preparer's report
     */
    public PrepareReport prepare(Model model) {
        Objects.requireNonNull(model, "model");
        PrepareReport report = Preparer.prepare(model, mapping(model.getBlock()));
        if (policy != null) {
            PolicyApplication.applyHalfPrecision(policy, model.getBlock());
        }
        return report;
    }

    /**
     * Stage 2: runs the calibration batches through the prepared model, if any were given and the
     * model has prepared layers (a policy may keep every layer FP32).
     *
     * @param model the prepared model
     * @return the calibration summary, or empty when no batches were given or no layer is prepared
     */
    public Optional<CalibrationSummary> calibrate(Model model) {
        Objects.requireNonNull(model, "model");
        if (calibration == null || Twins.find(model.getBlock()).isEmpty()) {
            return Optional.empty();
        }
        Calibrator.Builder b = Calibrator.builder().setModel(model).optProgress(progress);
        if (maxBatches > 0) {
            b.optMaxBatches(maxBatches);
        }
        return Optional.of(b.build().calibrate(calibration));
    }

    /**
     * Stage 3a (drop-in): converts the prepared, calibrated model in place to blocks running
     * libtorch's INT8 kernels of {@link #getQEngine()} (selected process-wide); the model's
     * translator and predictor keep working.
     *
     * @param model the prepared model
     * @return the converter's report
     * @throws IllegalStateException for the ONNXRUNTIME backend (it has no in-place form; use
     *     {@link #export})
     * @throws QuantizationException as {@link Converter#convert(Model, QEngine)}
     */
    public ConvertReport convert(Model model) throws QuantizationException {
        Objects.requireNonNull(model, "model");
        if (backend == BackendTarget.ONNXRUNTIME) {
            throw new IllegalStateException(
                    "backend was ONNXRUNTIME, which has no in-place form; export the model"
                            + " (export / quantizeTo with a .onnx file) or choose FBGEMM or"
                            + " QNNPACK");
        }
        return Converter.convert(model, getQEngine());
    }

    /**
     * Stage 3b: writes the prepared, calibrated model as an artifact: a TorchScript archive ({@code
     * .pt}, loadable with {@link org.djlquant.backend.pytorch.QuantizedArtifacts#load}) for FBGEMM
     * / QNNPACK, an ONNX model ({@code .onnx}) for ONNXRUNTIME. The model is read, not changed. A
     * PyTorch export selects the quantized engine ({@link #getQEngine()}) process-wide ({@link
     * QEngine#select}), as the converter does; the manifest records it and loading checks it.
     *
     * @param model the prepared model
     * @param file the file to write: its name must end with {@code .pt} (PyTorch backends) or
     *     {@code .onnx} (ONNX Runtime)
     * @return what was written
     * @throws IllegalArgumentException if the file name does not fit the backend
     * @throws QuantizationException if the artifact cannot be written or a layer cannot be exported
     *     (the exporters' typed exceptions name the layer)
     */
    public Artifact export(Model model, Path file) throws QuantizationException {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(file, "file");
        checkFileName(backend, file);
        Block root = model.getBlock();
        if (backend == BackendTarget.ONNXRUNTIME) {
            OnnxExporter.Builder b = OnnxExporter.builder().setBlock(root);
            if (!(root instanceof BertModelBlock)) {
                Shape[] shapes = root.getInputShapes();
                for (int i = 0; i < shapes.length; i++) {
                    long[] dims = shapes[i].getShape().clone();
                    dims[0] = -1;
                    b.optInput("input" + i, dims);
                }
            }
            if (int8Embeddings) {
                b.optEmbeddings(
                        org.djlquant.backend.onnx.ExportOptions.EmbeddingPrecision.INT8_PER_ROW);
            }
            ExportReport r = b.build().write(file);
            return new Artifact(ArtifactKind.ONNX, file, r.sizeBytes(), r.layers(), null);
        }
        QEngine engine = getQEngine();
        QEngine.select(engine);
        String name = file.getFileName().toString();
        name = name.substring(0, name.length() - ".pt".length());
        Path dir = file.toAbsolutePath().getParent();
        QuantizationManifest manifest =
                TorchScriptExporter.builder()
                        .setBlock(root)
                        .optEngine(engine)
                        .optPolicy(policy)
                        .optCompressed(true)
                        .optInt8Embeddings(int8Embeddings)
                        .build()
                        .export(dir, name);
        Map<String, String> layers = new LinkedHashMap<>();
        for (QuantizationManifest.Layer l : manifest.layers()) {
            layers.put(l.path(), l.mode() + " " + l.weightDtype() + " " + l.kernel());
        }
        long size;
        try {
            size = Files.size(file);
        } catch (java.io.IOException e) {
            throw new QuantizationException("cannot read the size of " + file, e);
        }
        return new Artifact(ArtifactKind.TORCHSCRIPT, file, size, layers, manifest);
    }

    /**
     * The common path in one call (drop-in): prepare → calibrate → convert in place.
     *
     * @param model the model, initialized
     * @return the converter's report
     * @throws QuantizationException as {@link #convert}
     */
    public ConvertReport quantize(Model model) throws QuantizationException {
        prepare(model);
        calibrate(model);
        return convert(model);
    }

    /**
     * The common path in one call (artifact): prepare → calibrate → export.
     *
     * @param model the model, initialized; left prepared (and calibrated)
     * @param file the artifact file ({@code .pt} or {@code .onnx}, as {@link #export})
     * @return what was written
     * @throws QuantizationException as {@link #export}
     */
    public Artifact quantizeTo(Model model, Path file) throws QuantizationException {
        checkFileName(backend, file);
        prepare(model);
        calibrate(model);
        return export(model, file);
    }

    /**
     * Checks that a file name fits a backend's artifact kind.
     *
     * @param backend the backend
     * @param file the file
     * @throws IllegalArgumentException naming the file, and the suffix the backend needs
     */
    public static void checkFileName(BackendTarget backend, Path file) {
        String suffix = artifactKind(backend) == ArtifactKind.ONNX ? ".onnx" : ".pt";
        Path name = file.getFileName();
        String n = name == null ? "" : name.toString();
        boolean ok = n.toLowerCase(Locale.ROOT).endsWith(suffix) && n.length() > suffix.length();
        if (ok && suffix.equals(".pt")) {
            ok = n.substring(0, n.length() - 3).matches("[A-Za-z0-9_-]+");
        }
        if (!ok) {
            throw new IllegalArgumentException(
                    "output file was '"
                            + file
                            + "', must be a "
                            + (suffix.equals(".pt")
                                    ? "NAME.pt file (NAME of letters, digits, '_' and '-')"
                                    : "NAME.onnx file")
                            + " for backend "
                            + backend);
        }
    }

    /** Builds a {@link Quantizer}: a method or a policy (exactly one), then options. */
    public static final class Builder {
        private Method method;
        private MixedPrecisionPolicy policy;
        private BackendTarget backend = BackendTarget.FBGEMM;
        private Iterable<NDList> calibration;
        private long maxBatches = -1;
        private PrintStream progress = System.err;
        private PrecisionConfigs.Form form = PrecisionConfigs.Form.PRESET;
        private final List<String> keepFloat = new ArrayList<>();
        private PrecisionConfigs configs;
        private boolean int8Embeddings;
        private QEngine qengine;

        private Builder() {}

        /**
         * Sets the libtorch quantized engine the TorchScript export packs for (recorded in its
         * manifest; loading selects it) and the in-place conversion selects. Default: the backend's
         * engine ({@link Quantizer#qengine(BackendTarget)}: FBGEMM or QNNPACK). For the FBGEMM
         * backend, {@link QEngine#ONEDNN} or {@link QEngine#X86} run the same INT8 models with
         * other x86 kernels (onednn is the fastest on CPUs with AMX / AVX-512 VNNI); QNNPACK takes
         * only {@link QEngine#QNNPACK}; ONNXRUNTIME takes none. Checked at {@link #build()} with
         * {@link Quantizer#checkQEngine}.
         *
         * @param qengine the engine, or null for the backend's default
         * @return this builder
         */
        public Builder optQEngine(QEngine qengine) {
            this.qengine = qengine;
            return this;
        }

        /**
         * Stores BERT embedding tables (word and position) INT8 per row in the exported artifact
         * ({@link TorchScriptExporter.Builder#optInt8Embeddings}, the ONNX exporter's {@code
         * INT8_PER_ROW}); weight-only, at most half a step of error per element. Default false. The
         * in-place form ({@link #convert}) keeps the tables float.
         *
         * @param int8Embeddings true to store the tables INT8
         * @return this builder
         */
        public Builder optInt8Embeddings(boolean int8Embeddings) {
            this.int8Embeddings = int8Embeddings;
            return this;
        }

        /**
         * Sets how INT8 dynamic and static layers are quantized (default {@link
         * PrecisionConfigs.Form#PRESET}, PyTorch's defaults: per-tensor dynamic weights, 7-bit
         * activations on fbgemm). {@link PrecisionConfigs.Form#PER_CHANNEL} quantizes weights per
         * output channel and activations with the full 8 bits: far more accurate on transformers
         * (MiniLM cosine 0.99 against 0.87), exact on fbgemm only on CPUs with VNNI; QNNPACK
         * refuses it at {@link #build()}. Applies to methods and policies alike.
         *
         * @param form the INT8 form
         * @return this builder
         */
        public Builder optInt8Form(PrecisionConfigs.Form form) {
            this.form = form;
            return this;
        }

        /**
         * Keeps the layers whose clean path matches a glob (and their descendants) in FP32 when a
         * method applies to every layer, e.g. {@code encoder.*.output} for a transformer's
         * feed-forward down-projections. May be called more than once. A policy names its FP32
         * layers itself, so combining this with {@link #setPolicy} is refused at {@link #build()}.
         *
         * @param glob a path glob ({@code *} one path element, {@code **} any number)
         * @return this builder
         */
        public Builder optKeepFloat(String glob) {
            if (glob == null || glob.isBlank()) {
                throw new IllegalArgumentException(
                        "keep-float glob was '" + glob + "', must name a block path pattern");
            }
            keepFloat.add(glob);
            return this;
        }

        /**
         * Sets one method for every quantizable layer (this or {@link #setPolicy}).
         *
         * @param method the method
         * @return this builder
         */
        public Builder setMethod(Method method) {
            this.method = method;
            return this;
        }

        /**
         * Sets a per-layer policy (this or {@link #setMethod}); layers it does not name stay FP32.
         *
         * @param policy the policy, e.g. {@link MixedPrecisionPolicy#read(Path)}
         * @return this builder
         */
        public Builder setPolicy(MixedPrecisionPolicy policy) {
            this.policy = policy;
            return this;
        }

        /**
         * Sets the backend (default {@link BackendTarget#FBGEMM}).
         *
         * @param backend the backend
         * @return this builder
         */
        public Builder optBackend(BackendTarget backend) {
            this.backend = backend;
            return this;
        }

        /**
         * Sets the calibration batches (each an {@link NDList} of the model's inputs; closed after
         * use). Required for STATIC.
         *
         * @param batches the batches
         * @return this builder
         */
        public Builder optCalibration(Iterable<NDList> batches) {
            this.calibration = batches;
            return this;
        }

        /**
         * Stops calibration after this many batches (default: all).
         *
         * @param maxBatches a positive number
         * @return this builder
         */
        public Builder optMaxCalibrationBatches(long maxBatches) {
            if (maxBatches <= 0) {
                throw new IllegalArgumentException(
                        "maxCalibrationBatches was " + maxBatches + ", must be positive");
            }
            this.maxBatches = maxBatches;
            return this;
        }

        /**
         * Where calibration draws its progress bar (default {@code System.err}; null for none;
         * never {@code System.out}).
         *
         * @param progress the stream or null
         * @return this builder
         */
        public Builder optProgress(PrintStream progress) {
            if (progress == System.out) {
                throw new IllegalArgumentException(
                        "progress stream was System.out, must be System.err, another stream or"
                                + " null");
            }
            this.progress = progress;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the quantizer
         * @throws IllegalArgumentException naming what is missing or contradictory: neither or both
         *     of method and policy, no backend, no calibration batches for STATIC layers, a qengine
         *     the backend cannot use ({@link Quantizer#checkQEngine})
         * @throws org.djlquant.backend.pytorch.QEngineUnavailableException if the qengine given is
         *     not in this libtorch build
         */
        public Quantizer build() {
            if ((method == null) == (policy == null)) {
                throw new IllegalArgumentException(
                        "method was "
                                + method
                                + " and policy was "
                                + (policy == null ? "null" : "set")
                                + ", must set exactly one: a method from "
                                + Arrays.toString(Method.values())
                                + " or a policy");
            }
            if (backend == null) {
                throw new IllegalArgumentException(
                        "backend was null, must be one of "
                                + Arrays.toString(BackendTarget.values()));
            }
            if (form == null) {
                throw new IllegalArgumentException(
                        "int8 form was null, must be one of "
                                + Arrays.toString(PrecisionConfigs.Form.values()));
            }
            if (policy != null && !keepFloat.isEmpty()) {
                throw new IllegalArgumentException(
                        "keep-float globs were "
                                + keepFloat
                                + " with a policy, must be empty: a policy assigns FP32 per"
                                + " layer itself");
            }
            if (qengine != null) {
                checkQEngine(backend, qengine);
            }
            configs = new PrecisionConfigs(backend, form);
            boolean needsCalibration =
                    method == Method.STATIC
                            || (policy != null
                                    && policy.assignment().containsValue(Precision.INT8_STATIC));
            if (needsCalibration && calibration == null) {
                throw new IllegalArgumentException(
                        "calibration batches were not given, must be given for INT8_STATIC layers"
                                + " (optCalibration); DYNAMIC and weight-only methods need none");
            }
            return new Quantizer(this);
        }
    }
}
