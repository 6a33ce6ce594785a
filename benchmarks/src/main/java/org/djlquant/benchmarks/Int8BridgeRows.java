package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.function.Function;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.eval.SpeedMeter;

/**
 * What the INT8 bridge runners ({@link FfnInt8Bridge}, {@link ConvInt8Bridge}) share: timing a set
 * of named variants on one input with {@link SpeedMeter#measureInterleaved} and measuring their
 * errors against the first variant (the FP32 reference), and writing the measured rows as a
 * Markdown table and a JSON {@code results} array with speed-ups vs FP32 libtorch and the fastest
 * FP32 variant, the in place / exported ratio of paired variants ({@code "X, in place"} with {@code
 * "X, exported"}) and the first call after a pause.
 *
 * <p>Stateless; called from one thread by a runner's {@code main}.
 */
final class Int8BridgeRows {

    private static final String IN_PLACE = ", in place";
    private static final String EXPORTED = ", exported";

    private Int8BridgeRows() {}

    /**
     * What a runner's command line and start-up decide.
     *
     * @param qengine the quantized engine, selected
     * @param target the preset target for that engine ({@code QNNPACK} or {@code FBGEMM})
     * @param meter the meter: rounds, warm-up, settle, lead-in and burst from the arguments
     * @param engine the PyTorch engine, started with one intra-op and one inter-op thread
     * @param loadStart the load average at the start
     */
    record Setup(
            QEngine qengine,
            BackendTarget target,
            SpeedMeter meter,
            Engine engine,
            String loadStart) {

        /**
         * Returns whether the INT8 timings are a speed result (not on qnnpack, SSE-only on x86).
         */
        boolean speedIsResult() {
            return qengine != QEngine.QNNPACK;
        }
    }

    /**
     * Reads {@code [rounds] [warmup] [qengine] [settle-ms] [lead-in] [burst]} (defaults 15, 3, x86,
     * 30, 3, 5), starts PyTorch with one thread and selects the quantized engine.
     *
     * @param args the runner's arguments
     * @return the setup
     */
    static Setup start(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        QEngine qengine = QEngine.fromName(args.length > 2 ? args[2] : "x86");
        SpeedMeter meter =
                Results.bursts(
                        new SpeedMeter(warmup, rounds).withSettle(Results.settle(args, 3)),
                        args,
                        4);
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        QEngine.select(qengine);
        String loadStart = Results.loadAverage();
        BackendTarget target =
                qengine == QEngine.QNNPACK ? BackendTarget.QNNPACK : BackendTarget.FBGEMM;
        return new Setup(qengine, target, meter, engine, loadStart);
    }

    /**
     * One measured variant in one configuration; rows with equal workload, input and threads are
     * compared with each other.
     *
     * @param workload the workload name, or {@code null} where the runner has only one (no column)
     * @param input the input shape as written in both outputs, e.g. {@code [8, 128, 768]}
     * @param threads libtorch intra-op threads
     * @param variant the variant name
     * @param pair the in place / exported counterpart's name, or {@code null}
     * @param median median ms per call
     * @param min minimum ms per call
     * @param firstCall median ms of the first call after a pause
     * @param maxAbsErr max abs error vs the reference
     * @param relRmsErr relative RMS error vs the reference
     * @param vsPairDiff max abs difference to the pair's output, NaN without a pair
     */
    record Row(
            String workload,
            String input,
            int threads,
            String variant,
            String pair,
            double median,
            double min,
            double firstCall,
            double maxAbsErr,
            double relRmsErr,
            double vsPairDiff) {

        boolean sameConfiguration(Row o) {
            return Objects.equals(workload, o.workload)
                    && input.equals(o.input)
                    && threads == o.threads;
        }
    }

    /**
     * Runs every variant once for its output, then times them interleaved; the first variant is the
     * reference the errors are measured against.
     *
     * @param manager the manager whose sub-managers hold each call's arrays
     * @param x the input, its first dimension the batch size
     * @param workload the workload name or {@code null}
     * @param input the input as written in the outputs
     * @param threads the threads set for this configuration
     * @param variants the variants, reference first
     * @param meter the meter
     * @return one row per variant, in the variants' order
     */
    static List<Row> measure(
            NDManager manager,
            NDArray x,
            String workload,
            String input,
            int threads,
            Map<String, Function<NDArray, NDArray>> variants,
            SpeedMeter meter) {
        Map<String, float[]> outputs = new LinkedHashMap<>();
        Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
        for (Map.Entry<String, Function<NDArray, NDArray>> v : variants.entrySet()) {
            try (NDManager sub = manager.newSubManager()) {
                sub.tempAttachAll(x);
                outputs.put(v.getKey(), v.getValue().apply(x).toFloatArray());
            }
            // libtorch and ONNX Runtime CPU calls are synchronous; a timed call includes freeing
            // what it made (its sub-manager)
            works.put(
                    v.getKey(),
                    run -> {
                        try (NDManager sub = manager.newSubManager()) {
                            sub.tempAttachAll(x);
                            v.getValue().apply(x);
                        }
                    });
        }
        int batch = (int) x.getShape().get(0);
        Map<String, SpeedMeter.Timing> timings = meter.measureInterleaved(batch, works);
        float[] ref = outputs.values().iterator().next();
        List<Row> rows = new ArrayList<>();
        for (String k : variants.keySet()) {
            String pair = null;
            if (k.endsWith(IN_PLACE)) {
                pair = k.replace(IN_PLACE, EXPORTED);
            } else if (k.endsWith(EXPORTED)) {
                pair = k.replace(EXPORTED, IN_PLACE);
            }
            double[] err = error(outputs.get(k), ref);
            double pairDiff =
                    pair == null ? Double.NaN : maxAbsDiff(outputs.get(k), outputs.get(pair));
            SpeedMeter.Timing t = timings.get(k);
            rows.add(
                    new Row(
                            workload,
                            input,
                            threads,
                            k,
                            pair,
                            t.medianMillis(),
                            t.minMillis(),
                            t.firstAfterPauseMedianMillis(),
                            err[0],
                            err[1],
                            pairDiff));
        }
        return rows;
    }

    /**
     * Runs a predictor on one array.
     *
     * @param p the predictor
     * @param in the input
     * @return the single output, owned by the manager the predictor attaches it to (the caller's
     *     sub-manager in {@link #measure})
     */
    static NDArray predict(Predictor<NDList, NDList> p, NDArray in) {
        try {
            return p.predict(new NDList(in)).singletonOrThrow();
        } catch (TranslateException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Loads an exported TorchScript model with plain DJL {@code Criteria}.
     *
     * @param dir the model directory
     * @param name the model name
     * @return the model; the caller closes it
     * @throws ModelNotFoundException if no model is found
     * @throws MalformedModelException if the model cannot be read
     * @throws IOException if the files cannot be read
     */
    static ZooModel<NDList, NDList> load(Path dir, String name)
            throws ModelNotFoundException, MalformedModelException, IOException {
        return Criteria.builder()
                .setTypes(NDList.class, NDList.class)
                .optEngine("PyTorch")
                .optModelPath(dir)
                .optModelName(name)
                .build()
                .loadModel();
    }

    /**
     * Draws {@code n} values from N(0, std²).
     *
     * @param random the source
     * @param n how many
     * @param std the standard deviation
     * @return the values
     */
    static float[] gaussian(Random random, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    /**
     * Starts the Markdown: the title, the line that says how and where it was measured and, on
     * qnnpack, the warning that the INT8 timings are no speed result.
     *
     * @param title the title, without {@code #}
     * @param setup the run's setup
     * @param cpu the CPU model
     * @param load the load average now
     * @return the Markdown so far
     */
    static StringBuilder preamble(String title, Setup setup, String cpu, String load) {
        StringBuilder md = new StringBuilder();
        md.append("# ").append(title).append("\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "qengine %s, variants interleaved per configuration: %s; CPU: %s; load"
                                + " average at the start: %s, at the end: %s; %s\n\n",
                        setup.qengine().pytorchName(),
                        setup.meter().methodology(),
                        cpu,
                        setup.loadStart(),
                        load,
                        Instant.now()));
        if (!setup.speedIsResult()) {
            md.append(
                    "**qnnpack on x86 runs SSE-only kernels: these INT8 timings check"
                            + " correctness, they are not a speed result (and say nothing about"
                            + " ARM).**\n\n");
        }
        return md;
    }

    /**
     * Appends the rows as a Markdown table (a workload column first when {@code withWorkload}) and
     * as the JSON {@code results} array, which closes the JSON object.
     *
     * @param md the Markdown
     * @param json the JSON, its last field written without a trailing comma
     * @param rows the rows
     * @param withWorkload whether the rows carry a workload (column and key)
     */
    static void appendTable(
            StringBuilder md, StringBuilder json, List<Row> rows, boolean withWorkload) {
        md.append(withWorkload ? "| workload " : "")
                .append(
                        "| input | threads | variant | median ms | min ms | speed-up vs libtorch"
                                + " FP32 | speed-up vs fastest FP32 | in place / exported (median;"
                                + " min) | first call after pause ms | first call: speed-up vs"
                                + " fastest FP32 first call | max abs err vs FP32 | rel RMS err |"
                                + " max |in place - exported| |\n")
                .append(withWorkload ? "|---" : "")
                .append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        json.append(",\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            double libtorch = Double.NaN;
            double fastest = Double.MAX_VALUE;
            double fastestFirst = Double.MAX_VALUE;
            double pairMedian = Double.NaN;
            double pairMin = Double.NaN;
            for (Row o : rows) {
                if (!o.sameConfiguration(r)) {
                    continue;
                }
                if (o.variant().startsWith("FP32 libtorch")) {
                    libtorch = o.median();
                }
                if (o.variant().startsWith("FP32")) {
                    fastest = Math.min(fastest, o.median());
                    fastestFirst = Math.min(fastestFirst, o.firstCall());
                }
                if (o.variant().equals(r.pair())) {
                    pairMedian = o.median();
                    pairMin = o.min();
                }
            }
            boolean inPlace = r.variant().endsWith("in place");
            double ratio =
                    r.pair() == null
                            ? Double.NaN
                            : inPlace ? r.median() / pairMedian : pairMedian / r.median();
            double ratioMin =
                    r.pair() == null ? Double.NaN : inPlace ? r.min() / pairMin : pairMin / r.min();
            if (withWorkload) {
                md.append("| ").append(r.workload()).append(' ');
            }
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %d | %s | %.2f | %.2f | %.2fx | %.2fx | %s | %.2f | %.2fx | %.4f |"
                                    + " %.4f | %s |\n",
                            r.input(),
                            r.threads(),
                            r.variant(),
                            r.median(),
                            r.min(),
                            libtorch / r.median(),
                            fastest / r.median(),
                            Double.isNaN(ratio)
                                    ? ""
                                    : String.format(Locale.ROOT, "%.2f; %.2f", ratio, ratioMin),
                            r.firstCall(),
                            fastestFirst / r.firstCall(),
                            r.maxAbsErr(),
                            r.relRmsErr(),
                            Double.isNaN(r.vsPairDiff())
                                    ? ""
                                    : String.format(Locale.ROOT, "%.2g", r.vsPairDiff())));
            json.append("    {");
            if (withWorkload) {
                json.append("\"workload\": \"").append(r.workload()).append("\", ");
            }
            json.append(
                    String.format(
                            Locale.ROOT,
                            "\"input\": %s, \"threads\": %d, \"variant\": \"%s\","
                                    + " \"median_ms\": %.3f, \"min_ms\": %.3f,"
                                    + " \"speedup_vs_libtorch_fp32\": %.3f,"
                                    + " \"speedup_vs_fastest_fp32\": %.3f,"
                                    + " \"in_place_over_exported\": %s,"
                                    + " \"in_place_over_exported_min\": %s,"
                                    + " \"first_call_after_pause_ms\": %.3f,"
                                    + " \"first_call_speedup_vs_fastest_fp32_first_call\": %.3f,"
                                    + " \"max_abs_err\": %.5f, \"rel_rms_err\": %.5f,"
                                    + " \"max_abs_diff_in_place_vs_exported\": %s}%s\n",
                            r.input(),
                            r.threads(),
                            r.variant(),
                            r.median(),
                            r.min(),
                            libtorch / r.median(),
                            fastest / r.median(),
                            fmt(ratio, "%.3f"),
                            fmt(ratioMin, "%.3f"),
                            r.firstCall(),
                            fastestFirst / r.firstCall(),
                            r.maxAbsErr(),
                            r.relRmsErr(),
                            fmt(r.vsPairDiff(), "%.3g"),
                            i + 1 < rows.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
    }

    /** Returns {max abs error, relative RMS error} against the FP32 reference. */
    private static double[] error(float[] y, float[] ref) {
        double max = 0;
        double se = 0;
        double sr = 0;
        for (int i = 0; i < y.length; i++) {
            double d = y[i] - ref[i];
            max = Math.max(max, Math.abs(d));
            se += d * d;
            sr += (double) ref[i] * ref[i];
        }
        return new double[] {max, Math.sqrt(se / sr)};
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static String fmt(double v, String format) {
        return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, format, v);
    }
}
