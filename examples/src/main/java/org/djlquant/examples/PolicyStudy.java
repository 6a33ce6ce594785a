package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.function.DoubleUnaryOperator;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Converter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.BackendCapabilities;
import org.djlquant.policy.Candidate;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.InfeasibleBudgetException;
import org.djlquant.policy.LayerCost;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Objective;
import org.djlquant.policy.PolicyRules;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.SearchBudget;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.Strategy;
import org.djlquant.policy.apply.PolicyApplication;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.policy.measure.OutputSelector;
import org.djlquant.policy.measure.PrecisionSimulator;
import org.djlquant.policy.measure.SensitivityReport;
import org.djlquant.policy.measure.SensitivityRunner;
import org.djlquant.policy.measure.TaskMetric;
import org.djlquant.policy.measure.TorchCostModel;

/**
 * The mixed-precision policy report for one model, shared by the MiniLM and Fashion-MNIST demos.
 *
 * <ol>
 *   <li>Sensitivity: every Linear layer, simulated in BF16, dynamic INT8, static INT8 and INT4
 *       weight-only, output error (SQNR / cosine, KL for logits) against FP32 on a few batches
 *       (cheap proxies), with every layer but one in dynamic INT8, and the task metric itself on
 *       the layers the proxies rank first.
 *   <li>Cost: per-layer latency and bytes measured on libtorch (FP32, FP16, BF16, INT8 dynamic,
 *       INT8 static), cached per machine; INT4 latency is not measured by this study
 *       (TorchCostModel can time it on libtorch's INT4 kernel, but not every layer here has a shape
 *       it takes): the FP32 latency stands in, bytes are estimated.
 *   <li>Search A (the headline): accuracy-driven fallback under the budget with the task metric as
 *       the evaluator, over what the PyTorch fbgemm path runs in place: FP32, BF16, INT8 dynamic,
 *       INT8 static (per-channel weights, full 8-bit activations).
 *   <li>Search B: the smallest model within the budget over what ONNX Runtime declares (FP32, INT8
 *       dynamic / static, INT4 weight-only per group of 128), accuracy simulated.
 *   <li>One table: uniform FP32 / BF16 / INT8 dynamic / INT8 static and the chosen policies (the
 *       searches evaluate every uniform assignment as a seed; when one is chosen, its uniform row
 *       is labelled "&lt;search&gt;: chosen = uniform X" instead of a duplicate row), each built
 *       for real (in-place INT8 through {@link Converter}, BF16 through {@code
 *       HalfPrecisionLinear}) where it can run, with accuracy from the real model and throughput
 *       from timed forwards, interleaved; simulated accuracy alongside.
 * </ol>
 */
final class PolicyStudy {

    /** What a model brings to the study. */
    interface Case {

        /** A fresh FP32 model (same weights every time). */
        Model newModel() throws QuantizationException;

        /** The task metric on the held-out slice, in percent, of a model as it is set up now. */
        double accuracyPct(Model model) throws QuantizationException;

        /** Runs the calibration inputs through a prepared model (observers on). */
        void calibrate(Model prepared) throws QuantizationException;

        /** The sensitivity batches (model inputs), owned by {@code manager}. */
        List<NDList> sensitivityBatches(NDManager manager);

        /** What of the output is compared. */
        OutputSelector output();

        /** True if that output is logits. */
        boolean logits();

        /** The timed input, owned by {@code manager}. */
        NDList speedInput(NDManager manager);

        /** Items in the timed input (sentences or images). */
        int speedItems();
    }

    /** Settings of one study. */
    record Options(
            String title,
            Path out,
            double budgetPoints,
            int threads,
            int taskEvaluations,
            int rounds,
            boolean int4Search,
            String dataNote) {}

    private static final Set<Precision> PYTORCH_IN_PLACE =
            EnumSet.of(
                    Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC, Precision.INT8_STATIC);
    private static final Set<Precision> ORT_DECLARED =
            EnumSet.of(
                    Precision.FP32,
                    Precision.INT8_DYNAMIC,
                    Precision.INT8_STATIC,
                    Precision.INT4_WEIGHT_ONLY);

    private PolicyStudy() {}

    /** Runs the study and writes {@code policy.{json,md}}, the charts and the chosen policies. */
    static void run(Case c, Options o) throws QuantizationException, IOException {
        long t0 = System.nanoTime();
        Phases phases = new Phases();
        phases.mark("data, model import and probe training (before the study)");
        Files.createDirectories(o.out());
        PrecisionConfigs configs = PrecisionConfigs.perChannel(BackendTarget.FBGEMM);
        QEngine.select(QEngine.X86);
        JniUtils.setNumThreads(o.threads());
        Map<String, Row> rows = new LinkedHashMap<>();
        SensitivityReport sensitivity;
        SearchResult headline = null;
        String headlineFailure = null;
        SearchResult small = null;
        String smallFailure = null;
        CostTable costs;
        List<LayerInfo> layers;
        long otherParamBytes;
        double fp16Ms;
        double fp32Ms;
        int[] calls = {0};
        try (Model work = c.newModel()) {
            otherParamBytes = nonLinearBytes(work.getBlock());
            PrepareReport report =
                    Preparer.prepare(
                            work,
                            QConfigMapping.builder()
                                    .optClassConfig(
                                            Linear.class, configs.config(Precision.INT8_DYNAMIC))
                                    .build());
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(work.getBlock(), report, configs)) {
                layers = sim.layers();
                System.out.printf("%d Linear layers simulated%n", layers.size());
                List<NDList> batches = c.sensitivityBatches(work.getNDManager());
                TaskMetric task =
                        () -> {
                            calls[0]++;
                            return c.accuracyPct(work);
                        };
                sensitivity =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(work.getNDManager())
                                .setBatches(batches)
                                .optOutput(c.output())
                                .optLogits(c.logits())
                                .optCandidates(
                                        EnumSet.of(
                                                Precision.BF16,
                                                Precision.INT8_DYNAMIC,
                                                Precision.INT8_STATIC,
                                                Precision.INT4_WEIGHT_ONLY))
                                .optAllButThis(Precision.INT8_DYNAMIC)
                                .optTaskMetric(task, o.taskEvaluations())
                                .optProgress(System.out)
                                .build()
                                .run();
                Files.writeString(o.out().resolve("sensitivity.json"), sensitivity.toJson() + "\n");
                Files.writeString(o.out().resolve("sensitivity.md"), sensitivity.toTable());
                sensitivity.writeChart(o.out().resolve("sensitivity.png"));
                phases.mark("sensitivity (proxies + task metric)");
                int sensitivityCalls = calls[0];

                TorchCostModel costModel =
                        TorchCostModel.builder().setSimulator(sim).optThreads(o.threads()).build();
                String workload =
                        o.title()
                                + " sensitivity batch "
                                + sim.inputShapes().values().iterator().next();
                CostCache cache =
                        CostCache.open(o.out().resolve("cost-cache"), costModel.cacheKey(workload));
                Set<Precision> measured = EnumSet.copyOf(PYTORCH_IN_PLACE);
                measured.add(Precision.FP16);
                CostTable measuredCosts =
                        CostTable.measure(
                                PolicyRules.empty()
                                        .resolve(
                                                layers,
                                                BackendCapabilities.uniform(
                                                        "pytorch-measured", measured)),
                                cache.caching(costModel));
                cache.save();
                fp16Ms = total(measuredCosts, layers, Precision.FP16);
                fp32Ms = total(measuredCosts, layers, Precision.FP32);
                CostTable.Builder cb = CostTable.builder();
                for (LayerInfo l : layers) {
                    for (Precision p : measured) {
                        cb.put(l.path(), p, measuredCosts.cost(l.path(), p));
                    }
                    // INT4: not timed here (not every layer shape fits the kernel); FP32 latency
                    // stands in,
                    // bytes estimated
                    LayerCost f = measuredCosts.cost(l.path(), Precision.FP32);
                    long biasBytes = f.bytes() - 4 * l.params();
                    cb.put(
                            l.path(),
                            Precision.INT4_WEIGHT_ONLY,
                            f.latencyMs(),
                            Precision.INT4_WEIGHT_ONLY.estimatedBytes(l.params()) + biasBytes);
                }
                costs = cb.build();
                phases.mark("cost model (measured or from the cache)");

                ResolvedRules inPlace =
                        PolicyRules.empty()
                                .resolve(
                                        layers,
                                        BackendCapabilities.uniform(
                                                "pytorch-fbgemm-in-place", PYTORCH_IN_PLACE));
                PolicySearch search =
                        new PolicySearch(inPlace, sensitivity.table(ProxyMetric.SQNR_DB), costs);
                calls[0] = 0;
                try {
                    headline = search.fallback(sim.evaluator(task), o.budgetPoints());
                    headline.policy().write(o.out().resolve("chosen-policy.json"));
                    Files.writeString(o.out().resolve("search-fallback.md"), headline.toTable());
                } catch (InfeasibleBudgetException e) {
                    headlineFailure = e.getMessage();
                    System.out.println("fallback search: " + e.getMessage());
                }
                System.out.printf(
                        "fallback search: %d task-metric calls (limit %d), sensitivity used %d%n",
                        calls[0], search.evaluatorCallLimit(), sensitivityCalls);
                phases.mark("fallback search");
                if (o.int4Search()) {
                    ResolvedRules ort =
                            PolicyRules.empty()
                                    .resolve(
                                            layers,
                                            BackendCapabilities.uniform(
                                                    "onnxruntime-declared", ORT_DECLARED));
                    PolicySearch sizeSearch =
                            new PolicySearch(ort, sensitivity.table(ProxyMetric.SQNR_DB), costs);
                    calls[0] = 0;
                    try {
                        small =
                                sizeSearch.optimise(
                                        sim.evaluator(task),
                                        SearchBudget.ofDrop(o.budgetPoints())
                                                .withObjective(Objective.SIZE));
                        small.policy().write(o.out().resolve("chosen-policy-size-int4.json"));
                        Files.writeString(o.out().resolve("search-size-int4.md"), small.toTable());
                    } catch (InfeasibleBudgetException e) {
                        smallFailure = e.getMessage();
                        System.out.println("size search: " + e.getMessage());
                    }
                    System.out.printf(
                            "size search (INT4 allowed): %d task-metric calls (limit %d)%n",
                            calls[0], sizeSearch.evaluatorCallLimit());
                    phases.mark("size search");
                }

                // simulated accuracy of every row, on the same held-out slice
                Map<String, Map<String, Precision>> variants = new LinkedHashMap<>();
                for (Precision p : PYTORCH_IN_PLACE) {
                    variants.put("uniform " + p, uniform(layers, p));
                }
                // a search may choose one of its uniform seeds: that row is then marked, not
                // built twice
                Map<String, List<String>> chosenBy = new LinkedHashMap<>();
                if (headline != null) {
                    addChosen(
                            variants,
                            chosenBy,
                            "chosen policy (fallback, budget)",
                            headline.policy().assignment());
                }
                if (small != null) {
                    addChosen(
                            variants,
                            chosenBy,
                            "smallest within budget, INT4 allowed",
                            small.policy().assignment());
                }
                for (Map.Entry<String, Map<String, Precision>> v : variants.entrySet()) {
                    Row r = new Row(v.getValue());
                    r.chosenBy.addAll(chosenBy.getOrDefault(v.getKey(), List.of()));
                    r.simAcc = sim.evaluator(task).evaluate(v.getValue());
                    r.linearBytes = bytes(costs, layers, v.getValue());
                    r.linearMsModel = latency(costs, layers, v.getValue());
                    rows.put(v.getKey(), r);
                }
                phases.mark("simulated accuracy of the table rows");
            }
        }

        // real execution: each runnable row built from a fresh model
        double fp32Acc = Double.NaN;
        Map<String, Model> real = new LinkedHashMap<>();
        List<PolicyApplication.HalfSwaps> swaps = new ArrayList<>();
        try {
            for (Map.Entry<String, Row> e : rows.entrySet()) {
                Row r = e.getValue();
                if (!runsInPlace(r.assignment)) {
                    continue;
                }
                Model m = c.newModel();
                real.put(e.getKey(), m);
                MixedPrecisionPolicy p = policy(r.assignment);
                boolean quantized = r.assignment.values().stream().anyMatch(Precision::isQuantized);
                if (quantized) {
                    Preparer.prepare(
                            m, PolicyApplication.toQConfigMapping(p, configs, m.getBlock()));
                }
                swaps.add(PolicyApplication.applyHalfPrecision(p, m.getBlock()));
                if (quantized) {
                    if (r.assignment.containsValue(Precision.INT8_STATIC)) {
                        c.calibrate(m);
                    }
                    Converter.convert(m, QEngine.X86);
                }
                r.realAcc = c.accuracyPct(m);
                System.out.printf(
                        Locale.ROOT,
                        "real %-40s accuracy %.2f %% (simulated %.2f %%)%n",
                        e.getKey(),
                        r.realAcc,
                        r.simAcc);
            }
            fp32Acc = rows.get("uniform FP32").realAcc;
            phases.mark("real models built and evaluated");
            time(c, real, rows, o.rounds());
            phases.mark("throughput rounds");
        } finally {
            swaps.forEach(PolicyApplication.HalfSwaps::restore);
            real.values().forEach(Model::close);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        write(
                c,
                o,
                rows,
                fp32Acc,
                otherParamBytes,
                sensitivity,
                headline,
                headlineFailure,
                small,
                smallFailure,
                fp16Ms,
                fp32Ms,
                layers.size(),
                seconds);
    }

    /**
     * Prints the wall time and this JVM's CPU time (all threads) of each phase. With one intra-op
     * thread the demo is mostly single-threaded, so the CPU time approximates the wall time on an
     * idle machine with a core to spare for the JVM's own threads.
     */
    private static final class Phases {
        private long wall = ManagementFactory.getRuntimeMXBean().getStartTime();
        private long cpu;

        void mark(String name) {
            long nowWall = System.currentTimeMillis();
            long nowCpu =
                    ((com.sun.management.OperatingSystemMXBean)
                                    ManagementFactory.getOperatingSystemMXBean())
                            .getProcessCpuTime();
            System.out.printf(
                    Locale.ROOT,
                    "phase %-58s wall %7.1f s, JVM CPU %7.1f s%n",
                    name,
                    (nowWall - wall) / 1e3,
                    (nowCpu - cpu) / 1e9);
            wall = nowWall;
            cpu = nowCpu;
        }
    }

    /**
     * Adds a search's chosen assignment as a row, or, if it equals a row already there (a uniform
     * seed the search chose), records that the search chose that row.
     */
    private static void addChosen(
            Map<String, Map<String, Precision>> variants,
            Map<String, List<String>> chosenBy,
            String search,
            Map<String, Precision> chosen) {
        for (Map.Entry<String, Map<String, Precision>> v : variants.entrySet()) {
            if (v.getValue().equals(chosen)) {
                chosenBy.computeIfAbsent(v.getKey(), k -> new ArrayList<>()).add(search);
                return;
            }
        }
        Set<Precision> used = EnumSet.copyOf(chosen.values());
        variants.put(
                used.size() == 1 ? search + ": chosen = uniform " + used.iterator().next() : search,
                chosen);
    }

    /**
     * The table label of a row: its key, or for a uniform row a search chose, {@code "<search>:
     * chosen = uniform X"}.
     */
    private static String label(String key, Row r) {
        if (r.chosenBy.isEmpty()) {
            return key;
        }
        List<String> parts = new ArrayList<>();
        r.chosenBy.forEach(search -> parts.add(search + ": chosen = " + key));
        return String.join("; ", parts);
    }

    /** One row of the comparison. */
    private static final class Row {
        final Map<String, Precision> assignment;
        final List<String> chosenBy = new ArrayList<>();
        double simAcc = Double.NaN;
        double realAcc = Double.NaN;
        long linearBytes;
        double linearMsModel;
        double medianMs = Double.NaN;

        Row(Map<String, Precision> assignment) {
            this.assignment = assignment;
        }
    }

    private static boolean runsInPlace(Map<String, Precision> a) {
        return PYTORCH_IN_PLACE.containsAll(a.values());
    }

    private static void time(Case c, Map<String, Model> models, Map<String, Row> rows, int rounds) {
        Map<String, List<Double>> ms = new LinkedHashMap<>();
        models.keySet().forEach(k -> ms.put(k, new ArrayList<>()));
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList in = c.speedInput(m);
            int warmup = 2;
            for (int r = 0; r < warmup + rounds; r++) {
                for (Map.Entry<String, Model> e : models.entrySet()) {
                    try (NDManager sub = m.newSubManager()) {
                        sub.tempAttachAll(in);
                        ParameterStore ps = new ParameterStore(sub, false);
                        long a = System.nanoTime();
                        NDList out = e.getValue().getBlock().forward(ps, in, false);
                        out.head().toFloatArray();
                        long b = System.nanoTime();
                        if (r >= warmup) {
                            ms.get(e.getKey()).add((b - a) / 1e6);
                        }
                    }
                }
            }
        }
        ms.forEach((k, v) -> rows.get(k).medianMs = median(v));
    }

    private static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    private static Map<String, Precision> uniform(List<LayerInfo> layers, Precision p) {
        Map<String, Precision> a = new LinkedHashMap<>();
        layers.forEach(l -> a.put(l.path(), p));
        return a;
    }

    private static MixedPrecisionPolicy policy(Map<String, Precision> a) {
        Map<String, LayerDecision> d = new LinkedHashMap<>();
        a.forEach((k, v) -> d.put(k, new LayerDecision(v, DecisionSource.MANUAL, "study row")));
        return new MixedPrecisionPolicy(
                Strategy.MANUAL,
                d,
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                OptionalDouble.empty());
    }

    private static long nonLinearBytes(Block root) {
        long all = 0;
        for (Pair<String, Parameter> p : root.getParameters()) {
            all += 4 * p.getValue().getArray().size();
        }
        long linear = 0;
        for (Block b : org.djlquant.nn.BlockPaths.byCleanPath(root).values()) {
            if (b instanceof Linear) {
                for (Pair<String, Parameter> p : b.getParameters()) {
                    linear += 4 * p.getValue().getArray().size();
                }
            }
        }
        return all - linear;
    }

    private static double total(CostTable costs, List<LayerInfo> layers, Precision p) {
        return latency(costs, layers, uniform(layers, p));
    }

    private static double latency(
            CostTable costs, List<LayerInfo> layers, Map<String, Precision> a) {
        double s = 0;
        for (LayerInfo l : layers) {
            s += costs.cost(l.path(), a.get(l.path())).latencyMs();
        }
        return s;
    }

    private static long bytes(CostTable costs, List<LayerInfo> layers, Map<String, Precision> a) {
        long s = 0;
        for (LayerInfo l : layers) {
            s += costs.cost(l.path(), a.get(l.path())).bytes();
        }
        return s;
    }

    private static String counts(Map<String, Precision> a) {
        Map<Precision, Integer> n = new LinkedHashMap<>();
        for (Precision p : Precision.values()) {
            int k = (int) a.values().stream().filter(p::equals).count();
            if (k > 0) {
                n.put(p, k);
            }
        }
        StringBuilder sb = new StringBuilder();
        n.forEach(
                (p, k) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(' ').append(p));
        return sb.toString();
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static void write(
            Case c,
            Options o,
            Map<String, Row> rows,
            double fp32Acc,
            long otherBytes,
            SensitivityReport sensitivity,
            SearchResult headline,
            String headlineFailure,
            SearchResult small,
            String smallFailure,
            double fp16Ms,
            double fp32Ms,
            int layers,
            double seconds)
            throws IOException, QuantizationException {
        Row fp32 = rows.get("uniform FP32");
        StringBuilder md = new StringBuilder();
        md.append("# Mixed-precision policy: ").append(o.title()).append("\n\n");
        md.append(o.dataNote()).append("\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "Budget: %.2f accuracy points below FP32. INT8 = per-channel symmetric INT8"
                                + " weights, full 8-bit UINT8 activations (fbgemm, the CPU has"
                                + " VNNI); static activation ranges from a histogram (MSE)."
                                + " Accuracy: 'real' = the model built for real (in-place INT8"
                                + " via nn.Converter on qengine x86, BF16 via HalfPrecisionLinear),"
                                + " 'sim' = the precision simulator (fake quantization / half"
                                + " rounding) used by the search. Throughput: %d interleaved rounds"
                                + " after 2 warm-ups, %d intra-op thread(s), median forward of the"
                                + " timed batch (%d items). Size: Linear weights from the cost"
                                + " table + the other parameters in FP32 (%.3f MB). Load average at"
                                + " the end: %s; %s; run time %.0f s.%n%n",
                        o.budgetPoints(),
                        o.rounds(),
                        o.threads(),
                        c.speedItems(),
                        otherBytes / 1e6,
                        loadAverage(),
                        Instant.now(),
                        seconds));
        md.append(
                "| variant | accuracy % (real) | drop (points) | accuracy % (sim) | model MB |"
                        + " Linear MB | items/s (real) | speed-up vs FP32 | layers |\n"
                        + "|---|---|---|---|---|---|---|---|---|\n");
        JsonArray jrows = new JsonArray();
        for (Map.Entry<String, Row> e : rows.entrySet()) {
            Row r = e.getValue();
            boolean real = !Double.isNaN(r.realAcc);
            double acc = real ? r.realAcc : r.simAcc;
            double drop = real ? fp32Acc - acc : fp32.simAcc - acc;
            double mb = (otherBytes + r.linearBytes) / 1e6;
            double ips = Double.isNaN(r.medianMs) ? Double.NaN : c.speedItems() * 1000 / r.medianMs;
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %.2f%s | %.2f | %.3f | %.3f | %s | %s | %s |%n",
                            label(e.getKey(), r),
                            real ? String.format(Locale.ROOT, "%.2f", acc) : "- (sim only)",
                            drop,
                            real ? "" : " (sim)",
                            r.simAcc,
                            mb,
                            r.linearBytes / 1e6,
                            Double.isNaN(ips)
                                    ? "unmeasured (INT4 row not built)"
                                    : String.format(Locale.ROOT, "%.1f", ips),
                            Double.isNaN(ips)
                                    ? "-"
                                    : String.format(
                                            Locale.ROOT, "%.2f", fp32.medianMs / r.medianMs),
                            counts(r.assignment)));
            JsonObject j = new JsonObject();
            j.addProperty("variant", label(e.getKey(), r));
            JsonArray by = new JsonArray();
            r.chosenBy.forEach(by::add);
            j.add("chosenBy", by);
            j.addProperty("realAccuracyPct", real ? acc : null);
            j.addProperty("simulatedAccuracyPct", r.simAcc);
            j.addProperty("dropPoints", drop);
            j.addProperty("dropFrom", real ? "real FP32" : "simulated FP32");
            j.addProperty("modelMB", mb);
            j.addProperty("linearMB", r.linearBytes / 1e6);
            j.addProperty("medianMs", Double.isNaN(r.medianMs) ? null : r.medianMs);
            j.addProperty("itemsPerSecond", Double.isNaN(ips) ? null : ips);
            j.addProperty("speedupVsFp32", Double.isNaN(ips) ? null : fp32.medianMs / r.medianMs);
            j.addProperty("linearMsFromCostTable", r.linearMsModel);
            j.addProperty("layers", counts(r.assignment));
            jrows.add(j);
        }
        md.append('\n');
        md.append(
                String.format(
                        Locale.ROOT,
                        "Per-layer costs (cost table, sum over the %d Linear layers at the"
                                + " sensitivity batch shape): FP32 %.3f ms, FP16 %.3f ms (FP16 is"
                                + " not searched).%n%n",
                        layers,
                        fp32Ms,
                        fp16Ms));
        md.append(
                searchNote(
                        "Fallback search (latency, in-place precisions)",
                        headline,
                        headlineFailure));
        if (o.int4Search()) {
            md.append(
                    searchNote(
                            "Size search (INT4 weight-only allowed as ONNX Runtime declares it;"
                                    + " INT4 accuracy simulated, INT4 latency unmeasured: FP32"
                                    + " latency stands in)",
                            small,
                            smallFailure));
        }
        if (!sensitivity.taskOnlyThis().isEmpty()) {
            md.append("Task-metric sensitivity (only this layer, FP32 ")
                    .append(String.format(Locale.ROOT, "%.2f %%", sensitivity.taskMetricFp32()))
                    .append("), on the layers the SQNR proxy ranks first:\n\n")
                    .append("| layer | precision | accuracy % | drop |\n|---|---|---|---|\n");
            sensitivity
                    .taskOnlyThis()
                    .values()
                    .forEach(
                            t ->
                                    md.append(
                                            String.format(
                                                    Locale.ROOT,
                                                    "| %s | %s | %.2f | %.2f |%n",
                                                    t.path(),
                                                    t.precision(),
                                                    t.metric(),
                                                    t.drop())));
            md.append('\n');
        }
        if (headline != null) {
            md.append("## Chosen policy (fallback)\n\n").append(headline.policy().toTable());
        }
        Files.writeString(o.out().resolve("policy.md"), md.toString(), StandardCharsets.UTF_8);
        System.out.println(md);
        JsonObject root = new JsonObject();
        root.addProperty("title", o.title());
        root.addProperty("data", o.dataNote());
        root.addProperty("budgetPoints", o.budgetPoints());
        root.addProperty("threads", o.threads());
        root.addProperty("rounds", o.rounds());
        root.addProperty("timedItems", c.speedItems());
        root.addProperty("loadAverage", loadAverage());
        root.addProperty("seconds", seconds);
        root.addProperty("otherParamsMB", otherBytes / 1e6);
        root.add("rows", jrows);
        root.add("fallback", searchJson(headline, headlineFailure));
        if (o.int4Search()) {
            root.add("sizeSearchInt4", searchJson(small, smallFailure));
        }
        Files.writeString(
                o.out().resolve("policy.json"),
                new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(root) + "\n",
                StandardCharsets.UTF_8);
        List<Candidate> all = new ArrayList<>();
        if (headline != null) {
            all.addAll(headline.tried());
        }
        if (small != null) {
            all.addAll(small.tried());
        }
        writePareto(o.out().resolve("pareto.png"), o.title(), all, rows, fp32.simAcc);
    }

    private static String searchNote(String name, SearchResult r, String failure) {
        if (r == null) {
            return name + ": no policy within budget: " + failure + "\n\n";
        }
        return String.format(
                Locale.ROOT,
                "%s: %d task-metric evaluations (bound %d = 2 x layers + 4 + precisions, one"
                        + " uniform seed per precision), chosen candidate #%d"
                        + " (%s), simulated drop %.2f points; %d candidates on the Pareto frontier"
                        + " (accuracy, latency, size).%n%n",
                name,
                r.evaluatorCalls(),
                r.evaluatorCallLimit(),
                r.chosen().order(),
                r.chosen().note(),
                r.chosen().drop(),
                r.paretoFrontier().size());
    }

    private static JsonObject searchJson(SearchResult r, String failure) {
        JsonObject o = new JsonObject();
        if (r == null) {
            o.addProperty("failure", failure);
            return o;
        }
        o.addProperty("evaluatorCalls", r.evaluatorCalls());
        o.addProperty("evaluatorCallLimit", r.evaluatorCallLimit());
        o.addProperty("chosen", r.chosen().order());
        JsonArray tried = new JsonArray();
        for (Candidate c : r.tried()) {
            JsonObject j = new JsonObject();
            j.addProperty("order", c.order());
            j.addProperty("stage", c.stage().name());
            j.addProperty("note", c.note());
            j.addProperty("accuracyPctSim", c.metric());
            j.addProperty("dropPoints", c.drop());
            j.addProperty("linearMs", c.latencyMs());
            j.addProperty("linearBytes", c.bytes());
            j.addProperty("pareto", r.paretoFrontier().contains(c));
            tried.add(j);
        }
        o.add("candidates", tried);
        return o;
    }

    /** Two panels: simulated accuracy vs Linear latency, and vs Linear size. */
    private static void writePareto(
            Path file, String title, List<Candidate> tried, Map<String, Row> rows, double fp32)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 1340;
        int h = 560;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.drawString(
                    title + ": accuracy (simulated, held-out) vs Linear latency and size", 10, 22);
            List<Candidate> front = PolicySearch.paretoFrontier(tried);
            panel(g, 70, 60, 420, 420, tried, front, rows, fp32, true);
            panel(g, 580, 60, 420, 420, tried, front, rows, fp32, false);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            int ly = 70;
            Color[] cs = palette();
            int k = 0;
            for (Map.Entry<String, Row> e : rows.entrySet()) {
                g.setColor(cs[k++ % cs.length]);
                g.fillRect(1020, ly - 9, 10, 10);
                g.setColor(Color.BLACK);
                g.drawString(
                        e.getKey() + (e.getValue().chosenBy.isEmpty() ? "" : " (chosen)"),
                        1034,
                        ly);
                ly += 18;
            }
            g.setColor(new Color(0x2E86C1));
            g.drawString("blue rings: Pareto frontier of the search candidates", 1020, ly + 10);
            g.setColor(new Color(0x888888));
            g.drawString("grey: search candidates", 1020, ly + 28);
            g.drawString("squares: table rows", 1020, ly + 46);
            g.drawString("INT4 latency unmeasured (FP32 stands in)", 1020, ly + 64);
        } finally {
            g.dispose();
        }
        ImageIO.write(img, "png", file.toFile());
    }

    private static Color[] palette() {
        return new Color[] {
            new Color(0x17202A),
            new Color(0xF39C12),
            new Color(0xC0392B),
            new Color(0x8E44AD),
            new Color(0x28B463),
            new Color(0x1ABC9C)
        };
    }

    private static void panel(
            Graphics2D g,
            int left,
            int top,
            int pw,
            int ph,
            List<Candidate> tried,
            List<Candidate> front,
            Map<String, Row> rows,
            double fp32,
            boolean latency) {
        List<double[]> pts = new ArrayList<>();
        for (Candidate c : tried) {
            pts.add(new double[] {latency ? c.latencyMs() : c.bytes() / 1e6, c.metric()});
        }
        for (Row r : rows.values()) {
            pts.add(new double[] {latency ? r.linearMsModel : r.linearBytes / 1e6, r.simAcc});
        }
        double[] xs = pts.stream().mapToDouble(p -> p[0]).toArray();
        double[] ys = pts.stream().mapToDouble(p -> p[1]).toArray();
        double x0 = Arrays.stream(xs).min().orElse(0);
        double x1 = Arrays.stream(xs).max().orElse(1);
        double y0 = Math.min(Arrays.stream(ys).min().orElse(0), fp32 - 1);
        double y1 = Math.max(Arrays.stream(ys).max().orElse(1), fp32 + 0.5);
        double dx = Math.max(1e-9, x1 - x0) * 0.08;
        final double ax0 = x0 - dx;
        final double ax1 = x1 + dx;
        final double ay0 = y0;
        final double ay1 = y1;
        DoubleUnaryOperator sx = v -> left + (v - ax0) / (ax1 - ax0) * pw;
        DoubleUnaryOperator sy = v -> top + ph - (v - ay0) / (ay1 - ay0) * ph;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1));
        g.drawRect(left, top, pw, ph);
        for (int i = 0; i <= 4; i++) {
            double xv = ax0 + (ax1 - ax0) * i / 4;
            double yv = ay0 + (ay1 - ay0) * i / 4;
            g.drawString(
                    String.format(Locale.ROOT, "%.3g", xv),
                    (int) sx.applyAsDouble(xv) - 12,
                    top + ph + 16);
            g.drawString(
                    String.format(Locale.ROOT, "%.1f", yv),
                    left - 40,
                    (int) sy.applyAsDouble(yv) + 4);
        }
        g.drawString(
                latency
                        ? "Linear latency, ms (sum of per-layer medians, cost table)"
                        : "Linear weights, MB",
                left + 60,
                top + ph + 36);
        g.drawString("accuracy % (sim)", left, top - 8);
        g.setColor(new Color(0xAAAAAA));
        g.drawLine(left, (int) sy.applyAsDouble(fp32), left + pw, (int) sy.applyAsDouble(fp32));
        for (Candidate c : tried) {
            double x = latency ? c.latencyMs() : c.bytes() / 1e6;
            g.fillOval((int) sx.applyAsDouble(x) - 3, (int) sy.applyAsDouble(c.metric()) - 3, 6, 6);
        }
        Color[] cs = palette();
        int k = 0;
        for (Row r : rows.values()) {
            g.setColor(cs[k++ % cs.length]);
            double x = latency ? r.linearMsModel : r.linearBytes / 1e6;
            g.fillRect((int) sx.applyAsDouble(x) - 5, (int) sy.applyAsDouble(r.simAcc) - 5, 10, 10);
        }
        // the frontier on top, as rings, so that table rows under it stay visible
        g.setColor(new Color(0x2E86C1));
        g.setStroke(new BasicStroke(2));
        for (Candidate c : front) {
            double x = latency ? c.latencyMs() : c.bytes() / 1e6;
            g.drawOval(
                    (int) sx.applyAsDouble(x) - 7, (int) sy.applyAsDouble(c.metric()) - 7, 14, 14);
        }
    }
}
