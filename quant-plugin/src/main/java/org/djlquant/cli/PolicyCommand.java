package org.djlquant.cli;

import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.eval.EmbeddingAgreement;
import org.djlquant.policy.BackendCapabilities;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.LatencyCalibration;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Objective;
import org.djlquant.policy.PolicyRules;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.SearchBudget;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.Verification;
import org.djlquant.policy.VerifiedLatency;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.policy.measure.SensitivityReport;
import org.djlquant.policy.measure.SensitivityRunner;
import org.djlquant.policy.measure.TorchCostModel;
import org.djlquant.policy.measure.TorchModelProbe;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code djlq policy}: the mixed-precision search under budgets; writes a policy file. */
@Command(
        name = "policy",
        mixinStandardHelpOptions = true,
        description = {
            "Searches a precision per Linear layer (PolicySearch.optimise) within a budget: the"
                    + " largest drop of the metric (100 x mean cosine of the sentence embeddings"
                    + " to FP32's, on the given sentences) and optionally a size and a latency"
                    + " bound, using measured per-layer sensitivity and libtorch latency (per layer"
                    + " in isolation, with the cost of boundaries between precision families,"
                    + " calibrated with whole-model runs). Then builds the best --verify-top"
                    + " candidates within budget and the uniform ones for real, times them as"
                    + " whole models in interleaved rounds on the first batch, and keeps the"
                    + " fastest measured. Writes the policy file that 'djlq quantize --policy'"
                    + " reads."
        })
final class PolicyCommand implements Callable<Integer> {

    @CommandLine.ParentCommand private Djlq top;
    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin MeasurementOptions input;

    @Option(
            names = "--backend",
            converter = Names.BackendConverter.class,
            defaultValue = "fbgemm",
            description = "fbgemm or qnnpack (latency is measured on libtorch).")
    BackendTarget backend;

    @Option(
            names = "--precisions",
            split = ",",
            converter = Names.PrecisionConverter.class,
            completionCandidates = Names.PrecisionNames.class,
            defaultValue = "fp32,int8-dynamic,int8-static",
            description =
                    "Allowed precisions, comma separated, from: ${COMPLETION-CANDIDATES}"
                            + " (default: ${DEFAULT-VALUE}; the exporters lower fp32 and int8).")
    List<Precision> precisions;

    @Option(
            names = "--max-drop",
            defaultValue = "0.5",
            paramLabel = "POINTS",
            description = "Largest drop of 100 x mean cosine to FP32 (default ${DEFAULT-VALUE}).")
    double maxDrop;

    @Option(names = "--max-size-mb", paramLabel = "MB", description = "Largest Linear weights.")
    Double maxSizeMb;

    @Option(names = "--max-latency-ms", paramLabel = "MS", description = "Largest Linear latency.")
    Double maxLatencyMs;

    @Option(
            names = "--objective",
            defaultValue = "latency",
            converter = Names.ObjectiveConverter.class,
            description = "What to minimise: latency or size (default ${DEFAULT-VALUE}).")
    Objective objective;

    @Option(names = "--threads", defaultValue = "1", description = "Threads for latency.")
    int threads;

    @Option(names = "--cost-runs", defaultValue = "20", description = "Timed runs per layer.")
    int costRuns;

    @Option(
            names = "--no-calibrate",
            description =
                    "Do not calibrate the per-layer latencies with whole-model runs (all-FP32 and"
                            + " one per precision).")
    boolean noCalibrate;

    @Option(
            names = "--no-verify",
            description = "Choose by predicted latency; do not build and time the best candidates.")
    boolean noVerify;

    @Option(
            names = "--verify-top",
            defaultValue = "3",
            paramLabel = "K",
            description =
                    "Best predicted candidates within budget to build and time as whole models,"
                            + " besides the uniform ones (default ${DEFAULT-VALUE}).")
    int verifyTop;

    @Option(
            names = "--verify-rounds",
            defaultValue = "10",
            paramLabel = "N",
            description =
                    "Timed interleaved rounds of whole-model runs, after 2 warm-ups, for the"
                            + " calibration and the verification (default ${DEFAULT-VALUE}).")
    int verifyRounds;

    @Option(
            names = "--cost-cache",
            paramLabel = "DIR",
            description =
                    "Where measured layer costs are cached (default ~/.cache/djl-quant/cost-cache).")
    Path costCache;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Policy file.")
    Path out;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.policy/1).")
    boolean json;

    private LatencyCalibration calibration;
    private Map<Precision, Double> wholeModel;
    private String calibrationSource;
    private double predictionOffsetMs;
    private QEngine engine;
    private Path cacheFile;
    private CostCache.ReferenceCheck referenceCheck;

    @Override
    public Integer call() throws QuantizationException {
        CommandLine cl = spec.commandLine();
        ModelSource source = input.source(cl);
        Path tok = Usage.tokenizer(cl, source);
        if (backend == BackendTarget.ONNXRUNTIME) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--backend was 'onnxruntime'; the cost model measures libtorch kernels,"
                            + " allowed: fbgemm, qnnpack");
        }
        if (!(maxDrop >= 0)) {
            throw new CommandLine.ParameterException(
                    cl, "--max-drop was " + maxDrop + ", must be a number at least 0");
        }
        input.checkSizes(cl);
        Usage.positive(cl, "--threads", threads);
        Usage.positive(cl, "--cost-runs", costRuns);
        Usage.positive(cl, "--verify-top", verifyTop);
        Usage.positive(cl, "--verify-rounds", verifyRounds);
        Set<Precision> allowed = EnumSet.copyOf(precisions);
        Set<Precision> candidates = EnumSet.copyOf(allowed);
        candidates.remove(Precision.FP32);
        if (candidates.isEmpty()) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--precisions was "
                            + precisions
                            + ", must hold at least one precision besides fp32");
        }
        engine = input.selectEngine(cl, backend);
        TokenBatches tokens = input.tokens(cl, tok);
        SearchResult result;
        try (Simulation sim =
                new Simulation(source, tokens, Usage.configs(cl, backend, input.int8Form))) {
            SensitivityReport sensitivity =
                    SensitivityRunner.builder()
                            .setSimulator(sim.simulator)
                            .setManager(sim.manager())
                            .setBatches(sim.batches)
                            .optOutput(TokenBatches::meanPool)
                            .optCandidates(candidates)
                            .optAllButThis(null)
                            .optProgress(top.progress())
                            .build()
                            .run();
            TorchCostModel costModel =
                    TorchCostModel.builder()
                            .setSimulator(sim.simulator)
                            .optThreads(threads)
                            .optRuns(costRuns)
                            .optEngine(engine)
                            .build();
            Shape shape = sim.simulator.inputShapes().values().iterator().next();
            String workload = ModelSource.stem(source.onnx()) + " batch " + shape;
            Path cacheDir =
                    costCache != null
                            ? costCache
                            : Path.of(
                                    System.getProperty("user.home"),
                                    ".cache",
                                    "djl-quant",
                                    "cost-cache");
            CostCache cache =
                    CostCache.open(
                            cacheDir, costModel.cacheKey(workload), costModel::referenceGemmMs);
            cacheFile = cache.file();
            referenceCheck = cache.referenceCheck().orElseThrow();
            ResolvedRules rules =
                    PolicyRules.empty()
                            .resolve(
                                    sim.simulator.layers(),
                                    BackendCapabilities.uniform(
                                            "pytorch-" + Names.of(backend), allowed));
            CostTable costs = CostTable.measure(rules, cache.caching(costModel));
            cache.save();
            PrecisionConfigs configs = Usage.configs(cl, backend, input.int8Form);
            TorchModelProbe probe =
                    TorchModelProbe.builder()
                            .setModelFactory(source::load)
                            .setConfigs(configs)
                            .setInput(sim.batches.get(0))
                            .optCalibration(sim.batches)
                            .optEngine(engine)
                            .optThreads(threads)
                            .build();
            Verification.Builder timing =
                    Verification.builder()
                            .setProbe(probe)
                            .optTopK(verifyTop)
                            .optRounds(verifyRounds);
            double offset = 0;
            if (!noCalibrate) {
                LatencyCalibration.WholeModelRuns runs =
                        LatencyCalibration.wholeModelMs(
                                rules,
                                allowed,
                                cache,
                                missing -> timing.build().measureMs(missing));
                wholeModel = runs.wholeModelMs();
                calibrationSource = runs.measured() ? "measured" : "cost cache";
                calibration = LatencyCalibration.of(rules, costs, wholeModel);
                costs = calibration.calibrated();
                offset = calibration.remainderMs();
            }
            float[][] reference = sim.pooled();
            PolicySearch search =
                    new PolicySearch(rules, sensitivity.table(ProxyMetric.COSINE), costs);
            if (!noVerify) {
                search = search.withVerification(timing.optPredictionOffsetMs(offset).build());
            }
            predictionOffsetMs = offset;
            SearchBudget budget =
                    new SearchBudget(
                            maxDrop,
                            maxSizeMb == null
                                    ? OptionalLong.empty()
                                    : OptionalLong.of(Math.round(maxSizeMb * 1e6)),
                            maxLatencyMs == null
                                    ? OptionalDouble.empty()
                                    : OptionalDouble.of(maxLatencyMs),
                            objective);
            result =
                    search.optimise(
                            sim.simulator.evaluator(
                                    () ->
                                            100
                                                    * EmbeddingAgreement.of(reference, sim.pooled())
                                                            .mean()),
                            budget);
        }
        MixedPrecisionPolicy policy = result.policy().withQEngine(engine);
        policy.write(out);
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("schema", "djlq.policy/1");
            o.addProperty("model", source.onnx().toString());
            o.addProperty("policyFile", out.toString());
            o.addProperty("backend", Names.of(backend));
            o.addProperty("qengine", Names.of(engine));
            o.addProperty("metric", "100 x mean cosine of sentence embeddings to FP32");
            o.addProperty("baselineMetric", result.baselineMetric());
            JsonObject chosen = new JsonObject();
            chosen.addProperty("metric", result.chosen().metric());
            chosen.addProperty("drop", result.chosen().drop());
            chosen.addProperty("latencyMs", result.chosen().latencyMs());
            chosen.addProperty(
                    "predictedWholeModelMs", result.chosen().latencyMs() + predictionOffsetMs);
            chosen.addProperty("bytes", result.chosen().bytes());
            o.add("chosen", chosen);
            JsonObject cal = new JsonObject();
            cal.addProperty("enabled", calibration != null);
            if (calibration != null) {
                cal.addProperty("source", calibrationSource);
                cal.addProperty("remainderMs", calibration.remainderMs());
                JsonObject wm = new JsonObject();
                wholeModel.forEach((k, v) -> wm.addProperty(Names.of(k), v));
                cal.add("wholeModelMs", wm);
            }
            o.add("calibration", cal);
            JsonObject cc = new JsonObject();
            cc.addProperty("file", cacheFile.toString());
            cc.addProperty("outcome", Names.of(referenceCheck.outcome()));
            referenceCheck.storedMs().ifPresent(v -> cc.addProperty("storedReferenceMs", v));
            cc.addProperty("referenceMs", referenceCheck.currentMs());
            referenceCheck.ratio().ifPresent(v -> cc.addProperty("ratio", v));
            cc.addProperty("tolerance", referenceCheck.tolerance());
            o.add("costCache", cc);
            o.add("verified", VerifiedLatency.toJson(result.verified()));
            o.addProperty("evaluatorCalls", result.evaluatorCalls());
            o.addProperty("candidatesTried", result.tried().size());
            o.add("policy", JsonParser.parseString(policy.toJson()));
            top.printJson(o);
        } else {
            var w = top.out();
            w.printf(Locale.ROOT, "qengine %s; %s%n", Names.of(engine), staleness());
            w.print(result.toTable());
            w.print(policy.toTable());
            w.printf(
                    Locale.ROOT,
                    "chosen: metric %.4f (drop %.4f of %.4f allowed), predicted latency %.3f ms"
                            + " (%s), weights %.2f MB; %d evaluator calls%nwrote %s%n",
                    result.chosen().metric(),
                    result.chosen().drop(),
                    maxDrop,
                    result.chosen().latencyMs() + predictionOffsetMs,
                    calibration != null ? "whole model, calibrated" : "Linear layers",
                    result.chosen().bytes() / 1e6,
                    result.evaluatorCalls(),
                    out);
            w.flush();
        }
        return 0;
    }

    /** One line on the cost cache's reference check, for the text output. */
    private String staleness() {
        String ratio =
                referenceCheck.ratio().isPresent()
                        ? String.format(
                                Locale.ROOT,
                                "now/stored %.3f (tolerance %.2f)",
                                referenceCheck.ratio().getAsDouble(),
                                referenceCheck.tolerance())
                        : "no stored reference";
        String what =
                switch (referenceCheck.outcome()) {
                    case NO_REFERENCE -> "reference stored now";
                    case WITHIN_TOLERANCE -> "used as stored";
                    case RESCALED -> "cached latencies rescaled by the ratio";
                };
        return String.format(
                Locale.ROOT,
                "cost cache reference %.4f ms, %s: %s",
                referenceCheck.currentMs(),
                ratio,
                what);
    }
}
