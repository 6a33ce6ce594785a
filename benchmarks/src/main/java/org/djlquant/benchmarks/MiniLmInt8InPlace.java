package org.djlquant.benchmarks;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.Median;
import org.djlquant.eval.SentimentData;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;

/**
 * Times the imported all-MiniLM-L6-v2 through DJL's PyTorch engine: FP32, converted in place to
 * dynamic INT8, and converted in place to static INT8 (FFN output projections FP32, as in the
 * accuracy test), on a batch of 32 real sentences padded to their natural length and padded to 128
 * tokens, at 1 and 2 intra-op threads. Variants run interleaved round after round; medians and
 * ratios come from this one run. Configs: per-channel INT8 weights, full 8-bit activations (fbgemm
 * with VNNI).
 *
 * <p>Timing: {@link SpeedMeter#measureInterleaved}, order rotated per round, a settle pause before
 * every timed call (default 30 ms) so that libtorch's spinning OpenMP workers of the previous call
 * do not slow the next one.
 *
 * <p>Usage: {@code benchmarks/run-minilm-int8.sh [rounds] [warmup] [settle-ms]} (defaults 7, 2,
 * 30). Writes {@code benchmarks/results/minilm-int8-inplace.{json,md}}.
 */
public final class MiniLmInt8InPlace {

    private static final int BATCH = 32;

    private MiniLmInt8InPlace() {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds and warm-up rounds
     * @throws QuantizationException if the model cannot be imported or converted
     * @throws IOException if files cannot be read or written
     * @throws TranslateException if a forward fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        SpeedMeter meter = new SpeedMeter(warmup, rounds).withSettle(Results.settle(args, 2));
        String loadStart = Results.loadAverage();
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Path dir = Files.createTempDirectory("djlq-minilm-bench");
        try {
            Path onnx = extract("all-minilm-l6-v2.onnx", dir);
            Path tokenizerFile = extract("all-minilm-l6-v2-tokenizer.json", dir);
            List<LabelledText> data = SentimentData.load(SentimentData.defaultDataDir());
            List<String> sentences = new ArrayList<>();
            List<String> calibration = new ArrayList<>();
            for (int i = 0; i < data.size() && calibration.size() < 16; i++) {
                (sentences.size() < BATCH ? sentences : calibration)
                        .add(data.get(i * 7 % data.size()).text());
            }
            Map<String, Model> models = new LinkedHashMap<>();
            QEngine.select(QEngine.X86);
            models.put("FP32", OnnxImporter.importModel(onnx).newModel("fp32", "PyTorch"));
            Model dyn = OnnxImporter.importModel(onnx).newModel("dynamic", "PyTorch");
            Preparer.prepare(dyn, QConfigMapping.global(dynamicConfig()));
            ConvertReport dynReport = Converter.convert(dyn, QEngine.X86);
            models.put("INT8 dynamic (in place)", dyn);
            Model st = OnnxImporter.importModel(onnx).newModel("static", "PyTorch");
            Preparer.prepare(
                    st,
                    QConfigMapping.builder()
                            .optGlobal(staticConfig())
                            .optPathGlob("encoder.*.output", null)
                            .build());
            try (HuggingFaceTokenizer tok = tokenizer(tokenizerFile, false);
                    NDManager m = NDManager.newBaseManager("PyTorch");
                    Predictor<NDList, NDList> p = st.newPredictor(new NoopTranslator())) {
                p.predict(inputs(m, tok, calibration));
            }
            ConvertReport stReport = Converter.convert(st, QEngine.X86);
            models.put("INT8 static, FFN output FP32 (in place)", st);
            System.out.println(
                    "converted: dynamic "
                            + dynReport.quantizedLinears().size()
                            + " layers, static "
                            + stReport.quantizedLinears().size()
                            + " layers");

            List<Map<String, Object>> rows = new ArrayList<>();
            try (HuggingFaceTokenizer natural = tokenizer(tokenizerFile, false);
                    HuggingFaceTokenizer padded = tokenizer(tokenizerFile, true);
                    NDManager m = NDManager.newBaseManager("PyTorch")) {
                Map<String, NDList> shapes = new LinkedHashMap<>();
                NDList nat = inputs(m, natural, sentences);
                shapes.put("natural", nat);
                shapes.put("128", inputs(m, padded, sentences));
                for (int threads : new int[] {1, 2}) {
                    JniUtils.setNumThreads(threads);
                    for (Map.Entry<String, NDList> s : shapes.entrySet()) {
                        rows.addAll(time(models, s.getKey(), s.getValue(), threads, meter));
                    }
                }
            } finally {
                for (Model model : models.values()) {
                    model.close();
                }
            }
            write(rows, meter, loadStart);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    static QConfig dynamicConfig() {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(QSpec.uint8AffinePerTensor())
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    static QConfig staticConfig() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(
                        Observers.histogram(QSpec.uint8AffinePerTensor(), HistogramMethod.MSE))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    private static HuggingFaceTokenizer tokenizer(Path file, boolean pad128) throws IOException {
        HuggingFaceTokenizer.Builder b =
                HuggingFaceTokenizer.builder().optTokenizerPath(file).optMaxLength(128);
        if (pad128) {
            b.optPadToMaxLength();
        } else {
            b.optPadding(true);
        }
        return b.build();
    }

    static NDList inputs(NDManager m, HuggingFaceTokenizer tok, List<String> texts) {
        Encoding[] enc = tok.batchEncode(texts);
        int t = enc[0].getIds().length;
        long[] ids = new long[texts.size() * t];
        long[] mask = new long[ids.length];
        long[] types = new long[ids.length];
        for (int i = 0; i < enc.length; i++) {
            System.arraycopy(enc[i].getIds(), 0, ids, i * t, t);
            System.arraycopy(enc[i].getAttentionMask(), 0, mask, i * t, t);
            System.arraycopy(enc[i].getTypeIds(), 0, types, i * t, t);
        }
        Shape shape = new Shape(texts.size(), t);
        return new NDList(m.create(ids, shape), m.create(mask, shape), m.create(types, shape));
    }

    private static List<Map<String, Object>> time(
            Map<String, Model> models, String shapeName, NDList in, int threads, SpeedMeter meter)
            throws TranslateException {
        Map<String, List<Double>> times = new LinkedHashMap<>();
        Map<String, Predictor<NDList, NDList>> predictors = new LinkedHashMap<>();
        try {
            Map<String, SpeedMeter.Work<TranslateException>> works = new LinkedHashMap<>();
            for (Map.Entry<String, Model> e : models.entrySet()) {
                Predictor<NDList, NDList> p = e.getValue().newPredictor(new NoopTranslator());
                predictors.put(e.getKey(), p);
                works.put(
                        e.getKey(),
                        run -> {
                            // intermediates follow the input's manager: borrow the inputs into a
                            // per-call sub-manager so that everything a call makes is freed after
                            // it (inside the timed call)
                            try (NDManager sub = in.head().getManager().newSubManager()) {
                                sub.tempAttachAll(in);
                                NDList out = p.predict(in);
                                out.head().toFloatArray(); // forces completion and the user's copy
                            }
                        });
            }
            meter.measureInterleaved(BATCH, works)
                    .forEach(
                            (k, t) ->
                                    times.put(
                                            k,
                                            Arrays.stream(t.nanos())
                                                    .mapToObj(ns -> ns / 1e6)
                                                    .toList()));
        } finally {
            predictors.values().forEach(Predictor::close);
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        double base = Median.of(times.get("FP32"));
        for (Map.Entry<String, List<Double>> e : times.entrySet()) {
            Map<String, Object> row = new LinkedHashMap<>();
            double med = Median.of(e.getValue());
            row.put("variant", e.getKey());
            row.put(
                    "shape",
                    "[" + BATCH + ", " + in.head().getShape().get(1) + "] (" + shapeName + ")");
            row.put("threads", threads);
            row.put("median_ms", med);
            row.put("sentences_per_s", BATCH * 1000.0 / med);
            row.put("speedup_vs_fp32", base / med);
            rows.add(row);
            System.out.printf(
                    Locale.ROOT,
                    "%-42s %-18s %d thr  median %8.1f ms  %6.1f sent/s  x%.2f%n",
                    e.getKey(),
                    row.get("shape"),
                    threads,
                    med,
                    BATCH * 1000.0 / med,
                    base / med);
        }
        return rows;
    }

    private static void write(List<Map<String, Object>> rows, SpeedMeter meter, String loadStart)
            throws IOException {
        StringBuilder md = new StringBuilder();
        md.append("# all-MiniLM-L6-v2 on DJL PyTorch: FP32 vs in-place INT8 (batch 32)\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "qengine x86, variants interleaved: %s; load average at the start: %s, at"
                                + " the end: %s; %s\n\n",
                        meter.methodology(),
                        loadStart,
                        Results.loadAverage(),
                        Instant.now()));
        md.append("| variant | input | threads | median ms | sentences/s | speed-up vs FP32 |\n");
        md.append("|---|---|---|---|---|---|\n");
        StringBuilder json =
                Results.jsonHead(
                        "minilm-int8-inplace", "x86", meter, loadStart, Results.loadAverage());
        json.append(",\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> r = rows.get(i);
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %d | %.1f | %.1f | %.2f |%n",
                            r.get("variant"),
                            r.get("shape"),
                            (Integer) r.get("threads"),
                            (Double) r.get("median_ms"),
                            (Double) r.get("sentences_per_s"),
                            (Double) r.get("speedup_vs_fp32")));
            json.append(
                    String.format(
                            Locale.ROOT,
                            "    {\"variant\": \"%s\", \"input\": \"%s\", \"threads\": %d,"
                                    + " \"median_ms\": %.3f, \"sentences_per_s\": %.2f,"
                                    + " \"speedup_vs_fp32\": %.3f}%s%n",
                            r.get("variant"),
                            r.get("shape"),
                            (Integer) r.get("threads"),
                            (Double) r.get("median_ms"),
                            (Double) r.get("sentences_per_s"),
                            (Double) r.get("speedup_vs_fp32"),
                            i + 1 < rows.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
        Results.write("minilm-int8-inplace", json, md);
    }

    static Path extract(String resource, Path dir) throws IOException {
        Path file = dir.resolve(resource);
        try (InputStream in =
                MiniLmInt8InPlace.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException(resource + " is not on the classpath");
            }
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }
}
