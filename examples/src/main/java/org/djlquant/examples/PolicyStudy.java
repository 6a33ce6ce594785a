package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
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
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.Median;
import org.djlquant.nn.Converter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.Candidate;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostModel;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.InfeasibleBudgetException;
import org.djlquant.policy.LatencyCalibration;
import org.djlquant.policy.LatencyProbe;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Objective;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.SearchBudget;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.Strategy;
import org.djlquant.policy.Verification;
import org.djlquant.policy.VerifiedLatency;
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
 * Every precision the engine may choose is one the PyTorch path runs in place, and every row of the
 * table is built and run for real.
 *
 * <ol>
 *   <li>Precisions: FP32, BF16 ({@code HalfPrecisionLinear}), INT8 dynamic and static ({@link
 *       Converter} on qengine x86: per-channel weights, full 8-bit activations), INT8 and INT4
 *       weight-only ({@link Converter} with {@code Compute.BFLOAT16}: {@code WeightOnlyLinear} on
 *       libtorch's {@code _weight_int8pack_mm} / {@code _weight_int4pack_mm_for_cpu}). A
 *       weight-only precision whose kernel cannot take a layer's weight shape ({@link
 *       PrecisionConfigs#shapeProblem}) is refused for that layer and listed in the report.
 *   <li>Sensitivity: every Linear layer simulated in each precision, output error (SQNR / cosine,
 *       KL for logits) against FP32 on a few batches, with every layer but one in dynamic INT8, and
 *       the task metric itself on the layers the proxies rank first.
 *   <li>Cost: per-layer latency and bytes measured in isolation on libtorch ({@link
 *       TorchCostModel}, the same kernels), then calibrated with whole-model runs ({@link
 *       LatencyCalibration}): the all-FP32 model and, per precision, every layer that can run it in
 *       it, each built for real and timed in interleaved rounds on the case's speed input. Both are
 *       cached per machine ({@link CostCache}).
 *   <li>Search A (the headline): accuracy-driven fallback under the budget with the task metric as
 *       the evaluator and the calibrated latency (with the measured cost of boundaries between
 *       precision families) as the objective; then the measured verification: the {@value
 *       #VERIFY_TOP} best predicted candidates within budget and the uniform ones are built for
 *       real and timed as whole models in interleaved rounds, and the fastest measured is chosen,
 *       so the chosen row is never one the verification measured slower than a uniform row within
 *       budget.
 *   <li>Search B: the smallest model within the budget, over the same precisions (verified too:
 *       smallest, then fastest measured).
 *   <li>One table: the uniform rows (the calibration assignments) and the chosen policies (when a
 *       search chooses a uniform row, it is labelled "&lt;search&gt;: chosen = uniform X" instead
 *       of a duplicate row), each with accuracy from the real model, size, throughput from timed
 *       forwards in a separate timing phase, the cost model's predicted whole-model latency next to
 *       the measured one, and the simulated accuracy alongside.
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
            boolean sizeSearch,
            String dataNote) {}

    /** What the PyTorch path runs in place, every layer built for real. */
    private static final Set<Precision> PYTORCH_IN_PLACE =
            EnumSet.of(
                    Precision.FP32,
                    Precision.BF16,
                    Precision.INT8_DYNAMIC,
                    Precision.INT8_STATIC,
                    Precision.INT8_WEIGHT_ONLY,
                    Precision.INT4_WEIGHT_ONLY);

    /** Weight-only layers compute in bfloat16 (libtorch's vectorized kernels), as deployed. */
    private static final WeightOnlyPackedLinear.Compute COMPUTE =
            WeightOnlyPackedLinear.Compute.BFLOAT16;

    /** The best predicted candidates within budget each search builds and times before choosing. */
    static final int VERIFY_TOP = 3;

    /** Predicted vs measured whole-model latency of the uniform rows: the stated tolerance. */
    static final double TOLERANCE = 0.10;

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
        Map<String, Model> real = new LinkedHashMap<>();
        List<PolicyApplication.HalfSwaps> swaps = new ArrayList<>();
        Study s = new Study();
        s.calls = new int[] {0};
        try {
            try (Model work = c.newModel()) {
                s.otherParamBytes = nonLinearBytes(work.getBlock());
                PrepareReport report =
                        Preparer.prepare(
                                work,
                                QConfigMapping.builder()
                                        .optClassConfig(
                                                Linear.class,
                                                configs.config(Precision.INT8_DYNAMIC))
                                        .build());
                try (PrecisionSimulator sim =
                                PrecisionSimulator.create(work.getBlock(), report, configs);
                        NDManager speedManager = NDManager.newBaseManager("PyTorch")) {
                    NDList speed = c.speedInput(speedManager);
                    study(c, o, configs, work, sim, s, rows, real, swaps, phases, speed);
                }
            }

            // real execution of every row: accuracy with the task metric, then timed rounds
            for (Map.Entry<String, Row> e : rows.entrySet()) {
                Row r = e.getValue();
                if (!real.containsKey(e.getKey())) {
                    real.put(e.getKey(), build(c, configs, r.assignment, swaps));
                }
                r.realAcc = c.accuracyPct(real.get(e.getKey()));
                System.out.printf(
                        Locale.ROOT,
                        "real %-40s accuracy %.2f %% (simulated %.2f %%)%n",
                        e.getKey(),
                        r.realAcc,
                        r.simAcc);
            }
            phases.mark("real models built and evaluated");
            Map<String, double[]> measured = time(c, real, o.rounds());
            measured.forEach(
                    (k, v) -> {
                        rows.get(k).medianMs = v[0];
                        rows.get(k).cpuMs = v[1];
                    });
            phases.mark("throughput rounds (verification)");
        } finally {
            swaps.forEach(PolicyApplication.HalfSwaps::restore);
            real.values().forEach(Model::close);
        }
        s.seconds = (System.nanoTime() - t0) / 1e9;
        write(c, o, rows, s);
    }

    /**
     * Which timing the cost model is calibrated with and checked against: 1 = calling-thread CPU
     * time (one intra-op thread: every op runs on the calling thread), 0 = wall time (more
     * threads).
     */
    private static int measure(Options o) {
        return o.threads() == 1 ? 1 : 0;
    }

    /** The name of {@link #measure}'s timing, for the report. */
    private static String measureName(Options o) {
        return measure(o) == 1 ? "calling-thread CPU time" : "wall time";
    }

    /** What the study computes before the real rows are evaluated. */
    private static final class Study {
        int[] calls;
        long otherParamBytes;
        List<LayerInfo> layers;
        Map<String, String> excluded = new LinkedHashMap<>();
        SensitivityReport sensitivity;
        CostTable isolated;
        LatencyCalibration calibration;
        String calibrationSource;
        double fp16Ms;
        SearchResult headline;
        String headlineFailure;
        int verificationLimit;
        SearchResult small;
        String smallFailure;
        double seconds;
    }

    private static void study(
            Case c,
            Options o,
            PrecisionConfigs configs,
            Model work,
            PrecisionSimulator sim,
            Study s,
            Map<String, Row> rows,
            Map<String, Model> real,
            List<PolicyApplication.HalfSwaps> swaps,
            Phases phases,
            NDList timedInput)
            throws QuantizationException, IOException {
        s.layers = sim.layers();
        List<LayerInfo> layers = s.layers;
        System.out.printf("%d Linear layers simulated%n", layers.size());
        // what each layer can run in place: every precision, except weight-only kernels that
        // cannot take the layer's weight shape (refused, not degraded)
        Map<String, Set<Precision>> allowed = new LinkedHashMap<>();
        Map<String, String> decidedBy = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            Shape w = sim.original(l.path()).getParameters().get("weight").getArray().getShape();
            Set<Precision> ps = EnumSet.copyOf(PYTORCH_IN_PLACE);
            for (Precision p : PYTORCH_IN_PLACE) {
                String why = PrecisionConfigs.shapeProblem(p, w.get(0), w.get(1), COMPUTE);
                if (why != null) {
                    ps.remove(p);
                    s.excluded.put(l.path() + " " + p, why);
                }
            }
            allowed.put(l.path(), ps);
            decidedBy.put(l.path(), "backend pytorch-x86-in-place (weight-only compute bf16)");
        }
        ResolvedRules inPlace = new ResolvedRules(layers, allowed, decidedBy, List.of());

        List<NDList> batches = c.sensitivityBatches(work.getNDManager());
        TaskMetric task =
                () -> {
                    s.calls[0]++;
                    return c.accuracyPct(work);
                };
        Set<Precision> candidates = EnumSet.copyOf(PYTORCH_IN_PLACE);
        candidates.remove(Precision.FP32);
        s.sensitivity =
                SensitivityRunner.builder()
                        .setSimulator(sim)
                        .setManager(work.getNDManager())
                        .setBatches(batches)
                        .optOutput(c.output())
                        .optLogits(c.logits())
                        .optCandidates(candidates)
                        .optAllButThis(Precision.INT8_DYNAMIC)
                        .optTaskMetric(task, o.taskEvaluations())
                        .optProgress(System.out)
                        .build()
                        .run();
        Files.writeString(o.out().resolve("sensitivity.json"), s.sensitivity.toJson() + "\n");
        Files.writeString(o.out().resolve("sensitivity.md"), s.sensitivity.toTable());
        s.sensitivity.writeChart(o.out().resolve("sensitivity.png"));
        phases.mark("sensitivity (proxies + task metric)");
        int sensitivityCalls = s.calls[0];

        // 1. per-layer costs in isolation (cached per machine)
        TorchCostModel costModel =
                TorchCostModel.builder().setSimulator(sim).optThreads(o.threads()).build();
        String workload;
        try (NDManager tmp = NDManager.newBaseManager("PyTorch")) {
            NDList speed = c.speedInput(tmp);
            List<String> shapes = new ArrayList<>();
            speed.forEach(a -> shapes.add(a.getShape().toString()));
            workload =
                    o.title()
                            + " layers at sensitivity batch "
                            + sim.inputShapes().values().iterator().next()
                            + ", whole model at "
                            + String.join(" ", shapes)
                            + " rounds "
                            + o.rounds()
                            + (measure(o) == 1 ? " thread-cpu-time" : " wall-time");
        }
        CostCache cache =
                CostCache.open(
                        o.out().resolve("cost-cache"),
                        costModel.cacheKey(workload),
                        costModel::referenceGemmMs);
        System.out.println("cost cache reference check: " + cache.referenceCheck().orElseThrow());
        s.isolated = CostTable.measure(inPlace, cache.caching(costModel));
        CostModel cachedModel = cache.caching(costModel);
        for (LayerInfo l : layers) {
            s.fp16Ms += cachedModel.measure(l, Precision.FP16).latencyMs();
        }
        cache.save();
        phases.mark("per-layer costs in isolation (measured or from the cache)");

        // 2. whole-model runs calibrate them: all-FP32, and each precision on every layer that
        // can run it (these are also the uniform rows of the table)
        Map<Precision, Map<String, Precision>> runs =
                LatencyCalibration.calibrationRuns(inPlace, PYTORCH_IN_PLACE);
        runs.forEach(
                (p, a) -> {
                    Row r = new Row(a);
                    r.uniformOf = p;
                    rows.put(LatencyCalibration.runName(p), r);
                });
        for (Map.Entry<Precision, Map<String, Precision>> e : runs.entrySet()) {
            real.put(
                    LatencyCalibration.runName(e.getKey()), build(c, configs, e.getValue(), swaps));
        }
        // a missing run re-times every row built so far together, in the same rounds
        LatencyCalibration.WholeModelRuns timed =
                LatencyCalibration.wholeModelMs(
                        inPlace,
                        PYTORCH_IN_PLACE,
                        cache,
                        missing -> {
                            Map<String, Double> ms = new LinkedHashMap<>();
                            time(c, real, o.rounds()).forEach((k, v) -> ms.put(k, v[measure(o)]));
                            return ms;
                        });
        Map<Precision, Double> whole = timed.wholeModelMs();
        s.calibrationSource = timed.measured() ? "measured in this run" : "from the cost cache";
        s.calibration = LatencyCalibration.of(inPlace, s.isolated, whole);
        phases.mark("whole-model calibration runs (" + s.calibrationSource + ")");

        // 3. searches on the calibrated costs; the best predicted candidates within budget and
        // the uniform ones are then built and timed as whole models, and the fastest measured
        // (or smallest) is chosen
        LatencyProbe probe =
                a -> {
                    List<PolicyApplication.HalfSwaps> own = new ArrayList<>();
                    Model m = build(c, configs, a, own);
                    return new LatencyProbe.Subject() {
                        @Override
                        public double forwardMs() {
                            return forward(m, timedInput, o);
                        }

                        @Override
                        public void close() {
                            own.forEach(PolicyApplication.HalfSwaps::restore);
                            own.clear();
                            m.close();
                        }
                    };
                };
        PolicySearch search =
                new PolicySearch(
                                inPlace,
                                s.sensitivity.table(ProxyMetric.SQNR_DB),
                                s.calibration.calibrated())
                        .withVerification(
                                Verification.builder()
                                        .setProbe(probe)
                                        .optTopK(VERIFY_TOP)
                                        .optRounds(o.rounds())
                                        .optPredictionOffsetMs(s.calibration.remainderMs())
                                        .build());
        s.verificationLimit = search.verificationCandidateLimit();
        s.calls[0] = 0;
        try {
            s.headline = search.fallback(sim.evaluator(task), o.budgetPoints());
            s.headline.policy().write(o.out().resolve("chosen-policy.json"));
            Files.writeString(o.out().resolve("search-fallback.md"), s.headline.toTable());
        } catch (InfeasibleBudgetException e) {
            s.headlineFailure = e.getMessage();
            System.out.println("fallback search: " + e.getMessage());
        }
        System.out.printf(
                "fallback search: %d task-metric calls (limit %d), sensitivity used %d%n",
                s.calls[0], search.evaluatorCallLimit(), sensitivityCalls);
        phases.mark("fallback search");
        if (o.sizeSearch()) {
            s.calls[0] = 0;
            try {
                s.small =
                        search.optimise(
                                sim.evaluator(task),
                                SearchBudget.ofDrop(o.budgetPoints())
                                        .withObjective(Objective.SIZE));
                s.small.policy().write(o.out().resolve("chosen-policy-size.json"));
                Files.writeString(o.out().resolve("search-size.md"), s.small.toTable());
            } catch (InfeasibleBudgetException e) {
                s.smallFailure = e.getMessage();
                System.out.println("size search: " + e.getMessage());
            }
            System.out.printf(
                    "size search: %d task-metric calls (limit %d)%n",
                    s.calls[0], search.evaluatorCallLimit());
            phases.mark("size search");
        }

        // simulated accuracy of every row, on the same held-out slice
        Map<String, Map<String, Precision>> variants = new LinkedHashMap<>();
        rows.forEach((k, r) -> variants.put(k, r.assignment));
        Map<String, List<String>> chosenBy = new LinkedHashMap<>();
        if (s.headline != null) {
            addChosen(
                    variants,
                    chosenBy,
                    "chosen policy (fallback, budget)",
                    s.headline.policy().assignment());
        }
        if (s.small != null) {
            addChosen(variants, chosenBy, "smallest within budget", s.small.policy().assignment());
        }
        for (Map.Entry<String, Map<String, Precision>> v : variants.entrySet()) {
            Row r = rows.computeIfAbsent(v.getKey(), k -> new Row(v.getValue()));
            r.chosenBy.addAll(chosenBy.getOrDefault(v.getKey(), List.of()));
            r.simAcc = sim.evaluator(task).evaluate(v.getValue());
            r.linearBytes = bytes(s.isolated, layers, v.getValue());
            r.predictedMs = s.calibration.predictMs(v.getValue());
        }
        phases.mark("simulated accuracy of the table rows");
    }

    /**
     * Builds one row's model for real from a fresh model: prepare with the policy's mapping, swap
     * in the half-precision layers, calibrate if a layer is static INT8, convert in place (weight-
     * only layers on libtorch's kernels in bfloat16 compute, as the cost model times them).
     */
    private static Model build(
            Case c,
            PrecisionConfigs configs,
            Map<String, Precision> assignment,
            List<PolicyApplication.HalfSwaps> swaps)
            throws QuantizationException {
        Model m = c.newModel();
        try {
            MixedPrecisionPolicy p = policy(assignment);
            boolean quantized = assignment.values().stream().anyMatch(Precision::isQuantized);
            if (quantized) {
                Preparer.prepare(m, PolicyApplication.toQConfigMapping(p, configs, m.getBlock()));
            }
            swaps.add(PolicyApplication.applyHalfPrecision(p, m.getBlock()));
            if (quantized) {
                if (assignment.containsValue(Precision.INT8_STATIC)) {
                    c.calibrate(m);
                }
                Converter.convert(m, QEngine.X86, COMPUTE);
            }
            return m;
        } catch (QuantizationException | RuntimeException e) {
            m.close();
            throw e;
        }
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
        Precision uniformOf;
        double simAcc = Double.NaN;
        double realAcc = Double.NaN;
        long linearBytes;
        double predictedMs = Double.NaN;
        double medianMs = Double.NaN;
        double cpuMs = Double.NaN;

        Row(Map<String, Precision> assignment) {
            this.assignment = assignment;
        }
    }

    /**
     * Times every model on the case's speed input: {@code rounds} interleaved rounds after 2
     * warm-ups, one forward per model per round; returns, by name, the median wall time and the
     * median CPU time of the calling thread, in ms. With one intra-op thread libtorch runs every op
     * on the calling thread, so its CPU time is the forward's cost without the time the thread
     * spent waiting for a core that other processes held: on a shared machine it is the steadier of
     * the two.
     */
    private static Map<String, double[]> time(Case c, Map<String, Model> models, int rounds) {
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        Map<String, List<Double>> wall = new LinkedHashMap<>();
        Map<String, List<Double>> cpu = new LinkedHashMap<>();
        models.keySet().forEach(k -> wall.put(k, new ArrayList<>()));
        models.keySet().forEach(k -> cpu.put(k, new ArrayList<>()));
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDList in = c.speedInput(m);
            int warmup = 2;
            for (int r = 0; r < warmup + rounds; r++) {
                for (Map.Entry<String, Model> e : models.entrySet()) {
                    try (NDManager sub = m.newSubManager()) {
                        sub.tempAttachAll(in);
                        ParameterStore ps = new ParameterStore(sub, false);
                        long ca = threads.getCurrentThreadCpuTime();
                        long a = System.nanoTime();
                        NDList out = e.getValue().getBlock().forward(ps, in, false);
                        out.head().toFloatArray();
                        long b = System.nanoTime();
                        long cb = threads.getCurrentThreadCpuTime();
                        if (r >= warmup) {
                            wall.get(e.getKey()).add((b - a) / 1e6);
                            cpu.get(e.getKey()).add((cb - ca) / 1e6);
                        }
                    }
                }
            }
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        wall.forEach((k, v) -> out.put(k, new double[] {Median.of(v), Median.of(cpu.get(k))}));
        return out;
    }

    /**
     * One forward of a model on the timed input, in ms: calling-thread CPU time with one intra-op
     * thread, else wall time (the study's {@link #measure} convention).
     */
    private static double forward(Model model, NDList in, Options o) {
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        try (NDManager sub = model.getNDManager().newSubManager()) {
            sub.tempAttachAll(in);
            ParameterStore ps = new ParameterStore(sub, false);
            long ca = threads.getCurrentThreadCpuTime();
            long a = System.nanoTime();
            NDList out = model.getBlock().forward(ps, in, false);
            out.head().toFloatArray();
            long b = System.nanoTime();
            long cb = threads.getCurrentThreadCpuTime();
            return (measure(o) == 1 ? cb - ca : b - a) / 1e6;
        }
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

    private static void write(Case c, Options o, Map<String, Row> rows, Study s)
            throws IOException, QuantizationException {
        Row fp32 = rows.get("uniform FP32");
        double fp32Acc = fp32.realAcc;
        LatencyCalibration cal = s.calibration;
        StringBuilder md = new StringBuilder();
        md.append("# Mixed-precision policy: ").append(o.title()).append("\n\n");
        md.append(o.dataNote()).append("\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "Budget: %.2f accuracy points below FP32. Every row is built for real and"
                                + " run in place on DJL's PyTorch engine: INT8 dynamic / static"
                                + " through nn.Converter on qengine x86 (per-channel symmetric"
                                + " INT8 weights, full 8-bit UINT8 activations, fbgemm with VNNI;"
                                + " static ranges from a histogram (MSE)), weight-only INT8 / INT4"
                                + " through nn.Converter as WeightOnlyLinear on libtorch's"
                                + " _weight_int8pack_mm / _weight_int4pack_mm_for_cpu in bfloat16"
                                + " compute (INT4: affine, groups of 128 input features, or 64 /"
                                + " 32 where 128 does not divide them), BF16 through"
                                + " HalfPrecisionLinear. A 'uniform' row runs that precision on"
                                + " every layer that can run it and FP32 on the others (listed"
                                + " below). Accuracy: 'real' = that model, 'sim' = the precision"
                                + " simulator (fake quantization / half rounding) the search"
                                + " uses. Throughput: %d interleaved rounds after 2 warm-ups, %d"
                                + " intra-op thread(s), median forward of the timed batch (%d"
                                + " items), a separate timing phase from the calibration runs."
                                + " Size: Linear weights as the kernels hold them + the other"
                                + " parameters in FP32 (%.3f MB). Load average at the end: %s;"
                                + " %s; run time %.0f s.%n%n",
                        o.budgetPoints(),
                        o.rounds(),
                        o.threads(),
                        c.speedItems(),
                        s.otherParamBytes / 1e6,
                        loadAverage(),
                        Instant.now(),
                        s.seconds));
        String mName = measureName(o);
        md.append(
                "| variant | accuracy % (real) | drop (points) | accuracy % (sim) | model MB |"
                        + " Linear MB | items/s (real, wall) | speed-up vs FP32 (wall) | predicted"
                        + " ms (cost model) | measured ms ("
                        + mName
                        + ") | speed-up vs FP32 predicted | speed-up vs FP32 measured ("
                        + mName
                        + ") | predicted / measured speed-up | layers |\n"
                        + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        JsonArray jrows = new JsonArray();
        double worstUniform = 0;
        double worstMixed = 0;
        for (Map.Entry<String, Row> e : rows.entrySet()) {
            Row r = e.getValue();
            double drop = fp32Acc - r.realAcc;
            double mb = (s.otherParamBytes + r.linearBytes) / 1e6;
            double ips = c.speedItems() * 1000 / r.medianMs;
            double measuredMs = measure(o) == 1 ? r.cpuMs : r.medianMs;
            double fp32Measured = measure(o) == 1 ? fp32.cpuMs : fp32.medianMs;
            double predictedSpeedup = fp32.predictedMs / r.predictedMs;
            double measuredSpeedup = fp32Measured / measuredMs;
            double ratio = predictedSpeedup / measuredSpeedup;
            if (r.uniformOf != null) {
                worstUniform = Math.max(worstUniform, Math.abs(ratio - 1));
            } else {
                worstMixed = Math.max(worstMixed, Math.abs(ratio - 1));
            }
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.2f | %.2f | %.2f | %.3f | %.3f | %.1f | %.2f | %.2f | %.2f |"
                                    + " %.2f | %.2f | %.3f%s | %s |%n",
                            label(e.getKey(), r),
                            r.realAcc,
                            drop,
                            r.simAcc,
                            mb,
                            r.linearBytes / 1e6,
                            ips,
                            fp32.medianMs / r.medianMs,
                            r.predictedMs,
                            measuredMs,
                            predictedSpeedup,
                            measuredSpeedup,
                            ratio,
                            r.uniformOf != null && Math.abs(ratio - 1) > TOLERANCE
                                    ? " (outside ±" + Math.round(TOLERANCE * 100) + " %)"
                                    : "",
                            counts(r.assignment)));
            JsonObject j = new JsonObject();
            j.addProperty("variant", label(e.getKey(), r));
            JsonArray by = new JsonArray();
            r.chosenBy.forEach(by::add);
            j.add("chosenBy", by);
            j.addProperty("uniformOf", r.uniformOf == null ? null : r.uniformOf.name());
            j.addProperty("realAccuracyPct", r.realAcc);
            j.addProperty("simulatedAccuracyPct", r.simAcc);
            j.addProperty("dropPoints", drop);
            j.addProperty("modelMB", mb);
            j.addProperty("linearMB", r.linearBytes / 1e6);
            j.addProperty("medianMs", r.medianMs);
            j.addProperty("itemsPerSecond", ips);
            j.addProperty("cpuMs", r.cpuMs);
            j.addProperty("speedupVsFp32Wall", fp32.medianMs / r.medianMs);
            j.addProperty("measuredMs", measuredMs);
            j.addProperty("speedupVsFp32Measured", measuredSpeedup);
            j.addProperty("predictedMs", r.predictedMs);
            j.addProperty("predictedSpeedupVsFp32", predictedSpeedup);
            j.addProperty("predictedOverMeasuredSpeedup", ratio);
            j.addProperty("layers", counts(r.assignment));
            jrows.add(j);
        }
        md.append('\n');
        md.append(
                String.format(
                        Locale.ROOT,
                        "Predicted vs measured: the cost model predicts each row's whole-model"
                                + " latency (per-layer costs in isolation calibrated with the"
                                + " whole-model runs below, LatencyCalibration, timed as %s: with"
                                + " one intra-op thread every op runs on the calling thread, so its"
                                + " CPU time leaves out the time other processes held the core)."
                                + " Its speed-up vs"
                                + " FP32 is compared with the speed-up measured in the timing phase"
                                + " (a ratio within one run, so a change of machine load between"
                                + " the calibration runs and the timing phase cancels; the ms"
                                + " columns are shown as they are). Uniform rows (the calibration"
                                + " points, re-timed): worst deviation %.1f %% (stated tolerance"
                                + " ±%.0f %%). Mixed rows, which the calibration never saw: worst"
                                + " deviation %.1f %%.%n%n",
                        mName,
                        100 * worstUniform,
                        100 * TOLERANCE,
                        100 * worstMixed));
        md.append(chosenVsUniform(rows, fp32, o, s));
        md.append(
                "Cost model calibration (whole-model runs, "
                        + mName
                        + ", "
                        + s.calibrationSource
                        + "; per-layer costs in isolation at the sensitivity batch shape, "
                        + mName
                        + ", cached per machine):\n\n"
                        + "| precision | Σ isolated Linear ms | whole model ms (calibration run)"
                        + " | speed-up vs FP32 (isolated Linear sum) | speed-up vs FP32 (whole"
                        + " model) |\n|---|---|---|---|---|\n");
        double isoFp32 = latency(s.isolated, s.layers, uniform(s.layers, Precision.FP32));
        double wholeFp32 = cal.wholeModelMs().get(Precision.FP32);
        JsonArray jcal = new JsonArray();
        for (Row r : rows.values()) {
            if (r.uniformOf == null) {
                continue;
            }
            double iso = latency(s.isolated, s.layers, r.assignment);
            double wm = cal.wholeModelMs().get(r.uniformOf);
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.3f | %.2f | %.2f | %.2f |%n",
                            r.uniformOf,
                            iso,
                            wm,
                            isoFp32 / iso,
                            wholeFp32 / wm));
            JsonObject j = new JsonObject();
            j.addProperty("precision", r.uniformOf.name());
            j.addProperty("isolatedLinearMs", iso);
            j.addProperty("wholeModelMs", wm);
            jcal.add(j);
        }
        md.append(
                String.format(
                        Locale.ROOT,
                        "%nThe search minimises Σ calibrated per-layer latency = predicted whole-model"
                                + " latency − %.2f ms. FP16 per-layer cost (isolated sum %.3f ms)"
                                + " is measured for reference; FP16 is not searched.%n%n",
                        cal.remainderMs(),
                        s.fp16Ms));
        if (!s.excluded.isEmpty()) {
            md.append("Refused per layer (the in-place kernel cannot take the weight shape):\n\n");
            s.excluded.forEach(
                    (k, v) -> md.append("- ").append(k).append(": ").append(v).append('\n'));
            md.append('\n');
        }
        md.append(
                searchNote(
                        "Fallback search (latency objective, calibrated costs)",
                        s.headline,
                        s.headlineFailure,
                        s));
        if (o.sizeSearch()) {
            md.append(searchNote("Size search (size objective)", s.small, s.smallFailure, s));
        }
        SensitivityReport sensitivity = s.sensitivity;
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
        if (s.headline != null) {
            md.append("## Chosen policy (fallback)\n\n").append(s.headline.policy().toTable());
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
        root.addProperty("seconds", s.seconds);
        root.addProperty("otherParamsMB", s.otherParamBytes / 1e6);
        root.addProperty("tolerance", TOLERANCE);
        root.addProperty("latencyMeasure", measureName(o));
        root.addProperty("worstUniformSpeedupDeviation", worstUniform);
        root.addProperty("worstMixedSpeedupDeviation", worstMixed);
        root.add("rows", jrows);
        JsonObject jc = new JsonObject();
        jc.addProperty("source", s.calibrationSource);
        jc.addProperty("remainderMs", cal.remainderMs());
        jc.add("uniform", jcal);
        root.add("calibration", jc);
        JsonObject ex = new JsonObject();
        s.excluded.forEach(ex::addProperty);
        root.add("refused", ex);
        root.add("fallback", searchJson(s.headline, s.headlineFailure));
        if (o.sizeSearch()) {
            root.add("sizeSearch", searchJson(s.small, s.smallFailure));
        }
        Files.writeString(
                o.out().resolve("policy.json"),
                new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(root) + "\n",
                StandardCharsets.UTF_8);
        List<Candidate> all = new ArrayList<>();
        if (s.headline != null) {
            all.addAll(s.headline.tried());
        }
        if (s.small != null) {
            all.addAll(s.small.tried());
        }
        writePareto(
                o.out().resolve("pareto.png"),
                o.title(),
                all,
                rows,
                fp32.simAcc,
                cal.remainderMs());
    }

    private static String searchNote(String name, SearchResult r, String failure, Study s) {
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
                        r.paretoFrontier().size())
                + verificationNote(r, s);
    }

    /**
     * Compares the fallback's chosen row with the uniform rows the search found within budget
     * (simulated drop), in the timing phase: the verification chose the fastest it measured, and
     * this says whether the separate timing phase agrees.
     */
    private static String chosenVsUniform(Map<String, Row> rows, Row fp32, Options o, Study s) {
        if (s.headline == null) {
            return "";
        }
        Row chosen = null;
        for (Row r : rows.values()) {
            if (r.assignment.equals(s.headline.policy().assignment())) {
                chosen = r;
            }
        }
        if (chosen == null) {
            return "";
        }
        double chosenMs = measure(o) == 1 ? chosen.cpuMs : chosen.medianMs;
        List<String> faster = new ArrayList<>();
        int within = 0;
        for (Map.Entry<String, Row> e : rows.entrySet()) {
            Row r = e.getValue();
            if (r.uniformOf == null || r == chosen || fp32.simAcc - r.simAcc > o.budgetPoints()) {
                continue;
            }
            within++;
            double ms = measure(o) == 1 ? r.cpuMs : r.medianMs;
            if (ms < chosenMs) {
                String verified = "not among the verified candidates";
                for (VerifiedLatency v : s.headline.verified()) {
                    if (s.headline.tried().get(v.order()).assignment().equals(r.assignment)) {
                        verified =
                                String.format(Locale.ROOT, "verification %.2f ms", v.measuredMs());
                    }
                }
                faster.add(
                        String.format(
                                Locale.ROOT,
                                "%s %.2f ms (%.1f %% faster; %s)",
                                e.getKey(),
                                ms,
                                100 * (1 - ms / chosenMs),
                                verified));
            }
        }
        double chosenVerified = Double.NaN;
        for (VerifiedLatency v : s.headline.verified()) {
            if (v.chosen()) {
                chosenVerified = v.measuredMs();
            }
        }
        return String.format(
                Locale.ROOT,
                "Chosen row vs the %d other uniform rows within budget (simulated drop), timing"
                        + " phase: chosen %.2f ms (verification %.2f ms); %s.%n%n",
                within,
                chosenMs,
                chosenVerified,
                faster.isEmpty()
                        ? "no uniform row within budget measured faster"
                        : "measured faster in the timing phase, a separate measurement from the"
                                + " verification that chose: "
                                + String.join(", ", faster));
    }

    /**
     * The measured verification of a search as Markdown: every candidate built and timed as a whole
     * model before choosing, predicted and measured.
     */
    private static String verificationNote(SearchResult r, Study s) {
        if (r.verified().isEmpty()) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        sb.append(
                String.format(
                        Locale.ROOT,
                        "Measured verification: the %d best predicted candidates within budget and"
                                + " the uniform ones (at most %d), each built for real and timed as"
                                + " a whole model in interleaved rounds on the timed input; the"
                                + " chosen one is the fastest measured (size search: the smallest,"
                                + " then the fastest measured).%n%n"
                                + "| # | candidate | predicted ms | measured ms | predicted /"
                                + " measured | chosen |%n|---|---|---|---|---|---|%n",
                        VERIFY_TOP,
                        s.verificationLimit));
        for (VerifiedLatency v : r.verified()) {
            sb.append(
                    String.format(
                            Locale.ROOT,
                            "| %d | %s | %.2f | %.2f | %.3f | %s |%n",
                            v.order(),
                            v.note(),
                            v.predictedMs(),
                            v.measuredMs(),
                            v.predictedMs() / v.measuredMs(),
                            v.chosen() ? "yes" : ""));
        }
        return sb.append('\n').toString();
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
            j.addProperty("calibratedLinearMs", c.latencyMs());
            j.addProperty("linearBytes", c.bytes());
            j.addProperty("pareto", r.paretoFrontier().contains(c));
            tried.add(j);
        }
        o.add("candidates", tried);
        o.add("verified", VerifiedLatency.toJson(r.verified()));
        return o;
    }

    /** Two panels: simulated accuracy vs Linear latency, and vs Linear size. */
    private static void writePareto(
            Path file,
            String title,
            List<Candidate> tried,
            Map<String, Row> rows,
            double fp32,
            double remainderMs)
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
                    title
                            + ": accuracy (simulated, held-out) vs predicted whole-model latency"
                            + " and Linear size",
                    10,
                    22);
            List<Candidate> front = PolicySearch.paretoFrontier(tried);
            panel(g, 70, 60, 420, 420, tried, front, rows, fp32, remainderMs, true);
            panel(g, 580, 60, 420, 420, tried, front, rows, fp32, remainderMs, false);
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
            g.drawString("latency: cost model calibrated with whole-model runs", 1020, ly + 64);
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
            double remainderMs,
            boolean latency) {
        List<double[]> pts = new ArrayList<>();
        for (Candidate c : tried) {
            pts.add(
                    new double[] {
                        latency ? c.latencyMs() + remainderMs : c.bytes() / 1e6, c.metric()
                    });
        }
        for (Row r : rows.values()) {
            pts.add(new double[] {latency ? r.predictedMs : r.linearBytes / 1e6, r.simAcc});
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
                        ? "predicted whole-model latency, ms (calibrated cost model)"
                        : "Linear weights, MB",
                left + 60,
                top + ph + 36);
        g.drawString("accuracy % (sim)", left, top - 8);
        g.setColor(new Color(0xAAAAAA));
        g.drawLine(left, (int) sy.applyAsDouble(fp32), left + pw, (int) sy.applyAsDouble(fp32));
        for (Candidate c : tried) {
            double x = latency ? c.latencyMs() + remainderMs : c.bytes() / 1e6;
            g.fillOval((int) sx.applyAsDouble(x) - 3, (int) sy.applyAsDouble(c.metric()) - 3, 6, 6);
        }
        Color[] cs = palette();
        int k = 0;
        for (Row r : rows.values()) {
            g.setColor(cs[k++ % cs.length]);
            double x = latency ? r.predictedMs : r.linearBytes / 1e6;
            g.fillRect((int) sx.applyAsDouble(x) - 5, (int) sy.applyAsDouble(r.simAcc) - 5, 10, 10);
        }
        // the frontier on top, as rings, so that table rows under it stay visible
        g.setColor(new Color(0x2E86C1));
        g.setStroke(new BasicStroke(2));
        for (Candidate c : front) {
            double x = latency ? c.latencyMs() + remainderMs : c.bytes() / 1e6;
            g.drawOval(
                    (int) sx.applyAsDouble(x) - 7, (int) sy.applyAsDouble(c.metric()) - 7, 14, 14);
        }
    }
}
