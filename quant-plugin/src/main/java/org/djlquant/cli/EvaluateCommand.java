package org.djlquant.cli;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.translate.TranslateException;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.calibrate.ProgressBar;
import org.djlquant.eval.EmbeddingAgreement;
import org.djlquant.eval.ProbeEvaluation;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code djlq evaluate}: size, latency, throughput and accuracy of an artifact. */
@Command(
        name = "evaluate",
        mixinStandardHelpOptions = true,
        description = {
            "Measures a sentence-embedding artifact (.pt on PyTorch, .onnx on ONNX Runtime): file"
                    + " size, latency and throughput on batches of the data sentences and, for"
                    + " labelled data, the accuracy of a linear probe (stratified k-fold; with"
                    + " --compare the probe is trained on the baseline's embeddings, as the"
                    + " pipeline does, and both models are scored)."
        })
final class EvaluateCommand implements Callable<Integer> {

    @CommandLine.ParentCommand private Djlq top;
    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ARTIFACT", description = "A .pt or .onnx model.")
    Path artifact;

    @Option(
            names = "--compare",
            paramLabel = "BASELINE",
            description = "A second model (.pt or .onnx), the baseline, e.g. the FP32 .onnx.")
    Path compare;

    @Option(
            names = "--data",
            required = true,
            paramLabel = "FILE",
            description =
                    "Sentences: JSONL ({\"text\": ..., \"label\": n}), a JSON array of {text,"
                            + " class} (the sentiment files) or text lines (no accuracy).")
    Path data;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The tokenizer.json.")
    Path tokenizer;

    @Option(names = "--limit", paramLabel = "N", description = "Use the first N sentences.")
    Integer limit;

    @Option(names = "--batch-size", defaultValue = "32", description = "Sentences per batch.")
    int batchSize;

    @Option(names = "--max-length", defaultValue = "128", description = "Tokens per sentence.")
    int maxLength;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed runs.")
    int warmup;

    @Option(names = "--runs", defaultValue = "10", description = "Timed runs (median reported).")
    int runs;

    @Option(
            names = "--settle-ms",
            defaultValue = "30",
            description =
                    "Pause before every timed run, in ms (0-10000): lets the worker threads of"
                            + " the previous call stop spinning.")
    long settleMs;

    @Option(names = "--folds", defaultValue = "5", description = "Probe cross-validation folds.")
    int folds;

    @Option(
            names = "--probe-steps",
            defaultValue = "300",
            description = "Gradient steps of each probe fit (default ${DEFAULT-VALUE}).")
    int probeSteps;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.evaluate/1).")
    boolean json;

    /** A loaded model with its predictor. */
    private static final class Loaded implements AutoCloseable {
        final Path file;
        final String engine;
        final QEngine qengine;
        final Model model;
        final Predictor<List<String>, float[][]> predictor;

        Loaded(
                Path file,
                String engine,
                QEngine qengine,
                Model model,
                Predictor<List<String>, float[][]> p) {
            this.file = file;
            this.engine = engine;
            this.qengine = qengine;
            this.model = model;
            this.predictor = p;
        }

        /**
         * Makes the archive's quantized engine current again (a second .pt may have selected
         * another): some quantized ops pick their kernels by the engine current at run time.
         */
        void activate() {
            if (qengine != null && QEngine.current() != qengine) {
                QEngine.select(qengine);
            }
        }

        @Override
        public void close() {
            predictor.close();
            model.close();
        }
    }

    @Override
    public Integer call() throws QuantizationException, TranslateException {
        CommandLine cl = spec.commandLine();
        checkModelFile(cl, "ARTIFACT", artifact);
        if (compare != null) {
            checkModelFile(cl, "--compare", compare);
        }
        Usage.positive(cl, "--batch-size", batchSize);
        Usage.atLeast(cl, "--max-length", maxLength, 2);
        Usage.atLeast(cl, "--warmup", warmup, 0);
        Usage.positive(cl, "--runs", runs);
        Usage.atLeast(cl, "--settle-ms", settleMs, 0);
        if (settleMs > SpeedMeter.MAX_SETTLE.toMillis()) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--settle-ms was "
                            + settleMs
                            + ", must be at most "
                            + SpeedMeter.MAX_SETTLE.toMillis());
        }
        Usage.atLeast(cl, "--folds", folds, 2);
        Usage.positive(cl, "--probe-steps", probeSteps);
        if (limit != null) {
            Usage.positive(cl, "--limit", limit);
        }
        Path tok = tokenizer;
        if (tok == null) {
            tok = ModelSource.findTokenizer(artifact);
            if (tok == null && compare != null) {
                tok = ModelSource.findTokenizer(compare);
            }
        }
        if (tok == null) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--tokenizer is required: no tokenizer.json is next to "
                            + artifact
                            + (compare != null ? " or " + compare : ""));
        }
        Usage.existingFile(cl, "--tokenizer", tok);
        TextData.Data d = Usage.readData(cl, "--data", data);
        List<String> texts = d.texts();
        int[] labels = d.labels();
        if (limit != null && limit < texts.size()) {
            texts = texts.subList(0, limit);
            labels = java.util.Arrays.copyOf(labels, limit);
        }
        boolean labelled = new TextData.Data(d.format(), texts, labels).labelled();
        List<List<String>> batches = new ArrayList<>();
        for (int i = 0; i < texts.size(); i += batchSize) {
            batches.add(texts.subList(i, Math.min(texts.size(), i + batchSize)));
        }
        List<String> timed = batches.get(0);
        try (SentenceEmbeddingTranslator translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(tok)
                        .optMaxLength(maxLength)
                        .build()) {
            Map<String, Loaded> models = new LinkedHashMap<>();
            try {
                models.put("artifact", load(artifact, translator));
                if (compare != null) {
                    models.put("baseline", load(compare, translator));
                }
                Map<String, float[][]> embeddings = new LinkedHashMap<>();
                for (Map.Entry<String, Loaded> e : models.entrySet()) {
                    embeddings.put(e.getKey(), embed(e.getValue(), batches, texts.size()));
                }
                Map<String, SpeedMeter.Work<TranslateException>> works = new LinkedHashMap<>();
                models.forEach(
                        (k, m) ->
                                works.put(
                                        k,
                                        run -> {
                                            m.activate();
                                            m.predictor.predict(timed);
                                        }));
                Map<String, SpeedMeter.Timing> timing =
                        new SpeedMeter(warmup, runs)
                                .withSettle(Duration.ofMillis(settleMs))
                                .measureInterleaved(timed.size(), works);
                Map<String, Double> accuracy = Map.of();
                if (labelled) {
                    float[][] reference =
                            embeddings.getOrDefault("baseline", embeddings.get("artifact"));
                    ProbeEvaluation.Settings s = ProbeEvaluation.Settings.defaults();
                    accuracy =
                            ProbeEvaluation.crossValidate(
                                    reference,
                                    labels,
                                    embeddings,
                                    new ProbeEvaluation.Settings(
                                            folds,
                                            s.seed(),
                                            s.lambda(),
                                            probeSteps,
                                            s.engineName()));
                }
                JsonObject o =
                        report(models, timing, accuracy, embeddings, texts.size(), labelled, d);
                if (json) {
                    top.printJson(o);
                } else {
                    printText(o);
                }
            } finally {
                models.values().forEach(Loaded::close);
            }
        }
        return 0;
    }

    private static void checkModelFile(CommandLine cl, String option, Path file) {
        Usage.existingFile(cl, option, file);
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!n.endsWith(".pt") && !n.endsWith(".onnx")) {
            throw new CommandLine.ParameterException(
                    cl, option + " '" + file + "' must be a .pt or an .onnx file");
        }
    }

    private Loaded load(Path file, SentenceEmbeddingTranslator translator)
            throws QuantizationException {
        String name = ModelSource.stem(file);
        Path dir = file.toAbsolutePath().getParent();
        String engine;
        QEngine qengine = null;
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".pt")) {
            // the archive's weights are packed for the engine current while libtorch loads it:
            // select the manifest's engine first (an onednn .pt loads as onednn)
            QuantizationManifest manifest = QuantizedArtifacts.readManifest(file);
            qengine = manifest.qengine();
            QEngine.select(qengine);
            QuantizedArtifacts.checkCompatible(manifest);
            engine = "PyTorch";
        } else {
            engine = "OnnxRuntime";
        }
        Model model = Model.newInstance(name, engine);
        try {
            model.load(dir, name);
        } catch (IOException | MalformedModelException | RuntimeException e) {
            model.close();
            throw new QuantizationException(
                    engine + " could not load " + file + ": " + e.getMessage(), e);
        }
        return new Loaded(file, engine, qengine, model, model.newPredictor(translator.batch()));
    }

    private float[][] embed(Loaded m, List<List<String>> batches, int n) throws TranslateException {
        float[][] out = new float[n][];
        ProgressBar bar =
                new ProgressBar(
                        top.progress(), "embedding " + m.file.getFileName(), batches.size());
        int row = 0;
        m.activate();
        for (int b = 0; b < batches.size(); b++) {
            for (float[] e : m.predictor.predict(batches.get(b))) {
                out[row++] = e;
            }
            bar.update(b + 1);
        }
        bar.finish(batches.size());
        return out;
    }

    private JsonObject report(
            Map<String, Loaded> models,
            Map<String, SpeedMeter.Timing> timing,
            Map<String, Double> accuracy,
            Map<String, float[][]> embeddings,
            int sentences,
            boolean labelled,
            TextData.Data d)
            throws QuantizationException {
        JsonObject o = new JsonObject();
        o.addProperty("schema", "djlq.evaluate/1");
        JsonObject dataJson = new JsonObject();
        dataJson.addProperty("file", data.toString());
        dataJson.addProperty("format", d.format().name().toLowerCase(Locale.ROOT));
        dataJson.addProperty("sentences", sentences);
        dataJson.addProperty("labelled", labelled);
        o.add("data", dataJson);
        JsonObject speed = new JsonObject();
        speed.addProperty("batchSize", timing.values().iterator().next().itemsPerRun());
        speed.addProperty("warmupRuns", warmup);
        speed.addProperty("timedRuns", runs);
        speed.addProperty("settleMs", settleMs);
        speed.addProperty("interleaved", models.size() > 1);
        o.add("speed", speed);
        JsonArray arr = new JsonArray();
        for (Map.Entry<String, Loaded> e : models.entrySet()) {
            JsonObject m = new JsonObject();
            m.addProperty("role", e.getKey());
            m.addProperty("file", e.getValue().file.toString());
            m.addProperty("engine", e.getValue().engine);
            QEngine q = e.getValue().qengine;
            m.addProperty("qengine", q == null ? null : Names.of(q));
            m.addProperty("sizeBytes", size(e.getValue().file));
            SpeedMeter.Timing t = timing.get(e.getKey());
            m.addProperty("latencyMsMedian", t.medianMillis());
            m.addProperty("throughputPerSecond", t.itemsPerSecond());
            Double acc = accuracy.get(e.getKey());
            m.addProperty("accuracy", acc);
            arr.add(m);
        }
        o.add("models", arr);
        if (models.size() > 1) {
            JsonObject c = new JsonObject();
            JsonObject a = arr.get(0).getAsJsonObject();
            JsonObject b = arr.get(1).getAsJsonObject();
            c.addProperty(
                    "sizeRatio",
                    b.get("sizeBytes").getAsDouble() / a.get("sizeBytes").getAsDouble());
            c.addProperty(
                    "speedup",
                    b.get("latencyMsMedian").getAsDouble()
                            / a.get("latencyMsMedian").getAsDouble());
            c.addProperty(
                    "accuracyDelta",
                    labelled ? accuracy.get("artifact") - accuracy.get("baseline") : null);
            EmbeddingAgreement agree =
                    EmbeddingAgreement.of(embeddings.get("baseline"), embeddings.get("artifact"));
            c.addProperty("cosineMean", agree.mean());
            c.addProperty("cosineMin", agree.min());
            o.add("comparison", c);
        } else {
            o.add("comparison", null);
        }
        return o;
    }

    private void printText(JsonObject o) {
        var w = top.out();
        JsonObject d = o.getAsJsonObject("data");
        JsonObject s = o.getAsJsonObject("speed");
        w.printf(
                Locale.ROOT,
                "data: %s (%d sentences%s); speed: batch %d, median of %d runs (%d ms settle"
                        + " before each)%n",
                d.get("file").getAsString(),
                d.get("sentences").getAsInt(),
                d.get("labelled").getAsBoolean() ? ", labelled" : "",
                s.get("batchSize").getAsInt(),
                s.get("timedRuns").getAsInt(),
                s.get("settleMs").getAsLong());
        w.printf(
                Locale.ROOT,
                "%-9s %-12s %10s %12s %14s %9s  %s%n",
                "role",
                "engine",
                "size MB",
                "latency ms",
                "sentences/s",
                "accuracy",
                "file");
        for (var e : o.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            w.printf(
                    Locale.ROOT,
                    "%-9s %-12s %10.2f %12.2f %14.1f %9s  %s%n",
                    m.get("role").getAsString(),
                    m.get("engine").getAsString(),
                    m.get("sizeBytes").getAsLong() / 1e6,
                    m.get("latencyMsMedian").getAsDouble(),
                    m.get("throughputPerSecond").getAsDouble(),
                    m.get("accuracy").isJsonNull()
                            ? "-"
                            : String.format(
                                    Locale.ROOT, "%.2f%%", 100 * m.get("accuracy").getAsDouble()),
                    m.get("file").getAsString());
        }
        if (!o.get("comparison").isJsonNull()) {
            JsonObject c = o.getAsJsonObject("comparison");
            w.printf(
                    Locale.ROOT,
                    "artifact vs baseline: %.2fx smaller, %.2fx speed-up, cosine mean %.4f min %.4f%s%n",
                    c.get("sizeRatio").getAsDouble(),
                    c.get("speedup").getAsDouble(),
                    c.get("cosineMean").getAsDouble(),
                    c.get("cosineMin").getAsDouble(),
                    c.get("accuracyDelta").isJsonNull()
                            ? ""
                            : String.format(
                                    Locale.ROOT,
                                    ", accuracy %+.2f points",
                                    100 * c.get("accuracyDelta").getAsDouble()));
        }
        w.flush();
    }

    private static long size(Path file) throws QuantizationException {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new QuantizationException("cannot read the size of " + file, e);
        }
    }
}
