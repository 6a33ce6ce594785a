package org.djlquant.cli;

import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.Quantizer;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.eval.EmbeddingAgreement;
import org.djlquant.policy.BackendCapabilities;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.Objective;
import org.djlquant.policy.PolicyRules;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.SearchBudget;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.measure.SensitivityReport;
import org.djlquant.policy.measure.SensitivityRunner;
import org.djlquant.policy.measure.TorchCostModel;
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
                    + " bound, using measured per-layer sensitivity and libtorch latency. Writes"
                    + " the policy file that 'djlq quantize --policy' reads."
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
            names = "--cost-cache",
            paramLabel = "DIR",
            description =
                    "Where measured layer costs are cached (default ~/.cache/djl-quant/cost-cache).")
    Path costCache;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Policy file.")
    Path out;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.policy/1).")
    boolean json;

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
        TokenBatches tokens = input.tokens(cl, tok);
        QEngine.select(Quantizer.qengine(backend));
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
            CostCache cache = CostCache.open(cacheDir, costModel.cacheKey(workload));
            ResolvedRules rules =
                    PolicyRules.empty()
                            .resolve(
                                    sim.simulator.layers(),
                                    BackendCapabilities.uniform(
                                            "pytorch-" + Names.of(backend), allowed));
            CostTable costs = CostTable.measure(rules, cache.caching(costModel));
            cache.save();
            float[][] reference = sim.pooled();
            PolicySearch search =
                    new PolicySearch(rules, sensitivity.table(ProxyMetric.COSINE), costs);
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
        result.policy().write(out);
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("schema", "djlq.policy/1");
            o.addProperty("model", source.onnx().toString());
            o.addProperty("policyFile", out.toString());
            o.addProperty("metric", "100 x mean cosine of sentence embeddings to FP32");
            o.addProperty("baselineMetric", result.baselineMetric());
            JsonObject chosen = new JsonObject();
            chosen.addProperty("metric", result.chosen().metric());
            chosen.addProperty("drop", result.chosen().drop());
            chosen.addProperty("latencyMs", result.chosen().latencyMs());
            chosen.addProperty("bytes", result.chosen().bytes());
            o.add("chosen", chosen);
            o.addProperty("evaluatorCalls", result.evaluatorCalls());
            o.addProperty("candidatesTried", result.tried().size());
            o.add("policy", JsonParser.parseString(result.policy().toJson()));
            top.printJson(o);
        } else {
            var w = top.out();
            w.print(result.toTable());
            w.print(result.policy().toTable());
            w.printf(
                    Locale.ROOT,
                    "chosen: metric %.4f (drop %.4f of %.4f allowed), Linear latency %.3f ms,"
                            + " weights %.2f MB; %d evaluator calls%nwrote %s%n",
                    result.chosen().metric(),
                    result.chosen().drop(),
                    maxDrop,
                    result.chosen().latencyMs(),
                    result.chosen().bytes() / 1e6,
                    result.evaluatorCalls(),
                    out);
            w.flush();
        }
        return 0;
    }
}
