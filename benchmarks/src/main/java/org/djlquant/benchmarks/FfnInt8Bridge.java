package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizedActivation;

/**
 * Times a transformer feed-forward block, 768 -> 3072 -> ReLU -> 768 on an input of shape [8, 128,
 * 768], on one thread: libtorch FP32 (DJL's {@code Linear.linear}), ONNX Runtime FP32 (the best
 * FP32 on CPUs where libtorch's MKL is slow), dynamic INT8 and static INT8 (ReLU fused) through
 * {@link PackedLinear}, the latter also with the hidden activation kept quantized between the
 * layers ({@link QuantizedActivation}). The variants run interleaved, round after round, and the
 * medians are compared within this one run.
 *
 * <p>Usage: {@code benchmarks/run-ffn-int8.sh [rounds] [warmup] [qengine]} (defaults 15, 3, x86).
 * Speed-ups are ratios within one run; absolute times depend on the machine and its load.
 */
public final class FfnInt8Bridge {

    private static final int BATCH = 8;
    private static final int SEQ = 128;
    private static final int HIDDEN = 768;
    private static final int FFN = 3072;

    private FfnInt8Bridge() {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds and quantized engine name
     * @throws QuantizationException if the INT8 layers cannot be built
     * @throws IOException if the results cannot be written
     * @throws MalformedModelException if ONNX Runtime refuses the FP32 graph
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, MalformedModelException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        QEngine qengine = QEngine.fromName(args.length > 2 ? args[2] : "x86");
        // one thread for libtorch's intra-op and inter-op pools, set before the engine starts
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        QEngine.select(qengine);

        Random random = new Random(1);
        float[] w1 = gaussian(random, FFN * HIDDEN, 0.02);
        float[] b1 = gaussian(random, FFN, 0.02);
        float[] w2 = gaussian(random, HIDDEN * FFN, 0.02);
        float[] b2 = gaussian(random, HIDDEN, 0.02);
        float[] input = gaussian(random, BATCH * SEQ * HIDDEN, 1.0);

        try (NDManager manager = engine.newBaseManager()) {
            NDArray x = manager.create(input, new Shape(BATCH, SEQ, HIDDEN));
            NDArray w1a = manager.create(w1, new Shape(FFN, HIDDEN));
            NDArray b1a = manager.create(b1);
            NDArray w2a = manager.create(w2, new Shape(HIDDEN, FFN));
            NDArray b2a = manager.create(b2);

            Function<NDArray, NDArray> fp32 =
                    in ->
                            Linear.linear(
                                            Linear.linear(in, w1a, b1a)
                                                    .singletonOrThrow()
                                                    .maximum(0),
                                            w2a,
                                            b2a)
                                    .singletonOrThrow();

            // calibration for static INT8: ranges of the input, of the ReLU output and of the
            // output, observed on the FP32 run of this very input (min/max observer)
            float[] ref;
            float[] hiddenRange;
            try (NDManager sub = manager.newSubManager()) {
                sub.tempAttachAll(x); // results of ops on x belong to sub and close with it
                NDArray h = Linear.linear(x, w1a, b1a).singletonOrThrow().maximum(0);
                hiddenRange = range(h.toFloatArray());
                ref = fp32.apply(x).toFloatArray();
            }
            float[] inRange = range(input);
            float[] outRange = range(ref);
            boolean sevenBit = qengine != QEngine.QNNPACK; // fbgemm: 7-bit activations
            int levels = sevenBit ? 127 : 255;
            float[] qIn = affine(inRange, levels);
            float[] qHidden = affine(hiddenRange, levels);
            float[] qOut = affine(outRange, 255);

            Path ortDir = Files.createTempDirectory("ffn-onnx");
            Files.write(ortDir.resolve("ffn.onnx"), OnnxFfn.graph(w1, b1, w2, b2).toByteArray());
            Map<String, String> ortOptions = new LinkedHashMap<>();
            ortOptions.put("interOpNumThreads", "1");
            ortOptions.put("intraOpNumThreads", "1");
            try (Model ortModel = Model.newInstance("ffn", "OnnxRuntime");
                    PackedLinear d1 = dynamic(w1, FFN, HIDDEN, b1);
                    PackedLinear d2 = dynamic(w2, HIDDEN, FFN, b2);
                    PackedLinear s1 =
                            PackedLinear.staticInt8(
                                    w1,
                                    new long[] {FFN, HIDDEN},
                                    symmetricScales(w1, FFN, HIDDEN),
                                    new long[FFN],
                                    0,
                                    b1,
                                    qIn[0],
                                    (long) qIn[1],
                                    qHidden[0],
                                    (long) qHidden[1],
                                    true);
                    PackedLinear s2 =
                            PackedLinear.staticInt8(
                                    w2,
                                    new long[] {HIDDEN, FFN},
                                    symmetricScales(w2, HIDDEN, FFN),
                                    new long[HIDDEN],
                                    0,
                                    b2,
                                    qHidden[0],
                                    (long) qHidden[1],
                                    qOut[0],
                                    (long) qOut[1],
                                    false)) {
                ortModel.load(ortDir, "ffn", ortOptions);
                Predictor<NDList, NDList> ort = ortModel.newPredictor(new NoopTranslator());
                NDManager ortManager = ortModel.getNDManager();
                NDArray ortX = ortManager.create(input, new Shape(BATCH, SEQ, HIDDEN));
                ortX.setName("x");
                // ONNX Runtime computes on its own input; its output is copied to libtorch so
                // every variant returns the same kind of array (the copy is inside the timing)
                Function<NDArray, NDArray> ortFp32 =
                        in -> {
                            try (NDList out = ort.predict(new NDList(ortX))) {
                                return in.getManager()
                                        .create(
                                                out.singletonOrThrow().toFloatArray(),
                                                new Shape(BATCH, SEQ, HIDDEN));
                            } catch (TranslateException e) {
                                throw new IllegalStateException(e);
                            }
                        };
                Function<NDArray, NDArray> dyn = in -> d2.forward(d1.forward(in).maximum(0));
                Function<NDArray, NDArray> stat = in -> s2.forward(s1.forward(in));
                // the hidden activation stays quint8 inside libtorch between the two layers
                Function<NDArray, NDArray> chained =
                        in -> {
                            try (QuantizedActivation xq =
                                            QuantizedActivation.quantize(
                                                    in, qIn[0], (long) qIn[1]);
                                    QuantizedActivation h = s1.forward(xq);
                                    QuantizedActivation y = s2.forward(h)) {
                                return y.dequantize(in.getManager());
                            } catch (QuantizationException e) {
                                throw new IllegalStateException(e);
                            }
                        };

                Map<String, Function<NDArray, NDArray>> variants = new LinkedHashMap<>();
                variants.put("libtorch FP32", fp32);
                variants.put("ONNX Runtime FP32", ortFp32);
                variants.put("INT8 dynamic (PackedLinear)", dyn);
                variants.put("INT8 static, ReLU fused (PackedLinear)", stat);
                variants.put("INT8 static, ReLU fused, INT8 hidden (QuantizedActivation)", chained);

                Map<String, double[]> errors = new LinkedHashMap<>();
                for (Map.Entry<String, Function<NDArray, NDArray>> v : variants.entrySet()) {
                    try (NDManager sub = manager.newSubManager()) {
                        sub.tempAttachAll(x);
                        NDArray y = v.getValue().apply(x);
                        errors.put(v.getKey(), error(y.toFloatArray(), ref));
                    }
                }

                Map<String, List<Double>> times = new LinkedHashMap<>();
                variants.keySet().forEach(k -> times.put(k, new ArrayList<>()));
                for (int r = 0; r < warmup + rounds; r++) {
                    for (Map.Entry<String, Function<NDArray, NDArray>> v : variants.entrySet()) {
                        try (NDManager sub = manager.newSubManager()) {
                            sub.tempAttachAll(x);
                            // libtorch CPU ops are synchronous: the result is complete on return
                            long t0 = System.nanoTime();
                            v.getValue().apply(x);
                            long t1 = System.nanoTime();
                            if (r >= warmup) {
                                times.get(v.getKey()).add((t1 - t0) / 1e6);
                            }
                        }
                    }
                }
                report(qengine, rounds, warmup, times, errors);
            } finally {
                Files.deleteIfExists(ortDir.resolve("ffn.onnx"));
                Files.deleteIfExists(ortDir);
            }
        }
    }

    private static PackedLinear dynamic(float[] w, int out, int in, float[] b)
            throws QuantizationException {
        return PackedLinear.dynamicInt8(
                w, new long[] {out, in}, symmetricScales(w, out, in), new long[out], 0, b);
    }

    private static float[] symmetricScales(float[] w, int out, int in) {
        float[] scales = new float[out];
        for (int o = 0; o < out; o++) {
            float amax = 0;
            for (int i = 0; i < in; i++) {
                amax = Math.max(amax, Math.abs(w[o * in + i]));
            }
            scales[o] = amax > 0 ? amax / 127 : 1e-8f;
        }
        return scales;
    }

    /**
     * Returns {scale, zeroPoint} of an unsigned grid of {@code levels} covering the range and 0.
     */
    private static float[] affine(float[] range, int levels) {
        float lo = Math.min(range[0], 0);
        float hi = Math.max(range[1], 0);
        float scale = (hi - lo) / levels;
        if (scale == 0) {
            scale = 1e-8f;
        }
        long zp = Math.max(0, Math.min(levels, Math.round(-lo / scale)));
        return new float[] {scale, zp};
    }

    private static float[] range(float[] v) {
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        for (float f : v) {
            lo = Math.min(lo, f);
            hi = Math.max(hi, f);
        }
        return new float[] {lo, hi};
    }

    private static float[] gaussian(Random random, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
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

    private static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static void report(
            QEngine qengine,
            int rounds,
            int warmup,
            Map<String, List<Double>> times,
            Map<String, double[]> errors)
            throws IOException {
        String first = times.keySet().iterator().next();
        double base = median(times.get(first));
        double bestFp32 = Double.MAX_VALUE;
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            if (e.getKey().contains("FP32")) {
                bestFp32 = Math.min(bestFp32, median(e.getValue()));
            }
        }
        String cpu = cpuModel();
        StringBuilder md = new StringBuilder();
        md.append("# FFN 768->3072->ReLU->768, input [8, 128, 768], 1 thread\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "qengine %s, %d rounds after %d warm-up, variants interleaved; CPU: %s;"
                                + " load average at the end: %s; %s\n\n",
                        qengine.pytorchName(),
                        rounds,
                        warmup,
                        cpu,
                        loadAverage(),
                        Instant.now()));
        md.append("| variant | median ms | min ms | speed-up vs libtorch FP32 |")
                .append(" speed-up vs best FP32 | max abs err | rel RMS err |\n")
                .append("|---|---|---|---|---|---|---|\n");
        StringBuilder json = new StringBuilder();
        json.append("{\n  \"benchmark\": \"ffn-768-3072-768\",\n")
                .append("  \"input\": [8, 128, 768],\n  \"threads\": 1,\n")
                .append("  \"qengine\": \"")
                .append(qengine.pytorchName())
                .append("\",\n  \"rounds\": ")
                .append(rounds)
                .append(",\n  \"warmup\": ")
                .append(warmup)
                .append(",\n  \"cpu\": \"")
                .append(cpu.replace("\"", "'"))
                .append("\",\n  \"load_average\": \"")
                .append(loadAverage())
                .append("\",\n  \"results\": [\n");
        int i = 0;
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            double med = median(e.getValue());
            double min = e.getValue().stream().mapToDouble(Double::doubleValue).min().orElse(0);
            double[] err = errors.get(e.getKey());
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.1f | %.1f | %.2fx | %.2fx | %.4f | %.4f |\n",
                            e.getKey(),
                            med,
                            min,
                            base / med,
                            bestFp32 / med,
                            err[0],
                            err[1]));
            json.append(
                    String.format(
                            Locale.ROOT,
                            "    {\"variant\": \"%s\", \"median_ms\": %.3f, \"min_ms\": %.3f,"
                                    + " \"speedup_vs_libtorch_fp32\": %.3f,"
                                    + " \"speedup_vs_best_fp32\": %.3f, \"max_abs_err\": %.5f,"
                                    + " \"rel_rms_err\": %.5f, \"times_ms\": %s}%s\n",
                            e.getKey(),
                            med,
                            min,
                            base / med,
                            bestFp32 / med,
                            err[0],
                            err[1],
                            Arrays.toString(
                                    e.getValue().stream()
                                            .mapToDouble(d -> Math.round(d * 1000) / 1000.0)
                                            .toArray()),
                            ++i < times.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
        System.out.print(md);
        Path dir = Paths.get(System.getProperty("results.dir", "benchmarks/results"));
        Files.createDirectories(dir);
        String name = "ffn-int8-bridge-" + qengine.pytorchName();
        Files.writeString(dir.resolve(name + ".json"), json, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve(name + ".md"), md, StandardCharsets.UTF_8);
        System.out.println("wrote " + dir.resolve(name + ".json") + " and .md");
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
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }
}
