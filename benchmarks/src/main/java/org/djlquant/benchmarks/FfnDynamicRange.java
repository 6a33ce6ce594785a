package org.djlquant.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TorchScriptArchive;
import org.djlquant.eval.SpeedMeter;

/**
 * Where the 2-thread time of fbgemm's dynamic INT8 linear goes, on the FFN 768 -> 3072 -> ReLU ->
 * 768 with the weights of {@link FfnInt8Bridge} (per-channel INT8). libtorch 2.7.1's {@code
 * quantized::linear_dynamic} finds the input's min/max with {@code fbgemm::FindMinMax} on the
 * calling thread, then quantizes and multiplies in parallel; the second layer's input is [B·128,
 * 3072] floats, so that serial pass caps the 2-thread speed-up. Variants, each one TorchScript
 * method call for the whole FFN:
 *
 * <ul>
 *   <li><b>serial range (current)</b>: {@code linear_relu_dynamic} then {@code linear_dynamic},
 *       what the in-place and exported dynamic paths run;
 *   <li><b>parallel range</b>: {@code aten::aminmax} (parallel), {@code
 *       aten::_choose_qparams_per_tensor} on the two-element tensor [min, max] (the same {@code
 *       ChooseQuantizationParams} as the dynamic kernel), then {@code
 *       quantized::linear_with_input_q_dq_qweight_dq(_relu)_output_fp32}, which runs the same
 *       fbgemm pipeline as the dynamic kernel with the given scale and zero point: bit-identical
 *       output, checked here (max |difference| printed and stored);
 *   <li><b>no range pass (lower bound)</b>: the same kernels with fixed qparams (taken from one
 *       earlier call), the time without any min/max pass;
 *   <li><b>min/max of the hidden activation</b> alone, serial {@code aminmax} cost at the thread
 *       count.
 * </ul>
 *
 * <p>Timing: {@link SpeedMeter#measureInterleaved}, order rotated per round, settle pause before
 * every timed call. Usage: {@code benchmarks/run-ffn-dynamic-range.sh [rounds] [warmup]
 * [settle-ms]} (defaults 21, 3, 30). Writes {@code benchmarks/results/ffn-dynamic-range.{json,md}}.
 */
public final class FfnDynamicRange {

    private static final int SEQ = 128;
    private static final int HIDDEN = 768;
    private static final int FFN = 3072;
    private static final String MODULE = "djlquant.bench.dynrange";
    private static final String SELF = "__torch__." + MODULE + ".DynRange";
    private static final String PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase";

    private FfnDynamicRange() {}

    private static String def(String name, String params, String returns) {
        return "  def " + name + "(self: " + SELF + params + ") -> " + returns + ":\n";
    }

    private static final String FFN_ARGS =
            ",\n    x: Tensor,\n    p1: " + PACKED + ",\n    p2: " + PACKED + ",\n    rr: bool";

    /** The module source, serialized-code dialect. */
    static final String SOURCE =
            "class DynRange(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + def("forward", ",\n    x: Tensor", "Tensor")
                    + "    return x\n"
                    + def("pack", ",\n    w: Tensor,\n    b: Tensor", PACKED)
                    + "    s = torch.div(torch.amax(torch.abs(w), [1]), 127.)\n"
                    + "    z = torch.zeros_like(s, dtype=4)\n"
                    + "    wq = torch.quantize_per_channel(w, s, z, 0, 12)\n"
                    + "    return ops.quantized.linear_prepack(wq, b)\n"
                    + def("serial", FFN_ARGS, "Tensor")
                    + "    h = ops.quantized.linear_relu_dynamic(x, p1, rr)\n"
                    + "    return ops.quantized.linear_dynamic(h, p2, rr)\n"
                    + def("parallel", FFN_ARGS, "Tensor")
                    + "    mn, mx = torch.aminmax(x)\n"
                    + "    s1, z1 = torch._choose_qparams_per_tensor(torch.stack([mn, mx]), rr)\n"
                    + "    h = ops.quantized.linear_with_input_q_dq_qweight_dq_relu_output_fp32("
                    + "x, s1, z1, p1)\n"
                    + "    mn2, mx2 = torch.aminmax(h)\n"
                    + "    s2, z2 = torch._choose_qparams_per_tensor(torch.stack([mn2, mx2]), rr)\n"
                    + "    return ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32("
                    + "h, s2, z2, p2)\n"
                    + def(
                            "fixed",
                            FFN_ARGS
                                    + ",\n    s1: float,\n    z1: int,\n    s2: float,\n    z2:"
                                    + " int",
                            "Tensor")
                    + "    h = ops.quantized.linear_with_input_q_dq_qweight_dq_relu_output_fp32("
                    + "x, s1, z1, p1)\n"
                    + "    return ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32("
                    + "h, s2, z2, p2)\n"
                    + def("qparams", ",\n    x: Tensor,\n    rr: bool", "Tuple[float, int]")
                    + "    mn, mx = torch.aminmax(x)\n"
                    + "    return torch._choose_qparams_per_tensor(torch.stack([mn, mx]), rr)\n"
                    + def("hidden", FFN_ARGS, "Tensor")
                    + "    return ops.quantized.linear_relu_dynamic(x, p1, rr)\n"
                    + def("minmax", ",\n    x: Tensor", "Tensor")
                    + "    mn, mx = torch.aminmax(x)\n"
                    + "    return torch.stack([mn, mx])\n";

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds and settle milliseconds
     * @throws QuantizationException if libtorch refuses the module
     * @throws IOException if the results cannot be written
     */
    public static void main(String[] args) throws QuantizationException, IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 21;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        SpeedMeter meter = new SpeedMeter(warmup, rounds).withSettle(Results.settle(args, 2));
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        QEngine.select(QEngine.X86);
        String loadStart = Results.loadAverage();
        Random random = new Random(1);
        float[] w1 = gaussian(random, FFN * HIDDEN, 0.02);
        float[] b1 = gaussian(random, FFN, 0.02);
        float[] w2 = gaussian(random, HIDDEN * FFN, 0.02);
        float[] b2 = gaussian(random, HIDDEN, 0.02);
        Map<Integer, float[]> inputs = new LinkedHashMap<>();
        for (int b : new int[] {8, 1}) {
            inputs.put(b, gaussian(random, b * SEQ * HIDDEN, 1.0));
        }
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        byte[] archive =
                TorchScriptArchive.builder("dyn_range")
                        .addCode(MODULE, SOURCE)
                        .setRoot(new Pickler.ScriptObject("__torch__." + MODULE, "DynRange", state))
                        .toBytes();
        List<Map<String, Object>> rows = new ArrayList<>();
        List<String> exactness = new ArrayList<>();
        try (PtNDManager manager = (PtNDManager) engine.newBaseManager()) {
            PtSymbolBlock module = TorchScriptArchive.load(archive, manager);
            try (IValue p1 = pack(module, manager, w1, b1, FFN, HIDDEN);
                    IValue p2 = pack(module, manager, w2, b2, HIDDEN, FFN)) {
                for (boolean rr : new boolean[] {true, false}) {
                    for (Map.Entry<Integer, float[]> in : inputs.entrySet()) {
                        float[][] out = new float[2][];
                        try (NDManager sub = manager.newSubManager();
                                IValue rv = IValue.from(rr)) {
                            NDArray x = sub.create(in.getValue(), shape(in.getKey()));
                            try (IValue xv = IValue.from((PtNDArray) x)) {
                                out[0] = run(module, sub, "serial", xv, p1, p2, rv);
                                out[1] = run(module, sub, "parallel", xv, p1, p2, rv);
                            }
                        }
                        double d = 0;
                        for (int i = 0; i < out[0].length; i++) {
                            d = Math.max(d, Math.abs(out[0][i] - out[1][i]));
                        }
                        exactness.add(
                                String.format(
                                        Locale.ROOT,
                                        "input [%d, 128, 768], reduce_range %s: max |parallel -"
                                                + " serial| = %s",
                                        in.getKey(),
                                        rr,
                                        d));
                    }
                }
                for (int threads : new int[] {1, 2}) {
                    JniUtils.setNumThreads(threads);
                    for (Map.Entry<Integer, float[]> in : inputs.entrySet()) {
                        rows.addAll(
                                time(
                                        meter,
                                        module,
                                        manager,
                                        p1,
                                        p2,
                                        in.getKey(),
                                        in.getValue(),
                                        threads));
                    }
                }
            }
        }
        write(rows, exactness, meter, loadStart);
    }

    private static List<Map<String, Object>> time(
            SpeedMeter meter,
            PtSymbolBlock module,
            PtNDManager manager,
            IValue p1,
            IValue p2,
            int batch,
            float[] input,
            int threads) {
        // the presets' fbgemm activations are 7-bit (reduce_range), as in FfnInt8Bridge
        try (PtNDManager sub = (PtNDManager) manager.newSubManager();
                IValue rr = IValue.from(true)) {
            PtNDArray x = (PtNDArray) sub.create(input, shape(batch));
            IValue xv = IValue.from(x);
            IValue hidden = IValueUtils.runMethod(module, "hidden", xv, p1, p2, rr);
            IValue q1 = IValueUtils.runMethod(module, "qparams", xv, rr);
            IValue q2 = IValueUtils.runMethod(module, "qparams", hidden, rr);
            IValue[] q = {
                q1.toIValueTuple()[0],
                q1.toIValueTuple()[1],
                q2.toIValueTuple()[0],
                q2.toIValueTuple()[1]
            };
            Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
            works.put(
                    "serial range (linear_dynamic, current)",
                    run -> IValueUtils.runMethod(module, "serial", xv, p1, p2, rr).close());
            works.put(
                    "parallel range (aminmax + linear_with_input_q_dq..._fp32)",
                    run -> IValueUtils.runMethod(module, "parallel", xv, p1, p2, rr).close());
            works.put(
                    "no range pass (fixed qparams, lower bound)",
                    run ->
                            IValueUtils.runMethod(
                                            module, "fixed", xv, p1, p2, rr, q[0], q[1], q[2], q[3])
                                    .close());
            works.put(
                    "aminmax of the hidden activation alone",
                    run -> IValueUtils.runMethod(module, "minmax", hidden).close());
            Map<String, SpeedMeter.Timing> t = meter.measureInterleaved(batch, works);
            double base = t.values().iterator().next().medianMillis();
            List<Map<String, Object>> rows = new ArrayList<>();
            for (Map.Entry<String, SpeedMeter.Timing> e : t.entrySet()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("input", "[" + batch + ", 128, 768]");
                row.put("threads", threads);
                row.put("variant", e.getKey());
                row.put("median_ms", e.getValue().medianMillis());
                row.put("min_ms", e.getValue().minMillis());
                row.put("vs_serial", base / e.getValue().medianMillis());
                rows.add(row);
            }
            for (IValue v : q) {
                v.close();
            }
            q1.close();
            q2.close();
            hidden.close();
            xv.close();
            return rows;
        }
    }

    private static IValue pack(
            PtSymbolBlock module, PtNDManager m, float[] w, float[] b, int out, int in) {
        try (NDManager sub = m.newSubManager()) {
            NDArray wa = sub.create(w, new Shape(out, in));
            NDArray ba = sub.create(b, new Shape(out));
            try (IValue wv = IValue.from((PtNDArray) wa);
                    IValue bv = IValue.from((PtNDArray) ba)) {
                // packed weights keep bias and scales: clone them off Java's direct buffers
                return IValueUtils.runMethod(module, "pack", wv, bv);
            }
        }
    }

    private static float[] run(PtSymbolBlock module, NDManager m, String method, IValue... args) {
        try (IValue out = IValueUtils.runMethod(module, method, args)) {
            return out.toTensor((PtNDManager) m).toFloatArray();
        }
    }

    private static Shape shape(int batch) {
        return new Shape(batch, SEQ, HIDDEN);
    }

    private static float[] gaussian(Random random, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    private static void write(
            List<Map<String, Object>> rows,
            List<String> exactness,
            SpeedMeter meter,
            String loadStart)
            throws IOException {
        String loadEnd = Results.loadAverage();
        StringBuilder md = new StringBuilder();
        md.append("# FFN dynamic INT8 on fbgemm: serial vs parallel input range\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "qengine x86, per-channel INT8 weights, 7-bit activations (reduce_range);"
                                + " %s; load average at the start: %s, at the end: %s; %s\n\n",
                        meter.methodology(),
                        loadStart,
                        loadEnd,
                        Instant.now()));
        md.append("Exactness (parallel vs serial, same weights and input):\n\n");
        for (String e : exactness) {
            md.append("- ").append(e).append('\n');
        }
        md.append("\n| input | threads | variant | median ms | min ms | speed-up vs serial |\n");
        md.append("|---|---|---|---|---|---|\n");
        StringBuilder json =
                Results.jsonHead("ffn-dynamic-range", "x86", meter, loadStart, loadEnd);
        json.append(",\n  \"exactness\": [");
        for (int i = 0; i < exactness.size(); i++) {
            json.append(i == 0 ? "\"" : ", \"").append(exactness.get(i)).append('"');
        }
        json.append("],\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> r = rows.get(i);
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %d | %s | %.3f | %.3f | %.2fx |%n",
                            r.get("input"),
                            (Integer) r.get("threads"),
                            r.get("variant"),
                            (Double) r.get("median_ms"),
                            (Double) r.get("min_ms"),
                            (Double) r.get("vs_serial")));
            json.append(
                    String.format(
                            Locale.ROOT,
                            "    {\"input\": \"%s\", \"threads\": %d, \"variant\": \"%s\","
                                    + " \"median_ms\": %.4f, \"min_ms\": %.4f, \"vs_serial\":"
                                    + " %.4f}%s%n",
                            r.get("input"),
                            (Integer) r.get("threads"),
                            r.get("variant"),
                            (Double) r.get("median_ms"),
                            (Double) r.get("min_ms"),
                            (Double) r.get("vs_serial"),
                            i + 1 < rows.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
        Results.write("ffn-dynamic-range", json, md);
    }
}
