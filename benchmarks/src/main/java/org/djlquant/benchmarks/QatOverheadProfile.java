package org.djlquant.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.djlquant.eval.Median;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.fakequant.FakeQuant;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observer;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Where the calibration and QAT time of a BERT-base layer goes: the single operations the observed
 * twins add, each on the tensor sizes of the layer's FFN (activation [8, 128, 3072], weight [3072,
 * 768]), next to the one matmul they wrap (Linear 768 -> 3072 on [8, 128, 768]). Each operation
 * runs in its own sub-manager; medians of {@link SpeedMeter#measureInterleaved} rounds after
 * warm-up (order rotated per round, a settle pause before every timed call).
 *
 * <p>Usage: {@code java ... org.djlquant.benchmarks.QatOverheadProfile [rounds] [warmup] [threads]
 * [settle-ms]} (defaults 9, 2, 1, 30). Writes {@code
 * benchmarks/results/qat-overhead-profile.{json,md}}.
 */
public final class QatOverheadProfile {

    private QatOverheadProfile() {}

    /**
     * Runs the profile.
     *
     * @param args optional rounds, warm-up rounds and thread count
     * @throws IOException if the results cannot be written
     */
    public static void main(String[] args) throws IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        SpeedMeter meter = new SpeedMeter(warmup, rounds).withSettle(Results.settle(args, 3));
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(3);
        try (NDManager m = engine.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(8, 128, 768));
            NDArray act = m.randomNormal(new Shape(8, 128, 3072));
            NDArray w =
                    m.randomNormal(
                            0, 0.02f, new Shape(3072, 768), ai.djl.ndarray.types.DataType.FLOAT32);
            NDArray b = m.zeros(new Shape(3072));
            QSpec actSpec = QSpec.uint8AffinePerTensor();
            QSpec wSpec = QSpec.int8SymmetricPerChannel(0);
            float[][] ar = NDQuant.minMax(act, Granularity.perTensor());
            QParams actParams = QuantMath.paramsFromMinMax(actSpec, ar[0][0], ar[1][0]);
            float[][] wr = NDQuant.minMax(w, wSpec.granularity());
            QParams wParams = QuantMath.paramsFromMinMax(wSpec, wr[0], wr[1], new long[] {3072});
            Observer hist = Observers.histogram(actSpec, HistogramMethod.MSE).get();
            Observer mm = Observers.minMax(actSpec).get();
            Observer pc = Observers.perChannelMovingAverageMinMax(wSpec, 0.01f).get();

            Map<String, Consumer<NDManager>> ops = new LinkedHashMap<>();
            ops.put(
                    "Linear 768->3072 forward, x [8,128,768] (reference)",
                    s -> Linear.linear(x, w, b));
            ops.put(
                    "Linear 768->3072 forward+backward (reference)",
                    s -> {
                        NDArray wg = w.duplicate();
                        wg.attach(s);
                        wg.setRequiresGradient(true);
                        try (GradientCollector gc = engine.newGradientCollector()) {
                            NDArray y = Linear.linear(x, wg, b).head();
                            gc.backward(y.mean());
                        }
                    });
            ops.put(
                    "histogram observe, act [8,128,3072] (aminmax, 64,199-value subsample to Java)",
                    s -> hist.observe(act));
            ops.put("min/max observe, act [8,128,3072] (one aminmax pass)", s -> mm.observe(act));
            ops.put(
                    "per-channel moving min/max observe, weight [3072,768] (amin + amax)",
                    s -> pc.observe(w));
            ops.put(
                    "FakeQuant.apply per-tensor (clip + in-place rounding), act [8,128,3072], forward",
                    s -> FakeQuant.apply(act, actParams));
            ops.put(
                    "FakeQuant.apply per-tensor (clip + in-place rounding), act, forward+backward",
                    s -> fakeQuantGrad(engine, act, s, a -> FakeQuant.apply(a, actParams)));
            ops.put(
                    "plain STE x+(fq(x)-x).stopGradient(), act, forward+backward",
                    s ->
                            fakeQuantGrad(
                                    engine,
                                    act,
                                    s,
                                    a ->
                                            a.add(
                                                    NDQuant.fakeQuantize(
                                                                    a.stopGradient(), actParams)
                                                            .sub(a)
                                                            .stopGradient())));
            ops.put(
                    "clip-STE c=clip(x,lo,hi); c+(round(c/s)*s-c).stopGradient(), act, fwd+bwd",
                    s -> fakeQuantGrad(engine, act, s, a -> clipSte(a, actParams)));
            ops.put(
                    "FakeQuant.apply per-channel (where form), weight [3072,768], forward+backward",
                    s -> fakeQuantGrad(engine, w, s, a -> FakeQuant.apply(a, wParams)));
            FakeQuant.Prepared wPrepared = FakeQuant.prepare(wParams, w.getShape(), m);
            ops.put(
                    "  same with parameter arrays prepared once (FakeQuant.Prepared)",
                    s -> fakeQuantGrad(engine, w, s, a -> FakeQuant.apply(a, wPrepared)));

            double[] diff = compare(engine, act, actParams, m);
            System.out.printf(
                    Locale.ROOT,
                    "clip-STE vs FakeQuant.apply on act: max |forward diff| %.3g (scale %.3g),"
                            + " max |gradient diff| %.3g%n",
                    diff[0],
                    actParams.scale(),
                    diff[1]);
            Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
            for (Map.Entry<String, Consumer<NDManager>> op : ops.entrySet()) {
                works.put(
                        op.getKey(),
                        run -> {
                            // freeing what the operation made is part of its time
                            try (NDManager s = m.newSubManager()) {
                                s.tempAttachAll(x, act, w, b);
                                op.getValue().accept(s);
                            }
                        });
            }
            Map<String, List<Double>> times = new LinkedHashMap<>();
            meter.measureInterleaved(1, works)
                    .forEach(
                            (k, t) ->
                                    times.put(
                                            k,
                                            java.util.Arrays.stream(t.nanos())
                                                    .mapToObj(ns -> ns / 1e6)
                                                    .toList()));
            write(engine, threads, meter, times, diff);
        }
    }

    /**
     * Per-tensor fake quantization with PyTorch's gradient (1 inside the representable range, 0
     * outside) in 6 ops instead of 15: clipping in float space first makes the integer clip and the
     * explicit mask unnecessary (clip's own gradient is the mask), and with an integer zero point
     * {@code rint(c/s + z) - z == rint(c/s)}.
     */
    private static NDArray clipSte(NDArray a, QParams p) {
        float s = p.scale();
        long z = p.zeroPoints()[0];
        float lo = (p.spec().qmin() - z) * s;
        float hi = (p.spec().qmax() - z) * s;
        NDArray c = a.clip(lo, hi);
        NDArray fq = c.stopGradient().mul(1f / s).round().mul(s);
        return c.add(fq.sub(c).stopGradient());
    }

    /** Returns {max |forward diff|, max |gradient diff|} of clip-STE against FakeQuant.apply. */
    private static double[] compare(Engine engine, NDArray act, QParams p, NDManager m) {
        try (NDManager s = m.newSubManager()) {
            s.tempAttachAll(act);
            // a wider input than the calibrated range, so that clipping and the mask matter
            NDArray in = act.mul(1.5f);
            NDArray up = s.randomNormal(in.getShape());
            NDArray[] out = new NDArray[2];
            NDArray[] grad = new NDArray[2];
            for (int i = 0; i < 2; i++) {
                NDArray g = in.duplicate();
                g.setRequiresGradient(true);
                try (GradientCollector gc = engine.newGradientCollector()) {
                    NDArray y = i == 0 ? FakeQuant.apply(g, p) : clipSte(g, p);
                    out[i] = y.stopGradient().duplicate();
                    gc.backward(y.mul(up).sum());
                }
                grad[i] = g.getGradient().duplicate();
            }
            return new double[] {
                out[0].sub(out[1]).abs().max().getFloat(),
                grad[0].sub(grad[1]).abs().max().getFloat()
            };
        }
    }

    private static void fakeQuantGrad(
            Engine engine,
            NDArray a,
            NDManager s,
            java.util.function.Function<NDArray, NDArray> f) {
        NDArray g = a.duplicate();
        g.attach(s);
        g.setRequiresGradient(true);
        try (GradientCollector gc = engine.newGradientCollector()) {
            gc.backward(f.apply(g).mean());
        }
    }

    private static void write(
            Engine engine,
            int threads,
            SpeedMeter meter,
            Map<String, List<Double>> times,
            double[] diff)
            throws IOException {
        String first = times.keySet().iterator().next();
        double ref = Median.of(times.get(first));
        StringBuilder md = new StringBuilder();
        md.append("# Where calibration / QAT time goes (BERT-base FFN sizes)\n\n")
                .append(
                        String.format(
                                Locale.ROOT,
                                "PyTorch %s, %d thread(s), %s; load average (1, 5, 15 min) at"
                                        + " the end: %s on %d cores\n\n",
                                engine.getVersion(),
                                threads,
                                meter.methodology(),
                                Results.loadAverage(),
                                Runtime.getRuntime().availableProcessors()))
                .append("| operation | median ms | min ms | vs Linear forward |\n")
                .append("|---|---|---|---|\n");
        JsonArray rows = new JsonArray();
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            double med = Median.of(e.getValue());
            double min = e.getValue().stream().mapToDouble(Double::doubleValue).min().orElse(0);
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.2f | %.2f | %.2fx |\n",
                            e.getKey(),
                            med,
                            min,
                            med / ref));
            JsonObject r = new JsonObject();
            r.addProperty("operation", e.getKey());
            r.addProperty("median_ms", med);
            r.addProperty("min_ms", min);
            r.addProperty("ratio_to_linear_forward", med / ref);
            rows.add(r);
        }
        md.append(
                String.format(
                        Locale.ROOT,
                        "\nclip-STE (this class's own copy) against FakeQuant.apply on 1.5x the"
                                + " calibrated activation:"
                                + " max |forward diff| %.3g, max |gradient diff| %.3g\n",
                        diff[0],
                        diff[1]));
        JsonObject root = new JsonObject();
        root.addProperty("benchmark", "qat-overhead-profile");
        root.addProperty("clip_ste_max_forward_diff", diff[0]);
        root.addProperty("clip_ste_max_gradient_diff", diff[1]);
        root.addProperty("threads", threads);
        root.addProperty("rounds", meter.timedRuns());
        root.addProperty("warmup", meter.warmupRuns());
        root.addProperty("settle_ms", meter.settle().toMillis());
        root.addProperty("order", Results.ORDER_POLICY);
        root.addProperty("methodology", meter.methodology());
        root.addProperty("load_average", Results.loadAverage());
        root.add("results", rows);
        Results.write(
                "qat-overhead-profile",
                new GsonBuilder().setPrettyPrinting().create().toJson(root),
                md);
    }
}
