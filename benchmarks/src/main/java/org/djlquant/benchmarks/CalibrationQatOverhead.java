package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.eval.Median;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertLayer;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;

/**
 * The cost of the prepare / calibrate / train stages, as ratios measured in one run: (a)
 * calibration time over FP32 inference time on the same batches (target at most 1.5x) and (b) QAT
 * training-step time over FP32 training-step time (target at most 1.5x), on two models:
 *
 * <ul>
 *   <li>the Fashion-MNIST CNN of the examples (conv 5x5x8 - pool - conv 5x5x16 - pool - fc 64 - fc
 *       10), 10 batches of [100, 1, 28, 28] per calibration round, training batch 100;
 *   <li>one BERT-base encoder layer ({@link BertLayer}, hidden 768, 12 heads, intermediate 3072),
 *       input [8, 128, 768] plus an all-zero additive mask, 2 batches per calibration round.
 * </ul>
 *
 * <p>Rows: FP32 inference of the unprepared model; the prepared model with observers and fake
 * quantization off (the twins' own overhead); calibration with the static INT8 fbgemm preset
 * (histogram/MSE activation observers, per-channel min/max weights) and with plain min/max
 * observers; FP32 training step (forward, loss, backward, Adam step); QAT step with the fbgemm QAT
 * preset, observers on (moving-average min/max, as in the first QAT epoch), observers frozen (fake
 * quantization only) and observers on every 4th step (the opt-in {@code
 * QatScheduleListener.optObserveEvery(4)}, timed over 4 steps and divided by 4). All variants of
 * one model run interleaved round after round; medians after warm-up, of wall-clock time and of the
 * benchmark thread's CPU time (with one intra-op thread libtorch computes on that thread, so on a
 * shared machine CPU time leaves out the periods other processes hold the core). Random weights and
 * inputs (timings do not depend on the values).
 *
 * <p>Usage: {@code benchmarks/run-calib-qat-overhead.sh [rounds] [warmup] [threads] [label]}
 * (defaults 7, 2, 1, none). Writes {@code benchmarks/results/calib-qat-overhead[-label].{json,md}}
 * with the load average at the start and at the end (the machine may be shared).
 */
public final class CalibrationQatOverhead {

    private static final int FMNIST_BATCH = 100;
    private static final int FMNIST_CALIB_BATCHES = 10;
    private static final int BERT_BATCH = 8;
    private static final int BERT_SEQ = 128;
    private static final int BERT_HIDDEN = 768;
    private static final int BERT_CALIB_BATCHES = 2;

    private CalibrationQatOverhead() {}

    /** One model under test. */
    private record Subject(
            String name,
            String shape,
            Supplier<Block> factory,
            Shape[] inputShapes,
            int calibBatches,
            Loss loss,
            Supplier<NDList> batch,
            Supplier<NDList> labels) {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds and thread count
     * @throws IOException if the results cannot be written
     * @throws MalformedModelException if parameters cannot be copied between blocks
     */
    public static void main(String[] args) throws IOException, MalformedModelException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        String label = args.length > 3 ? "-" + args[3] : "";
        String loadAtStart = loadAverage();
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(7);

        JsonArray models = new JsonArray();
        StringBuilder md = new StringBuilder();
        md.append("# Calibration and QAT overhead vs FP32\n\n")
                .append(
                        String.format(
                                Locale.ROOT,
                                "PyTorch %s, %d thread(s), %d rounds after %d warm-up, variants"
                                        + " interleaved; CPU: %s (%d cores); load average (1, 5,"
                                        + " 15 min) at the start: %s, at the end: %s; %s\n\n",
                                engine.getVersion(),
                                threads,
                                rounds,
                                warmup,
                                cpuModel(),
                                Runtime.getRuntime().availableProcessors(),
                                loadAtStart,
                                "%LOAD%",
                                Instant.now()))
                .append("Targets: calibration / FP32 inference <= 1.5x; QAT step / FP32 step")
                .append(" <= 1.5x (judged on medians). On a loaded machine the ratio of minima")
                .append(" (fastest round of each variant) is shown too: it is less disturbed by")
                .append(" other processes, and so is the ratio of the medians of thread CPU time")
                .append(
                        " (libtorch runs on the benchmark thread with one intra-op thread; CPU time")
                .append(" leaves out the time other processes hold the core, not their cache and")
                .append(" memory-bandwidth contention).\n\n");
        try (NDManager manager = engine.newBaseManager()) {
            List<Subject> subjects = new ArrayList<>();
            subjects.add(
                    new Subject(
                            "fashion-mnist-cnn",
                            "[100, 1, 28, 28]",
                            CalibrationQatOverhead::cnn,
                            new Shape[] {new Shape(FMNIST_BATCH, 1, 28, 28)},
                            FMNIST_CALIB_BATCHES,
                            Loss.softmaxCrossEntropyLoss(),
                            () ->
                                    new NDList(
                                            manager.randomUniform(
                                                    0, 1, new Shape(FMNIST_BATCH, 1, 28, 28))),
                            () ->
                                    new NDList(
                                            manager.randomInteger(
                                                            0,
                                                            10,
                                                            new Shape(FMNIST_BATCH),
                                                            DataType.INT32)
                                                    .toType(DataType.FLOAT32, false))));
            BertConfig bert =
                    new BertConfig(30522, BERT_HIDDEN, 1, 12, 3072, 512, 2, 1e-12f, -1e4f);
            Shape x = new Shape(BERT_BATCH, BERT_SEQ, BERT_HIDDEN);
            Shape mask = new Shape(BERT_BATCH, 1, 1, BERT_SEQ);
            subjects.add(
                    new Subject(
                            "bert-base-layer",
                            "[8, 128, 768]",
                            () -> new BertLayer(bert),
                            new Shape[] {x, mask},
                            BERT_CALIB_BATCHES,
                            Loss.l2Loss(),
                            () -> new NDList(manager.randomNormal(x), manager.zeros(mask)),
                            () -> new NDList(manager.randomNormal(x))));
            for (Subject s : subjects) {
                System.err.println("benchmarking " + s.name() + " ...");
                Map<String, List<Double>> times = run(s, manager, rounds, warmup);
                models.add(report(s, times, md));
            }
        }
        String load = loadAverage();
        JsonObject root = new JsonObject();
        root.addProperty("benchmark", "calibration-and-qat-overhead");
        root.addProperty("pytorch", engine.getVersion());
        root.addProperty("threads", threads);
        root.addProperty("rounds", rounds);
        root.addProperty("warmup", warmup);
        root.addProperty("cpu", cpuModel());
        root.addProperty("load_average_start", loadAtStart);
        root.addProperty("load_average", load);
        root.addProperty("cores", Runtime.getRuntime().availableProcessors());
        root.addProperty("target_ratio", 1.5);
        root.add("models", models);
        String text = md.toString().replace("%LOAD%", load);
        System.out.print(text);
        Path dir = Paths.get(System.getProperty("results.dir", "benchmarks/results"));
        Files.createDirectories(dir);
        Files.writeString(
                dir.resolve("calib-qat-overhead" + label + ".json"),
                new GsonBuilder().setPrettyPrinting().create().toJson(root),
                StandardCharsets.UTF_8);
        Files.writeString(
                dir.resolve("calib-qat-overhead" + label + ".md"), text, StandardCharsets.UTF_8);
        System.out.println(
                "wrote " + dir.resolve("calib-qat-overhead" + label + ".json") + " and .md");
    }

    /** The Fashion-MNIST CNN of the examples. */
    static SequentialBlock cnn() {
        return new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(5, 5)).setFilters(8).build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Conv2d.builder().setKernelShape(new Shape(5, 5)).setFilters(16).build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(64).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(10).build());
    }

    private static QConfig minMaxStatic() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    /** A block of the subject with the reference parameters. */
    private static Block copy(Subject s, NDManager into, byte[] params)
            throws IOException, MalformedModelException {
        Block b = s.factory().get();
        b.initialize(into, DataType.FLOAT32, s.inputShapes());
        b.loadParameters(into, new DataInputStream(new ByteArrayInputStream(params)));
        return b;
    }

    private interface Timed {
        void run();
    }

    /** Thread CPU time of the benchmark thread (libtorch runs on it with one intra-op thread). */
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** Suffix of the keys that hold the thread CPU times of a variant. */
    private static final String CPU = " #cpu";

    private static Map<String, List<Double>> run(
            Subject s, NDManager manager, int rounds, int warmup)
            throws IOException, MalformedModelException {
        List<Model> models = new ArrayList<>();
        List<Trainer> trainers = new ArrayList<>();
        try {
            Model ref = newModel(models, "ref");
            Block reference = s.factory().get();
            reference.initialize(ref.getNDManager(), DataType.FLOAT32, s.inputShapes());
            ref.setBlock(reference);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                reference.saveParameters(out);
            }
            byte[] params = bytes.toByteArray();

            Model passModel = newModel(models, "passthrough");
            passModel.setBlock(copy(s, passModel.getNDManager(), params));
            Preparer.prepare(
                    passModel, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            Twins.setObserving(passModel.getBlock(), false);
            Twins.setFakeQuant(passModel.getBlock(), false);

            Model histModel = newModel(models, "calib-histogram");
            histModel.setBlock(copy(s, histModel.getNDManager(), params));
            Preparer.prepare(
                    histModel, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            Calibrator hist = Calibrator.builder().setModel(histModel).optProgress(null).build();

            Model mmModel = newModel(models, "calib-minmax");
            mmModel.setBlock(copy(s, mmModel.getNDManager(), params));
            Preparer.prepare(mmModel, QConfigMapping.global(minMaxStatic()));
            Calibrator minMax = Calibrator.builder().setModel(mmModel).optProgress(null).build();

            Trainer fp32Trainer =
                    trainer(s, newModel(models, "train-fp32"), params, null, trainers);
            Trainer qatOn = trainer(s, newModel(models, "qat-on"), params, true, trainers);
            Trainer qatFrozen = trainer(s, newModel(models, "qat-frozen"), params, false, trainers);
            Trainer qatEvery4 = trainer(s, newModel(models, "qat-every-4"), params, true, trainers);
            long[] every4Steps = {0};

            List<NDList> batches = new ArrayList<>();
            for (int i = 0; i < s.calibBatches(); i++) {
                batches.add(s.batch().get());
            }
            NDList trainX = s.batch().get();
            NDList trainY = s.labels().get();
            ParameterStore ps = new ParameterStore(manager, false);

            Map<String, Timed> variants = new LinkedHashMap<>();
            variants.put("FP32 inference", () -> infer(reference, ps, manager, batches));
            variants.put(
                    "prepared, observers and fake-quant off",
                    () -> infer(passModel.getBlock(), ps, manager, batches));
            variants.put("calibration, static INT8 preset (histogram MSE)", null);
            variants.put("calibration, min/max observers", null);
            variants.put("FP32 training step", () -> step(fp32Trainer, s, trainX, trainY));
            variants.put(
                    "QAT step, observers on (moving-average min/max)",
                    () -> step(qatOn, s, trainX, trainY));
            variants.put(
                    "QAT step, observers frozen (fake-quant only)",
                    () -> step(qatFrozen, s, trainX, trainY));
            // what QatScheduleListener.optObserveEvery(4) does: observers on for steps 0, 4, ...
            variants.put(
                    "QAT step, observers every 4th step (opt-in; mean of 4 steps)",
                    () -> {
                        for (int i = 0; i < 4; i++) {
                            Twins.setObserving(
                                    qatEvery4.getModel().getBlock(), every4Steps[0]++ % 4 == 0);
                            step(qatEvery4, s, trainX, trainY);
                        }
                    });

            Map<String, List<Double>> times = new LinkedHashMap<>();
            variants.keySet().forEach(k -> times.put(k, new ArrayList<>()));
            variants.keySet().forEach(k -> times.put(k + CPU, new ArrayList<>()));
            for (int r = 0; r < warmup + rounds; r++) {
                for (Map.Entry<String, Timed> v : variants.entrySet()) {
                    double ms;
                    long cpu0;
                    if (v.getValue() == null) {
                        Calibrator c = v.getKey().contains("histogram") ? hist : minMax;
                        // the calibrator takes ownership of its batches: give it copies, made
                        // before the clock starts
                        List<NDList> copies = new ArrayList<>();
                        NDManager copyManager = manager.newSubManager();
                        for (NDList b : batches) {
                            NDList d = new NDList();
                            for (NDArray a : b) {
                                d.add(a.duplicate());
                            }
                            d.attach(copyManager);
                            copies.add(d);
                        }
                        cpu0 = THREADS.getCurrentThreadCpuTime();
                        long t0 = System.nanoTime();
                        c.calibrate(copies);
                        ms = (System.nanoTime() - t0) / 1e6;
                        copyManager.close();
                    } else {
                        cpu0 = THREADS.getCurrentThreadCpuTime();
                        long t0 = System.nanoTime();
                        v.getValue().run();
                        ms = (System.nanoTime() - t0) / 1e6;
                    }
                    double cpuMs = (THREADS.getCurrentThreadCpuTime() - cpu0) / 1e6;
                    if (v.getKey().contains("mean of 4 steps")) {
                        ms /= 4;
                        cpuMs /= 4;
                    }
                    if (r >= warmup) {
                        times.get(v.getKey()).add(ms);
                        times.get(v.getKey() + CPU).add(cpuMs);
                    }
                }
            }
            return times;
        } finally {
            trainers.forEach(Trainer::close);
            models.forEach(Model::close);
        }
    }

    private static Model newModel(List<Model> models, String name) {
        Model m = Model.newInstance(name, "PyTorch");
        models.add(m);
        return m;
    }

    /** A trainer on a copy; {@code qatObserving} null for FP32, else QAT with observers on/off. */
    private static Trainer trainer(
            Subject s, Model model, byte[] params, Boolean qatObserving, List<Trainer> trainers)
            throws IOException, MalformedModelException {
        model.setBlock(copy(s, model.getNDManager(), params));
        if (qatObserving != null) {
            Preparer.prepare(model, QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
        }
        DefaultTrainingConfig cfg =
                new DefaultTrainingConfig(s.loss())
                        .optOptimizer(
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(1e-4f))
                                        .build());
        Trainer t = model.newTrainer(cfg);
        trainers.add(t);
        t.initialize(s.inputShapes());
        if (qatObserving != null && !qatObserving) {
            // observers need data before they can be frozen: one step with them on
            step(t, s, s.batch().get(), s.labels().get());
            Twins.setObserving(model.getBlock(), false);
        }
        return t;
    }

    private static void infer(Block block, ParameterStore ps, NDManager m, List<NDList> batches) {
        for (NDList b : batches) {
            try (NDManager sub = m.newSubManager()) {
                sub.tempAttachAll(b);
                block.forward(ps, b, false);
            }
        }
    }

    private static void step(Trainer trainer, Subject s, NDList x, NDList y) {
        try (NDManager sub = trainer.getManager().newSubManager()) {
            sub.tempAttachAll(x, y);
            try (GradientCollector gc = trainer.newGradientCollector()) {
                NDList out = trainer.forward(x);
                NDArray l = s.loss().evaluate(y, out);
                gc.backward(l);
            }
            trainer.step();
        }
    }

    private static double min(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).min().orElse(0);
    }

    private static JsonObject report(Subject s, Map<String, List<Double>> times, StringBuilder md) {
        double infer = Median.of(times.get("FP32 inference"));
        double train = Median.of(times.get("FP32 training step"));
        double inferCpu = Median.of(times.get("FP32 inference" + CPU));
        double trainCpu = Median.of(times.get("FP32 training step" + CPU));
        double inferMin = min(times.get("FP32 inference"));
        double trainMin = min(times.get("FP32 training step"));
        md.append("## ")
                .append(s.name())
                .append(", input ")
                .append(s.shape())
                .append(
                        String.format(
                                Locale.ROOT, ", %d batch(es) per calibration", s.calibBatches()))
                .append(
                        "\n\n| variant | median ms | min ms | ratio (medians) | ratio (minima) |"
                                + " median CPU ms | ratio (CPU medians) | vs | target met"
                                + " (medians) |\n")
                .append("|---|---|---|---|---|---|---|---|---|\n");
        JsonObject o = new JsonObject();
        o.addProperty("model", s.name());
        o.addProperty("input", s.shape());
        o.addProperty("calibration_batches", s.calibBatches());
        JsonArray rows = new JsonArray();
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            String k = e.getKey();
            if (k.endsWith(CPU)) {
                continue;
            }
            boolean training = k.contains("step");
            double cpuMed = Median.of(times.get(k + CPU));
            double cpuBase = training ? trainCpu : inferCpu;
            double base = training ? train : infer;
            double baseMin = training ? trainMin : inferMin;
            double med = Median.of(e.getValue());
            double min = e.getValue().stream().mapToDouble(Double::doubleValue).min().orElse(0);
            boolean targeted = k.startsWith("calibration") || k.startsWith("QAT");
            String met = targeted ? (med / base <= 1.5 ? "yes" : "NO") : "";
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.1f | %.1f | %.2fx | %.2fx | %.1f | %.2fx | %s | %s |\n",
                            k,
                            med,
                            min,
                            med / base,
                            min / baseMin,
                            cpuMed,
                            cpuMed / cpuBase,
                            training ? "FP32 step" : "FP32 inference",
                            met));
            JsonObject r = new JsonObject();
            r.addProperty("variant", k);
            r.addProperty("median_ms", med);
            r.addProperty("min_ms", min);
            r.addProperty("ratio", med / base);
            r.addProperty("ratio_of_minima", min / baseMin);
            r.addProperty("median_cpu_ms", cpuMed);
            r.addProperty("ratio_of_cpu_medians", cpuMed / cpuBase);
            r.addProperty("baseline", training ? "FP32 training step" : "FP32 inference");
            if (targeted) {
                r.addProperty("target_met", med / base <= 1.5);
            }
            JsonArray t = new JsonArray();
            e.getValue().forEach(d -> t.add(Math.round(d * 1000) / 1000.0));
            r.add("times_ms", t);
            JsonArray c = new JsonArray();
            times.get(k + CPU).forEach(d -> c.add(Math.round(d * 1000) / 1000.0));
            r.add("cpu_times_ms", c);
            rows.add(r);
        }
        md.append('\n');
        o.add("results", rows);
        return o;
    }

    private static String loadAverage() {
        try {
            String[] parts = Files.readString(Paths.get("/proc/loadavg")).trim().split(" ");
            return parts[0] + " " + parts[1] + " " + parts[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException e) {
            return "unknown";
        }
        return "unknown";
    }
}
