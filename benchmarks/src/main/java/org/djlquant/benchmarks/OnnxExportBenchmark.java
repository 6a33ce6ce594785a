package org.djlquant.benchmarks;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.reflect.TypeToken;
import java.io.InputStream;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.onnx.OnnxExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.eval.Median;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;

/**
 * MiniLM on ONNX Runtime: the original FP32 file, ONNX Runtime's own dynamic INT8 twin ({@code
 * all-minilm-l6-v2-q.onnx}) and our exports (static INT8 QDQ, dynamic INT8 with per-channel
 * weights), batch 32 at natural sentence length and at 128 tokens, 1 and 2 intra-op threads,
 * optimisation level ALL_OPT. Variants run interleaved round after round; medians and ratios to ORT
 * FP32 come from this one run. Results: {@code benchmarks/results/onnx-export-minilm.{json,md}}.
 *
 * <p>Usage: {@code java ... OnnxExportBenchmark [rounds] [warmup]} (defaults 7, 2); needs the
 * sentiment data (scripts/fetch-data.sh).
 */
public final class OnnxExportBenchmark {

    private OnnxExportBenchmark() {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds and warm-up rounds
     * @throws java.io.IOException if files cannot be read or written
     * @throws ai.djl.ModelException if a model cannot be loaded
     * @throws ai.djl.translate.TranslateException if inference fails
     * @throws org.djlquant.QuantizationException if the export fails
     */
    public static void main(String[] args)
            throws java.io.IOException,
                    ai.djl.ModelException,
                    ai.djl.translate.TranslateException,
                    org.djlquant.QuantizationException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        Path dir = Files.createTempDirectory("djlq-bench");
        Path fp32 = extract("all-minilm-l6-v2.onnx", dir);
        extract("all-minilm-l6-v2-q.onnx", dir);
        Path tokenizerFile = extract("all-minilm-l6-v2-tokenizer.json", dir);
        List<String> sentences = sentences(64);
        List<String> calibration = sentences.subList(32, 64);
        List<String> batch = sentences.subList(0, 32);

        try (SentenceEmbeddingTranslator t =
                SentenceEmbeddingTranslator.builder().setTokenizer(tokenizerFile).build()) {
            try (Model pt = OnnxImporter.importModel(fp32).newModel("s", "PyTorch")) {
                Preparer.prepare(
                        pt, QConfigMapping.global(QConfig.staticInt8(BackendTarget.ONNXRUNTIME)));
                try (Predictor<List<String>, float[][]> p = pt.newPredictor(t.batch())) {
                    for (int i = 0; i < calibration.size(); i += 8) {
                        p.predict(calibration.subList(i, i + 8));
                    }
                }
                Twins.setObserving(pt.getBlock(), false);
                OnnxExporter.builder()
                        .setBlock(pt.getBlock())
                        .build()
                        .write(dir.resolve("export-static.onnx"));
            }
            try (Model pt = OnnxImporter.importModel(fp32).newModel("d", "PyTorch")) {
                QConfig dynamic =
                        QConfig.builder()
                                .setMode(QMode.DYNAMIC)
                                .setWeightObserver(
                                        Observers.perChannelMinMax(
                                                QSpec.int8SymmetricPerChannel(0)))
                                .optDynamicActivationSpec(QSpec.uint8AffinePerTensor())
                                .build();
                Preparer.prepare(pt, QConfigMapping.global(dynamic));
                OnnxExporter.builder()
                        .setBlock(pt.getBlock())
                        .build()
                        .write(dir.resolve("export-dynamic.onnx"));
            }
        }

        String[] variants = {
            "all-minilm-l6-v2", "all-minilm-l6-v2-q", "export-static", "export-dynamic"
        };
        Map<String, Object> results = new LinkedHashMap<>();
        StringBuilder md = new StringBuilder();
        md.append(
                "| shape | threads | variant | median ms | sentences/s | speed-up vs ORT FP32 |\n");
        md.append("|---|---|---|---|---|---|\n");
        try (HuggingFaceTokenizer tok =
                HuggingFaceTokenizer.builder()
                        .optTokenizerPath(tokenizerFile)
                        .optPadding(false)
                        .optTruncation(false)
                        .build()) {
            long[][] natural = tokens(tok, batch, Integer.MAX_VALUE);
            List<String> longTexts = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                longTexts.add(String.join(" ", sentences.subList(i, i + 12)));
            }
            long[][] long128 = tokens(tok, longTexts, 128);
            for (long[][] shape : List.of(natural, long128)) {
                int len = shape[0].length;
                String label = "32x" + len;
                for (int threads : new int[] {1, 2}) {
                    Model[] models = new Model[variants.length];
                    double[][] times = new double[variants.length][rounds];
                    try {
                        for (int v = 0; v < variants.length; v++) {
                            models[v] = Model.newInstance(variants[v], "OnnxRuntime");
                            models[v].load(
                                    dir,
                                    variants[v],
                                    Map.of(
                                            "optLevel", "ALL_OPT",
                                            "intraOpNumThreads", String.valueOf(threads),
                                            "interOpNumThreads", "1"));
                        }
                        for (int r = -warmup; r < rounds; r++) {
                            for (int v = 0; v < variants.length; v++) {
                                double ms = time(models[v], shape);
                                if (r >= 0) {
                                    times[v][r] = ms;
                                }
                            }
                        }
                    } finally {
                        for (Model m : models) {
                            if (m != null) {
                                m.close();
                            }
                        }
                    }
                    double base = Median.of(times[0]);
                    for (int v = 0; v < variants.length; v++) {
                        double med = Median.of(times[v]);
                        Map<String, Object> row = new LinkedHashMap<>();
                        row.put("medianMs", med);
                        row.put("sentencesPerSecond", 32 * 1000.0 / med);
                        row.put("speedupVsOrtFp32", base / med);
                        row.put("timesMs", times[v]);
                        results.put(label + "/threads" + threads + "/" + variants[v], row);
                        md.append(
                                String.format(
                                        "| %s | %d | %s | %.1f | %.0f | %.2f |%n",
                                        label,
                                        threads,
                                        variants[v],
                                        med,
                                        32 * 1000.0 / med,
                                        base / med));
                    }
                    System.out.print(md);
                }
            }
        }
        Map<String, Object> sizes = new LinkedHashMap<>();
        for (String v : variants) {
            sizes.put(v, Files.size(dir.resolve(v + ".onnx")));
        }
        results.put("fileBytes", sizes);
        results.put("loadAverage", Files.readString(Path.of("/proc/loadavg")).trim());
        Path out = Path.of("benchmarks", "results");
        Files.createDirectories(out);
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        Files.writeString(out.resolve("onnx-export-minilm.json"), gson.toJson(results));
        Files.writeString(
                out.resolve("onnx-export-minilm.md"),
                "# MiniLM on ONNX Runtime: FP32, ORT INT8 twin, our exports\n\nrounds "
                        + rounds
                        + ", warm-up "
                        + warmup
                        + ", load average "
                        + results.get("loadAverage")
                        + "\n\n"
                        + md
                        + "\nfile bytes: "
                        + sizes
                        + "\n");
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    private static double time(Model model, long[][] ids)
            throws ai.djl.translate.TranslateException {
        int rows = ids.length;
        int len = ids[0].length;
        long[] flat = new long[rows * len];
        long[] mask = new long[rows * len];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < len; i++) {
                flat[b * len + i] = ids[b][i];
                mask[b * len + i] = ids[b][i] == 0 ? 0 : 1;
            }
        }
        Shape s = new Shape(rows, len);
        try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator());
                NDManager m = model.getNDManager().newSubManager()) {
            NDArray a = m.create(flat, s);
            a.setName("input_ids");
            NDArray k = m.create(mask, s);
            k.setName("attention_mask");
            NDArray c = m.create(new long[rows * len], s);
            c.setName("token_type_ids");
            long t0 = System.nanoTime();
            p.predict(new NDList(a, k, c));
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    private static long[][] tokens(HuggingFaceTokenizer tok, List<String> texts, int max) {
        Encoding[] enc = tok.batchEncode(texts);
        int len = 0;
        long[][] rows = new long[enc.length][];
        for (int i = 0; i < enc.length; i++) {
            long[] id = enc[i].getIds();
            if (id.length > max) {
                long sep = id[id.length - 1];
                id = Arrays.copyOf(id, max);
                id[max - 1] = sep;
            }
            rows[i] = id;
            len = Math.max(len, id.length);
        }
        for (int i = 0; i < rows.length; i++) {
            rows[i] = Arrays.copyOf(rows[i], len);
        }
        return rows;
    }

    private static Path extract(String resource, Path dir) throws java.io.IOException {
        Path file = dir.resolve(resource);
        try (InputStream in =
                OnnxExportBenchmark.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is not on the classpath");
            }
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        return file;
    }

    private static List<String> sentences(int count) throws java.io.IOException {
        Path dir =
                Path.of(
                        System.getProperty("user.home"),
                        ".cache",
                        "djl-quant",
                        "data",
                        "sentiment");
        List<List<String>> sources = new ArrayList<>();
        for (String name : List.of("amazon", "yelp", "imdb")) {
            try (Reader r =
                    Files.newBufferedReader(dir.resolve(name + ".json"), StandardCharsets.UTF_8)) {
                List<Map<String, Object>> rows =
                        new Gson()
                                .fromJson(
                                        r, new TypeToken<List<Map<String, Object>>>() {}.getType());
                List<String> texts = new ArrayList<>();
                for (Map<String, Object> row : rows) {
                    if (row.get("text") instanceof String s && !s.isBlank()) {
                        texts.add(s);
                    }
                }
                sources.add(texts);
            }
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; out.size() < count; i++) {
            out.add(sources.get(i % 3).get(i / 3));
        }
        return out;
    }
}
