package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
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
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.Median;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.WeightOnlyLinear;

/**
 * Size and speed of weight-only INT8 and INT4 on the transformer feed-forward block 768 -> 3072 ->
 * ReLU -> 768, one thread, next to libtorch FP32, ONNX Runtime FP32 and dynamic INT8 (for
 * reference), with the kernels computing in float32 (libtorch's non-vectorized loops) and in
 * bfloat16 (its vectorized loops): the weight-only layers are made the product's way (prepare with
 * {@link QConfig#weightOnlyInt8} / {@link QConfig#weightOnlyInt4}, {@link Converter#convert}) and
 * timed through the block's forward. Two inputs: [8, 128, 768] (the batch) and [1, 1, 768]
 * (one token, where reading the weights dominates). Variants run interleaved, round after round;
 * the medians are compared within this one run.
 *
 * <p>Timing: {@link SpeedMeter#measureInterleaved}, order rotated per round, a settle pause before
 * every timed call (default 30 ms).
 *
 * <p>Usage: {@code benchmarks/run-ffn-weight-only.sh [rounds] [warmup] [settle-ms]} (defaults 3, 1,
 * 30, as the float32-compute rows take tens of seconds a call at [8, 128, 768]; the one-token input
 * runs 20 times as many rounds). Writes {@code benchmarks/results/ffn-weight-only.{json,md}}.
 */
public final class FfnWeightOnly {

    private static final int HIDDEN = 768;
    private static final int FFN = 3072;

    private FfnWeightOnly() {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds and warm-up rounds
     * @throws QuantizationException if a layer cannot be converted
     * @throws IOException if the results cannot be written
     * @throws MalformedModelException if ONNX Runtime refuses the FP32 graph
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, MalformedModelException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        Duration settle = Results.settle(args, 2);
        SpeedMeter described = new SpeedMeter(warmup, rounds).withSettle(settle);
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        QEngine.select(QEngine.X86);

        Random random = new Random(1);
        float[] w1 = gaussian(random, FFN * HIDDEN, 0.02);
        float[] b1 = gaussian(random, FFN, 0.02);
        float[] w2 = gaussian(random, HIDDEN * FFN, 0.02);
        float[] b2 = gaussian(random, HIDDEN, 0.02);

        Map<String, QConfig> configs = new LinkedHashMap<>();
        Map<String, Compute> computes = new LinkedHashMap<>();
        QConfig int8 = QConfig.weightOnlyInt8(BackendTarget.FBGEMM);
        QConfig int4g128 = QConfig.weightOnlyInt4(128, BackendTarget.FBGEMM);
        QConfig int4g32 = QConfig.weightOnlyInt4(32, BackendTarget.FBGEMM);
        configs.put("weight-only INT8 per channel, fp32 compute", int8);
        computes.put("weight-only INT8 per channel, fp32 compute", Compute.FLOAT32);
        configs.put("weight-only INT4 group 128, fp32 compute", int4g128);
        computes.put("weight-only INT4 group 128, fp32 compute", Compute.FLOAT32);
        configs.put("weight-only INT8 per channel, bf16 compute", int8);
        computes.put("weight-only INT8 per channel, bf16 compute", Compute.BFLOAT16);
        configs.put("weight-only INT4 group 128, bf16 compute", int4g128);
        computes.put("weight-only INT4 group 128, bf16 compute", Compute.BFLOAT16);
        configs.put("weight-only INT4 group 32, bf16 compute", int4g32);
        computes.put("weight-only INT4 group 32, bf16 compute", Compute.BFLOAT16);

        StringBuilder json = new StringBuilder();
        StringBuilder md = new StringBuilder();
        md.append("# FFN 768->3072->ReLU->768, weight-only INT8 / INT4, 1 thread\n\n")
                .append(
                        String.format(
                                Locale.ROOT,
                                "qengine x86; variants interleaved: %s ([1, 1, 768]: x20 rounds);"
                                        + " CPU: %s; load average at the start: %s; %s\n\n",
                                described.methodology(),
                                Results.cpuModel(),
                                Results.loadAverage(),
                                Instant.now()));
        json.append("{\n  \"benchmark\": \"ffn-768-3072-768-weight-only\",\n")
                .append("  \"threads\": 1,\n  \"qengine\": \"x86\"")
                .append(Results.methodologyJson(described))
                .append(",\n  \"load_average_start\": \"")
                .append(Results.loadAverage())
                .append("\"")
                .append(",\n  \"cpu\": \"")
                .append(Results.cpuModel().replace("\"", "'"))
                .append("\",\n  \"shapes\": [\n");

        try (NDManager manager = engine.newBaseManager()) {
            Map<String, Block> blocks = new LinkedHashMap<>();
            Map<String, long[]> bytes = new LinkedHashMap<>();
            SequentialBlock fp32Block = ffn(manager, w1, b1, w2, b2);
            blocks.put("libtorch FP32", fp32Block);
            bytes.put("libtorch FP32", new long[] {4L * (w1.length + w2.length), 0});
            for (Map.Entry<String, QConfig> c : configs.entrySet()) {
                SequentialBlock b = ffn(manager, w1, b1, w2, b2);
                Preparer.prepare(b, QConfigMapping.global(c.getValue()));
                ConvertReport report =
                        Converter.convert(b, manager, QEngine.X86, computes.get(c.getKey()));
                long params =
                        report.weightOnlyLinears().stream()
                                .mapToLong(WeightOnlyLinear::paramBytes)
                                .sum();
                bytes.put(c.getKey(), new long[] {report.int8WeightBytes(), params});
                blocks.put(c.getKey(), b);
            }
            Path ortDir = Files.createTempDirectory("ffn-onnx");
            Files.write(ortDir.resolve("ffn.onnx"), OnnxFfn.graph(w1, b1, w2, b2).toByteArray());
            Map<String, String> ortOptions = new LinkedHashMap<>();
            ortOptions.put("interOpNumThreads", "1");
            ortOptions.put("intraOpNumThreads", "1");
            try (Model ortModel = Model.newInstance("ffn", "OnnxRuntime");
                    PackedLinear d1 = dynamic(w1, FFN, HIDDEN, b1);
                    PackedLinear d2 = dynamic(w2, HIDDEN, FFN, b2)) {
                ortModel.load(ortDir, "ffn", ortOptions);
                Predictor<NDList, NDList> ort = ortModel.newPredictor(new NoopTranslator());
                bytes.put(
                        "INT8 dynamic (PackedLinear, reference)",
                        new long[] {(long) w1.length + w2.length, 4L * (FFN + HIDDEN)});
                bytes.put("ONNX Runtime FP32", new long[] {4L * (w1.length + w2.length), 0});
                long[][] shapes = {{8, 128, HIDDEN}, {1, 1, HIDDEN}};
                for (int si = 0; si < shapes.length; si++) {
                    long[] shape = shapes[si];
                    int n = (int) new Shape(shape).size();
                    float[] input = gaussian(new Random(2), n, 1.0);
                    NDArray x = manager.create(input, new Shape(shape));
                    NDArray ortX = ortModel.getNDManager().create(input, new Shape(shape));
                    ortX.setName("x");
                    Map<String, Function<NDArray, NDArray>> variants = new LinkedHashMap<>();
                    for (Map.Entry<String, Block> b : blocks.entrySet()) {
                        Block block = b.getValue();
                        variants.put(
                                b.getKey(),
                                in ->
                                        block.forward(
                                                        new ParameterStore(in.getManager(), false),
                                                        new NDList(in),
                                                        false)
                                                .singletonOrThrow());
                        if (b.getKey().equals("libtorch FP32")) {
                            variants.put(
                                    "ONNX Runtime FP32",
                                    in -> {
                                        try (NDList out = ort.predict(new NDList(ortX))) {
                                            return in.getManager()
                                                    .create(
                                                            out.singletonOrThrow().toFloatArray(),
                                                            new Shape(shape));
                                        } catch (TranslateException e) {
                                            throw new IllegalStateException(e);
                                        }
                                    });
                            variants.put(
                                    "INT8 dynamic (PackedLinear, reference)",
                                    in -> d2.forward(d1.forward(in).maximum(0)));
                        }
                    }
                    float[] ref;
                    try (NDManager sub = manager.newSubManager()) {
                        sub.tempAttachAll(x);
                        ref = variants.get("libtorch FP32").apply(x).toFloatArray();
                    }
                    Map<String, Double> sqnr = new LinkedHashMap<>();
                    for (Map.Entry<String, Function<NDArray, NDArray>> v : variants.entrySet()) {
                        try (NDManager sub = manager.newSubManager()) {
                            sub.tempAttachAll(x);
                            sqnr.put(v.getKey(), sqnr(ref, v.getValue().apply(x).toFloatArray()));
                        }
                    }
                    int r0 = shape[0] == 1 ? 20 : 1;
                    Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
                    for (Map.Entry<String, Function<NDArray, NDArray>> v : variants.entrySet()) {
                        works.put(
                                v.getKey(),
                                run -> {
                                    try (NDManager sub = manager.newSubManager()) {
                                        sub.tempAttachAll(x);
                                        v.getValue().apply(x);
                                    }
                                });
                    }
                    Map<String, SpeedMeter.Timing> timings =
                            new SpeedMeter(warmup * r0, rounds * r0)
                                    .withSettle(settle)
                                    .measureInterleaved(1, works);
                    Map<String, List<Double>> times = new LinkedHashMap<>();
                    timings.forEach(
                            (k, t) ->
                                    times.put(
                                            k,
                                            Arrays.stream(t.nanos())
                                                    .mapToObj(ns -> ns / 1e6)
                                                    .toList()));
                    table(md, json, shape, times, sqnr, bytes, si == shapes.length - 1);
                    x.close();
                }
            } finally {
                Files.deleteIfExists(ortDir.resolve("ffn.onnx"));
                Files.deleteIfExists(ortDir);
            }
        }
        json.append("  ],\n  \"load_average_end\": \"")
                .append(Results.loadAverage())
                .append("\"\n}\n");
        md.append("\nload average at the end: ").append(Results.loadAverage()).append('\n');
        Results.write("ffn-weight-only", json, md);
    }

    private static SequentialBlock ffn(
            NDManager manager, float[] w1, float[] b1, float[] w2, float[] b2) {
        SequentialBlock block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(FFN).build())
                        .add(Activation.reluBlock())
                        .add(Linear.builder().setUnits(HIDDEN).build());
        block.initialize(manager, DataType.FLOAT32, new Shape(1, HIDDEN));
        set(block.getChildren().get(0).getValue(), w1, b1);
        set(block.getChildren().get(2).getValue(), w2, b2);
        return block;
    }

    private static void set(Block linear, float[] w, float[] b) {
        linear.getParameters().get("weight").getArray().set(FloatBuffer.wrap(w));
        linear.getParameters().get("bias").getArray().set(FloatBuffer.wrap(b));
    }

    private static PackedLinear dynamic(float[] w, int out, int in, float[] b)
            throws QuantizationException {
        float[] scales = new float[out];
        for (int o = 0; o < out; o++) {
            float amax = 0;
            for (int i = 0; i < in; i++) {
                amax = Math.max(amax, Math.abs(w[o * in + i]));
            }
            scales[o] = amax > 0 ? amax / 127 : 1e-8f;
        }
        return PackedLinear.dynamicInt8(w, new long[] {out, in}, scales, new long[out], 0, b);
    }

    private static void table(
            StringBuilder md,
            StringBuilder json,
            long[] shape,
            Map<String, List<Double>> times,
            Map<String, Double> sqnr,
            Map<String, long[]> bytes,
            boolean last) {
        double libtorch = Median.of(times.get("libtorch FP32"));
        double best = Math.min(libtorch, Median.of(times.get("ONNX Runtime FP32")));
        long fp32Bytes = bytes.get("libtorch FP32")[0];
        String shapeText = String.format(Locale.ROOT, "[%d, %d, %d]", shape[0], shape[1], shape[2]);
        md.append("\n## input ").append(shapeText).append("\n\n");
        md.append(
                "| variant | median ms | speed-up vs libtorch FP32 | speed-up vs best FP32 |"
                        + " SQNR vs FP32 dB | weight MB | smaller vs FP32 | with scales/zeros |\n"
                        + "|---|---|---|---|---|---|---|---|\n");
        json.append("    {\"input\": ").append(shapeText).append(", \"results\": [\n");
        int i = 0;
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            double med = Median.of(e.getValue());
            long[] b = bytes.get(e.getKey());
            double s = sqnr.get(e.getKey());
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.2f | %.2fx | %.2fx | %s | %.2f | %.2fx | %.2fx |\n",
                            e.getKey(),
                            med,
                            libtorch / med,
                            best / med,
                            Double.isInfinite(s) ? "exact" : String.format(Locale.ROOT, "%.1f", s),
                            b[0] / 1e6,
                            (double) fp32Bytes / b[0],
                            (double) fp32Bytes / (b[0] + b[1])));
            json.append(
                    String.format(
                            Locale.ROOT,
                            "      {\"variant\": \"%s\", \"median_ms\": %.3f,"
                                    + " \"speedup_vs_libtorch_fp32\": %.3f,"
                                    + " \"speedup_vs_best_fp32\": %.3f, \"sqnr_db\": %s,"
                                    + " \"weight_bytes\": %d, \"param_bytes\": %d,"
                                    + " \"size_ratio_vs_fp32\": %.3f}%s\n",
                            e.getKey(),
                            med,
                            libtorch / med,
                            best / med,
                            Double.isInfinite(s) ? "null" : String.format(Locale.ROOT, "%.2f", s),
                            b[0],
                            b[1],
                            (double) fp32Bytes / b[0],
                            ++i < times.size() ? "," : ""));
        }
        json.append("    ]}").append(last ? "\n" : ",\n");
    }

    private static double sqnr(float[] ref, float[] got) {
        double s = 0;
        double n = 0;
        for (int i = 0; i < ref.length; i++) {
            s += (double) ref[i] * ref[i];
            double d = ref[i] - got[i];
            n += d * d;
        }
        return 10 * Math.log10(s / n);
    }

    private static float[] gaussian(Random random, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }
}
