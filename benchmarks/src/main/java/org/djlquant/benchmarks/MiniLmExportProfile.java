package org.djlquant.benchmarks;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.AttentionKernel;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QMode;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.SentimentData;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.examples.MiniLmRecipe;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;

/**
 * Where the time of the pipeline's {@code int8-static-ts} MiniLM goes: the model is prepared with
 * {@link MiniLmRecipe#DEFAULT} (static), calibrated on real sentences and exported as the pipeline
 * does (fused attention, INT8 embeddings, compressed). Then, on batch 32 at natural length and at
 * 128 tokens, 2 intra-op threads, it times
 *
 * <ul>
 *   <li>the whole export, and ablated copies of it (the archive's code edited: one kind of op
 *       replaced by its input, e.g. every GELU), so that {@code full - ablated} is what that op
 *       kind costs in the real graph;
 *   <li>single ops of one encoder layer on the layer's real shapes ({@code [B, T, 384]} and {@code
 *       [B, T, 1536]}), through the archive's own INT8 submodules: each static and dynamic Linear,
 *       quantize, dequantize, LayerNorm, GELU, SDPA, a residual add, the embeddings;
 *   <li>ONNX Runtime's INT8 twin and our FP32 on the same inputs.
 * </ul>
 *
 * <p>Before every timed call the runner sleeps {@code settle} ms (libtorch's OpenMP and ONNX
 * Runtime's worker threads spin after a call and would steal a core from the next one), and the
 * order of the variants rotates each round: {@link SpeedMeter#withSettle} and {@link
 * SpeedMeter#measureInterleaved}. Medians and ratios come from this one run.
 *
 * <p>Usage: {@code benchmarks/run-minilm-export-profile.sh [rounds] [warmup] [settle-ms] [tag]}.
 * Writes {@code benchmarks/results/minilm-export-profile[-tag].{json,md}}.
 */
public final class MiniLmExportProfile {

    private static final int BATCH = 32;
    private static final int CALIBRATION = 256;

    private MiniLmExportProfile() {}

    /**
     * Runs the profile.
     *
     * @param args rounds, warm-up rounds, settle ms, result tag (all optional)
     * @throws QuantizationException if the model cannot be imported or exported
     * @throws IOException if files cannot be read or written
     * @throws TranslateException if a forward fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int settle = args.length > 2 ? Integer.parseInt(args[2]) : 30;
        String tag = args.length > 3 ? args[3] : "";
        boolean wholeOnly = args.length > 4 && args[4].equals("whole");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Path dir = Files.createTempDirectory("djlq-minilm-profile");
        try {
            Path onnx = MiniLmInt8InPlace.extract("all-minilm-l6-v2.onnx", dir);
            Path twin = MiniLmInt8InPlace.extract("all-minilm-l6-v2-q.onnx", dir);
            Path tokenizerFile = MiniLmInt8InPlace.extract("all-minilm-l6-v2-tokenizer.json", dir);
            List<LabelledText> data = SentimentData.load(SentimentData.defaultDataDir());
            List<String> sentences = new ArrayList<>();
            for (LabelledText t : data) {
                sentences.add(t.text());
            }
            Map<String, byte[]> archives = export(onnx, tokenizerFile, sentences);
            byte[] archive = archives.get("export, full");
            String code = code(archive);
            Path dump = Paths.get("benchmarks/target/minilm-export-profile.py");
            Files.createDirectories(dump.getParent());
            Files.writeString(dump, code, StandardCharsets.UTF_8);
            System.out.println("export code: " + dump);
            List<Map<String, Object>> rows = new ArrayList<>();
            JniUtils.setNumThreads(2);
            try (HuggingFaceTokenizer natural = tokenizer(tokenizerFile, false);
                    HuggingFaceTokenizer fixed = tokenizer(tokenizerFile, true);
                    NDManager m = NDManager.newBaseManager("PyTorch")) {
                Map<String, NDList> shapes = new LinkedHashMap<>();
                // the evaluation order's first batch, padded to its longest sentence
                shapes.put(
                        "natural",
                        MiniLmInt8InPlace.inputs(m, natural, sentences.subList(0, BATCH)));
                shapes.put("128", MiniLmInt8InPlace.inputs(m, fixed, joined(sentences, natural)));
                for (Map.Entry<String, NDList> s : shapes.entrySet()) {
                    rows.addAll(
                            profile(
                                    code,
                                    archives,
                                    wholeOnly,
                                    onnx,
                                    twin,
                                    dir,
                                    s.getKey(),
                                    s.getValue(),
                                    rounds,
                                    warmup,
                                    settle));
                }
            }
            write(rows, rounds, warmup, settle, tag);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    /**
     * Prepares, calibrates (natural-length batches of 32) and exports as the pipeline does ({@code
     * export, full}), and with each faster lowering option for comparison.
     */
    private static Map<String, byte[]> export(Path onnx, Path tokenizerFile, List<String> sentences)
            throws QuantizationException, IOException, TranslateException {
        try (Model model = OnnxImporter.importModel(onnx).newModel("minilm-static", "PyTorch")) {
            Preparer.prepare(model, MiniLmRecipe.DEFAULT.mapping(QMode.STATIC));
            try (HuggingFaceTokenizer tok = tokenizer(tokenizerFile, false);
                    Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator())) {
                for (int i = 0; i < CALIBRATION; i += BATCH) {
                    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                        p.predict(
                                MiniLmInt8InPlace.inputs(m, tok, sentences.subList(i, i + BATCH)));
                    }
                }
            }
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), false);
            QEngine.select(QEngine.FBGEMM);
            Map<String, byte[]> archives = new LinkedHashMap<>();
            archives.put("export, full", builder(model).build().export().bytes());
            return archives;
        }
    }

    private static TorchScriptExporter.Builder builder(Model model) {
        return TorchScriptExporter.builder()
                .setBlock(model.getBlock())
                .optEngine(QEngine.FBGEMM)
                .optAttention(AttentionKernel.FUSED_SDPA)
                .optCompressed(true)
                .optInt8Embeddings(true);
    }

    /** Repetitions of an op inside one single-op module (distinct inputs: no CSE). */
    private static final int REPS = 6;

    /** One timed thing: a loaded module (or ORT model) and its inputs. */
    private record Timed(
            String name, String kind, int callsPerModel, int reps, Model model, NDList input) {}

    private static List<Map<String, Object>> profile(
            String code,
            Map<String, byte[]> archives,
            boolean wholeOnly,
            Path onnx,
            Path twin,
            Path dir,
            String shapeName,
            NDList in,
            int rounds,
            int warmup,
            int settle)
            throws IOException, TranslateException, QuantizationException {
        NDManager m = in.head().getManager();
        long b = in.head().getShape().get(0);
        long t = in.head().getShape().get(1);
        List<Timed> all = new ArrayList<>();
        try {
            for (Map.Entry<String, byte[]> a : archives.entrySet()) {
                all.add(new Timed(a.getKey(), "whole", 1, 1, load(a.getValue(), dir, "w"), in));
            }
            byte[] archive = archives.get("export, full");
            Model fp32 = OnnxImporter.importModel(onnx).newModel("fp32", "PyTorch");
            all.add(new Timed("FP32 (DJL blocks)", "whole", 1, 1, fp32, in));
            all.add(new Timed("ORT INT8 twin", "whole", 1, 1, ort(twin), in));
            if (wholeOnly) {
                return time(all, shapeName, b, t, rounds, warmup, settle);
            }
            Map<String, UnaryOperator<String>> ablations = new LinkedHashMap<>();
            ablations.put("embeddings only (forward cut after embeddings LayerNorm)", c -> cut(c));
            ablations.put("without GELU", c -> c.replaceAll("torch\\.gelu\\((v\\d+)\\)", "$1"));
            ablations.put(
                    "without LayerNorm",
                    c ->
                            c.replaceAll(
                                    "torch\\.layer_norm\\((v\\d+), \\[384\\], self\\.t\\d+,"
                                            + " self\\.t\\d+, [-0-9.E]+\\)",
                                    "$1"));
            ablations.put(
                    "without SDPA (V passed on)",
                    c ->
                            c.replaceAll(
                                    "torch\\.scaled_dot_product_attention\\((v\\d+), (v\\d+),"
                                            + " (v\\d+), (v\\d+)\\)",
                                    "$3"));
            ablations.put(
                    "without residual adds",
                    c ->
                            c.replaceAll(
                                    "(?m)^(    v\\d+ = )torch\\.add\\((v\\d+), (v\\d+)\\)$",
                                    "$1$2"));
            ablations.put(
                    "without dynamic down-projections (first 384 columns passed on)",
                    c ->
                            c.replaceAll(
                                    "self\\.q\\d+\\.dynamic\\((v\\d+)\\)",
                                    "torch.slice($1, 2, 0, 384)"));
            for (Map.Entry<String, UnaryOperator<String>> a : ablations.entrySet()) {
                String edited = a.getValue().apply(code);
                if (edited.equals(code)) {
                    throw new IllegalStateException("ablation changed nothing: " + a.getKey());
                }
                all.add(
                        new Timed(
                                a.getKey(),
                                "ablated",
                                1,
                                1,
                                load(withCode(archive, edited), dir, "ablated"),
                                in));
            }
            NDList opIn = opInputs(m, in, b, t);
            for (Map.Entry<String, Op> op : ops(code).entrySet()) {
                String source = opModule(code, op.getValue().body);
                all.add(
                        new Timed(
                                op.getKey(),
                                "op",
                                op.getValue().perModel,
                                REPS,
                                load(withCode(archive, source), dir, "op"),
                                opIn));
            }
            return time(all, shapeName, b, t, rounds, warmup, settle);
        } finally {
            for (Timed x : all) {
                x.model().close();
            }
        }
    }

    /** One single-op module: its per-rep expression over x{i} / h{i} / mask and its count. */
    private record Op(String body, int perModel) {}

    private static Map<String, Op> ops(String code) {
        // the first layer's calibrated parameters, read from the export's own code
        String[] hq = group(code, "torch\\.quantize_per_tensor\\(v4, ([-0-9.E]+), (\\d+), 13\\)");
        String[] q0 = group(code, "self\\.q0\\.q\\(v5, False, ([-0-9.E]+), (\\d+)\\)");
        String[] q3 = group(code, "self\\.q3\\.q\\(v18, False, ([-0-9.E]+), (\\d+)\\)");
        String[] q4 = group(code, "self\\.q4\\.q\\(v23, False, ([-0-9.E]+), (\\d+)\\)");
        String ln = "[384], self.t7, self.t8, 1.0E-12";
        String quant = "torch.quantize_per_tensor(x{i}, " + hq[0] + ", " + hq[1] + ", 13)";
        String quantH = "torch.quantize_per_tensor(h{i}, " + q4[0] + ", " + q4[1] + ", 13)";
        String up = "self.q4.q(self.q4.quant(x{i}), False, " + q4[0] + ", " + q4[1] + ")";
        Map<String, Op> ops = new LinkedHashMap<>();
        ops.put("op: quantize [B,T,384]", new Op("Q:" + quant, 6));
        ops.put(
                "op: quantize + dequantize [B,T,384]",
                new Op("torch.dequantize(" + quant + ")", 0));
        ops.put(
                "op: static Q/K/V Linear 384->384 quint8 out, + quantize",
                new Op("Q:self.q0.q(" + quant + ", False, " + q0[0] + ", " + q0[1] + ")", 0));
        ops.put(
                "op: static attn-out Linear 384->384: quantize + linear + dequantize",
                new Op(
                        "torch.dequantize(self.q3.q(self.q3.quant(x{i}), False, "
                                + q3[0]
                                + ", "
                                + q3[1]
                                + "))",
                        6));
        ops.put(
                "op: static attn-out Linear 384->384 float out (q/dq fp32 kernel)",
                new Op("self.q3.fp32(x{i})", 0));
        ops.put("op: static up Linear 384->1536 quint8 out, + quantize", new Op("Q:" + up, 0));
        ops.put(
                "op: static up Linear + quantize + dequantize",
                new Op("torch.dequantize(" + up + ")", 6));
        ops.put(
                "op: static up Linear float out (q/dq fp32 kernel)",
                new Op("self.q4.fp32(x{i})", 0));
        ops.put("op: quantize [B,T,1536]", new Op("Q:" + quantH, 0));
        ops.put(
                "op: quantize + dequantize [B,T,1536]",
                new Op("torch.dequantize(" + quantH + ")", 0));
        ops.put("op: GELU float [B,T,1536]", new Op("torch.gelu(h{i})", 6));
        ops.put(
                "op: quantize + GELU on quint8 [B,T,1536]",
                new Op("Q:torch.gelu(" + quantH + ")", 0));
        ops.put(
                "op: dynamic down Linear 1536->384 (float in/out)",
                new Op("self.q5.dynamic(h{i})", 6));
        // the same GEMM with the input range given (as static would): what linear_dynamic's
        // own range finding and quantization of its input cost on top
        ops.put(
                "op: down Linear 1536->384, fixed input params (float-output kernel)",
                new Op(
                        "ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(h{i}, 0.05,"
                                + " 128, self.q5._packed)",
                        0));
        ops.put(
                "op: min and max of [B,T,1536] (aten, parallel)",
                new Op(
                        "torch.reshape(torch.stack([torch.amin(h{i}), torch.amax(h{i})]), [1, 1, 2])",
                        0));
        ops.put(
                "op: fused Q/K/V per-channel quantize + dequantize [B,T,1152]",
                new Op(
                        "torch.dequantize(torch.quantize_per_channel(torch.cat([x{i}, x{j}, x{k}], 2),"
                                + " torch.to(torch.add(torch.zeros([1152]), 0.05), 7),"
                                + " torch.to(torch.add(torch.zeros([1152]), 128.), 4), 2, 13))",
                        0));
        ops.put("op: concatenate [B,T,3x384]", new Op("torch.cat([x{i}, x{j}, x{k}], 2)", 0));
        ops.put("op: LayerNorm [B,T,384]", new Op("torch.layer_norm(x{i}, " + ln + ")", 12));
        ops.put("op: residual add [B,T,384]", new Op("torch.add(x{i}, x{j})", 12));
        ops.put(
                "op: add + LayerNorm [B,T,384]",
                new Op("torch.layer_norm(torch.add(x{i}, x{j}), " + ln + ")", 0));
        ops.put(
                "op: SDPA 12 heads x 32 (reshape/transpose in and out)",
                new Op(
                        "torch.reshape(torch.transpose(torch.scaled_dot_product_attention("
                                + heads("x{i}")
                                + ", "
                                + heads("x{j}")
                                + ", "
                                + heads("x{k}")
                                + ", mask), 1, 2), [x0.size(0), x0.size(1), 384])",
                        6));
        return ops;
    }

    private static String heads(String x) {
        return "torch.transpose(torch.reshape(" + x + ", [x0.size(0), x0.size(1), 12, 32]), 1, 2)";
    }

    private static String[] group(String code, String regex) {
        java.util.regex.Matcher mt = java.util.regex.Pattern.compile(regex).matcher(code);
        if (!mt.find()) {
            throw new IllegalStateException("export code has no " + regex);
        }
        return new String[] {mt.group(1), mt.group(2)};
    }

    /**
     * The export's code with its forward replaced by {@link #REPS} copies of one op over distinct
     * inputs; each result contributes one row to the output so nothing is dead code.
     */
    private static String opModule(String code, String body) {
        boolean quantized = body.startsWith("Q:");
        String expr = quantized ? body.substring(2) : body;
        StringBuilder f = new StringBuilder();
        f.append("  def forward(self: __torch__.djlquant.export.Model,\n");
        for (int i = 0; i < REPS; i++) {
            f.append("    x").append(i).append(": Tensor,\n");
        }
        for (int i = 0; i < REPS; i++) {
            f.append("    h").append(i).append(": Tensor,\n");
        }
        f.append("    mask: Tensor) -> Tensor:\n");
        List<String> rows = new ArrayList<>();
        for (int i = 0; i < REPS; i++) {
            String e =
                    expr.replace("{i}", "" + i)
                            .replace("{j}", "" + (i + 1) % REPS)
                            .replace("{k}", "" + (i + 2) % REPS);
            f.append("    r").append(i).append(" = ").append(e).append("\n");
            String row = "torch.select(torch.select(r" + i + ", 0, 0), 0, 0)";
            rows.add(quantized ? "torch.dequantize(" + row + ")" : row);
        }
        f.append("    return torch.stack([").append(String.join(", ", rows)).append("])\n");
        return code.substring(0, code.indexOf("  def forward(")) + f;
    }

    /** The forward cut after the embeddings' LayerNorm ({@code v4}). */
    private static String cut(String code) {
        int at = code.indexOf("\n", code.indexOf("    v4 = torch.layer_norm(")) + 1;
        return code.substring(0, at) + "    return v4\n";
    }

    /** Float inputs of the single-op modules: x0..5 [B,T,384], h0..5 [B,T,1536], the mask. */
    private static NDList opInputs(NDManager m, NDList in, long b, long t) {
        NDList list = new NDList();
        for (int i = 0; i < REPS; i++) {
            list.add(m.randomNormal(new Shape(b, t, 384)));
        }
        for (int i = 0; i < REPS; i++) {
            list.add(m.randomNormal(new Shape(b, t, 1536)));
        }
        // the model's additive mask: 0 where attended, -FLT_MAX on padding
        list.add(
                in.get(1)
                        .toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                        .neg()
                        .add(1f)
                        .mul(-Float.MAX_VALUE)
                        .reshape(b, 1, 1, t));
        return list;
    }

    private static byte[] withCode(byte[] archive, String source) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(archive));
                ZipOutputStream out = new ZipOutputStream(bytes)) {
            for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                byte[] content = zip.readAllBytes();
                if (e.getName().endsWith("export.py")) {
                    content = source.getBytes(StandardCharsets.UTF_8);
                }
                ZipEntry copy = new ZipEntry(e.getName());
                copy.setMethod(e.getMethod());
                if (e.getMethod() == ZipEntry.STORED) {
                    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                    crc.update(content);
                    copy.setSize(content.length);
                    copy.setCompressedSize(content.length);
                    copy.setCrc(crc.getValue());
                }
                out.putNextEntry(copy);
                out.write(content);
                out.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static int loaded;

    private static Model load(byte[] archive, Path dir, String name)
            throws IOException, QuantizationException {
        String file = name + "-" + (loaded++);
        Files.write(dir.resolve(file + ".pt"), archive);
        Model model = Model.newInstance(file, "PyTorch");
        try {
            model.load(dir, file);
        } catch (ai.djl.MalformedModelException e) {
            model.close();
            throw new QuantizationException("cannot load " + file + ": " + e.getMessage(), e);
        }
        return model;
    }

    private static Model ort(Path onnx) throws IOException, QuantizationException {
        String file = onnx.getFileName().toString();
        Model model = Model.newInstance("ort", "OnnxRuntime");
        try {
            model.load(
                    onnx.getParent(),
                    file.substring(0, file.length() - ".onnx".length()),
                    Map.of("intraOpNumThreads", "2", "interOpNumThreads", "1"));
        } catch (ai.djl.MalformedModelException e) {
            model.close();
            throw new QuantizationException("cannot load " + onnx + ": " + e.getMessage(), e);
        }
        return model;
    }

    private static List<Map<String, Object>> time(
            List<Timed> all, String shapeName, long b, long t, int rounds, int warmup, int settle)
            throws TranslateException {
        Map<String, Double> times = new LinkedHashMap<>();
        List<Predictor<NDList, NDList>> predictors = new ArrayList<>();
        try {
            Map<String, SpeedMeter.Work<TranslateException>> works = new LinkedHashMap<>();
            for (Timed x : all) {
                Predictor<NDList, NDList> p = x.model().newPredictor(new NoopTranslator());
                predictors.add(p);
                works.put(
                        x.name(),
                        run -> {
                            try (NDManager sub = x.input().head().getManager().newSubManager()) {
                                sub.tempAttachAll(x.input());
                                p.predict(x.input()).head().toFloatArray();
                            }
                        });
            }
            SpeedMeter meter = new SpeedMeter(warmup, rounds).withSettle(Duration.ofMillis(settle));
            System.out.printf(Locale.ROOT, "%s: %s%n", shapeName, meter.methodology());
            meter.measureInterleaved(1, works)
                    .forEach((name, timing) -> times.put(name, timing.medianMillis()));
        } finally {
            predictors.forEach(Predictor::close);
        }
        double full = times.get("export, full");
        double fp32 = times.get("FP32 (DJL blocks)");
        double ort = times.get("ORT INT8 twin");
        List<Map<String, Object>> rows = new ArrayList<>();
        String load = loadAverage();
        for (Timed x : all) {
            double med = times.get(x.name());
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("input", "[" + b + ", " + t + "] (" + shapeName + ")");
            row.put("kind", x.kind());
            row.put("variant", x.name());
            row.put("median_ms", med);
            double perCall = med / x.reps();
            switch (x.kind()) {
                case "whole" -> {
                    row.put("export_speedup", med / full);
                    row.put("x_fp32", fp32 / med);
                    row.put("x_ort_twin", ort / med);
                }
                case "ablated" -> {
                    row.put("saved_ms", full - med);
                    row.put("share_of_full", (full - med) / full);
                }
                default -> {
                    row.put("ms_per_call", perCall);
                    row.put("calls_per_model", x.callsPerModel());
                    row.put("ms_per_model", perCall * x.callsPerModel());
                    row.put("share_of_full", perCall * x.callsPerModel() / full);
                }
            }
            row.put("loadavg_end", load);
            rows.add(row);
            System.out.println(row);
        }
        if (!times.containsKey("op: quantize [B,T,384]")) {
            return rows;
        }
        // differences of two single-op modules: one op alone, as often as the export runs it
        derived(
                rows,
                times,
                "static Q/K/V Linear 384->384 alone",
                18,
                "op: static Q/K/V Linear 384->384 quint8 out, + quantize",
                "op: quantize [B,T,384]",
                full,
                load);
        derived(
                rows,
                times,
                "dequantize [B,T,384]",
                18,
                "op: quantize + dequantize [B,T,384]",
                "op: quantize [B,T,384]",
                full,
                load);
        derived(
                rows,
                times,
                "dequantize [B,T,1536]",
                0,
                "op: quantize + dequantize [B,T,1536]",
                "op: quantize [B,T,1536]",
                full,
                load);
        derived(
                rows,
                times,
                "GELU on quint8 [B,T,1536]",
                0,
                "op: quantize + GELU on quint8 [B,T,1536]",
                "op: quantize [B,T,1536]",
                full,
                load);
        derived(
                rows,
                times,
                "static up Linear 384->1536 alone (quint8 in/out)",
                0,
                "op: static up Linear 384->1536 quint8 out, + quantize",
                "op: quantize [B,T,384]",
                full,
                load);
        for (Map<String, Object> row : rows.subList(rows.size() - 5, rows.size())) {
            System.out.println(row);
        }
        return rows;
    }

    private static void derived(
            List<Map<String, Object>> rows,
            Map<String, Double> times,
            String name,
            int perModel,
            String with,
            String without,
            double full,
            String load) {
        double perCall = (times.get(with) - times.get(without)) / REPS;
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("input", rows.get(0).get("input"));
        row.put("kind", "derived");
        row.put(
                "variant",
                name + " = (" + with.substring(4) + ") - (" + without.substring(4) + ")");
        row.put("ms_per_call", perCall);
        row.put("calls_per_model", perModel);
        row.put("ms_per_model", perCall * perModel);
        row.put("share_of_full", perCall * perModel / full);
        row.put("loadavg_end", load);
        rows.add(row);
    }

    /** Joins consecutive sentences until each text has >= 128 tokens (cut to 128: no padding). */
    private static List<String> joined(List<String> sentences, HuggingFaceTokenizer counter) {
        List<String> texts = new ArrayList<>();
        int next = 0;
        while (texts.size() < BATCH) {
            StringBuilder sb = new StringBuilder();
            do {
                sb.append(sb.length() == 0 ? "" : " ").append(sentences.get(next++));
            } while (counter.encode(sb.toString()).getIds().length < 128);
            texts.add(sb.toString());
        }
        return texts;
    }

    private static String num(Object v) {
        if (v instanceof Double d) {
            return String.format(Locale.ROOT, "%.3f", d);
        }
        return v == null ? "" : v.toString();
    }

    private static void write(
            List<Map<String, Object>> rows, int rounds, int warmup, int settle, String tag)
            throws IOException {
        String[] cols = {
            "input",
            "kind",
            "variant",
            "median_ms",
            "x_fp32",
            "x_ort_twin",
            "saved_ms",
            "ms_per_call",
            "calls_per_model",
            "ms_per_model",
            "share_of_full"
        };
        StringBuilder md = new StringBuilder();
        md.append("# MiniLM int8-static-ts export: where the time goes (batch 32, 2 threads)\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "MiniLmRecipe.DEFAULT static, fused SDPA, INT8 embeddings; qengine fbgemm;"
                                + " %d rounds after %d warm-up, order rotated each round (start and"
                                + " stride, SpeedMeter), %d ms sleep before every timed call; single-op modules run %d"
                                + " copies on distinct inputs (ms_per_call = median / %d);"
                                + " load average at the end: %s; %s\n\n",
                        rounds,
                        warmup,
                        settle,
                        REPS,
                        REPS,
                        loadAverage(),
                        Instant.now()));
        md.append("| ").append(String.join(" | ", cols)).append(" |\n|");
        md.append("---|".repeat(cols.length)).append("\n");
        StringBuilder json = new StringBuilder("{\n  \"benchmark\": \"minilm-export-profile\",\n");
        json.append("  \"rounds\": ").append(rounds).append(", \"warmup\": ").append(warmup);
        json.append(", \"settle_ms\": ").append(settle).append(",\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> r = rows.get(i);
            md.append("|");
            for (String c : cols) {
                md.append(" ").append(num(r.get(c))).append(" |");
            }
            md.append("\n");
            List<String> fields = new ArrayList<>();
            for (Map.Entry<String, Object> e : r.entrySet()) {
                Object v = e.getValue();
                fields.add(
                        "\""
                                + e.getKey()
                                + "\": "
                                + (v instanceof Number ? num(v) : "\"" + v + "\""));
            }
            json.append("    {").append(String.join(", ", fields)).append("}");
            json.append(i + 1 < rows.size() ? ",\n" : "\n");
        }
        json.append("  ]\n}\n");
        System.out.print(md);
        Path out = Paths.get(System.getProperty("results.dir", "benchmarks/results"));
        Files.createDirectories(out);
        String base = "minilm-export-profile" + (tag.isEmpty() ? "" : "-" + tag);
        Files.writeString(out.resolve(base + ".json"), json, StandardCharsets.UTF_8);
        Files.writeString(out.resolve(base + ".md"), md, StandardCharsets.UTF_8);
        System.out.println("wrote " + out.resolve(base + ".json") + " and .md");
    }

    private static String loadAverage() {
        try {
            return Files.readString(Paths.get("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String code(byte[] archive) throws IOException {
        try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(archive))) {
            for (ZipEntry e = zip.getNextEntry(); e != null; e = zip.getNextEntry()) {
                if (e.getName().endsWith("export.py")) {
                    return new String(zip.readAllBytes(), StandardCharsets.UTF_8);
                }
            }
        }
        throw new IOException("no export.py in the archive");
    }

    private static HuggingFaceTokenizer tokenizer(Path file, boolean pad128) throws IOException {
        HuggingFaceTokenizer.Builder b =
                HuggingFaceTokenizer.builder().optTokenizerPath(file).optMaxLength(128);
        if (pad128) {
            b.optPadToMaxLength().optTruncation(true);
        } else {
            b.optPadding(true);
        }
        return b.build();
    }
}
