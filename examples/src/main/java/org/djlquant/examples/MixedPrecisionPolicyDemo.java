package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.TranslateException;
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
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.LinearProbe;
import org.djlquant.eval.ProbeEvaluation;
import org.djlquant.eval.SentimentData;
import org.djlquant.io.onnx.ImportedModel;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.BackendCapabilities;
import org.djlquant.policy.Candidate;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostTable;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.PolicyRules;
import org.djlquant.policy.PolicySearch;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.ResolvedRules;
import org.djlquant.policy.SearchResult;
import org.djlquant.policy.apply.PolicyApplication;
import org.djlquant.policy.measure.PrecisionSimulator;
import org.djlquant.policy.measure.SensitivityReport;
import org.djlquant.policy.measure.SensitivityRunner;
import org.djlquant.policy.measure.TorchCostModel;

/**
 * The mixed-precision policy engine on the imported all-MiniLM-L6-v2 (36 Linear layers) with
 * sentiment sentences: per-layer sensitivity (simulated precisions, output = mean-pooled
 * embedding), per-layer latency measured on libtorch, a fallback search under a probe-accuracy
 * budget, and the chosen policy compared with uniform FP32 / BF16 / INT8 dynamic / INT8 static (all
 * simulated, the BF16 row also run for real with half-precision layers). Writes {@code
 * results/policy/}.
 *
 * <p>Arguments: {@code [budgetPoints=0.5] [heldOut=400] [train=600] [threads=1]}.
 */
public final class MixedPrecisionPolicyDemo {

    private static final int BATCH = 32;

    private MixedPrecisionPolicyDemo() {}

    /**
     * Runs the demo.
     *
     * @param args budget in accuracy points, held-out size, probe-train size, threads
     * @throws QuantizationException if a model or data file cannot be read
     * @throws IOException if results cannot be written
     * @throws TranslateException if a prediction fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        double budgetPoints = args.length > 0 ? Double.parseDouble(args[0]) : 0.3;
        int heldOutN = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        int trainN = args.length > 2 ? Integer.parseInt(args[2]) : 400;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        int sensN = args.length > 4 ? Integer.parseInt(args[4]) : 24;
        Path out = Path.of("results", "policy");
        Files.createDirectories(out);
        Path tmp = Files.createTempDirectory("djlq-policy");
        Path onnx = extract("all-minilm-l6-v2.onnx", tmp);
        Path tokenizerJson = extract("all-minilm-l6-v2-tokenizer.json", tmp);

        List<LabelledText> all =
                new ArrayList<>(SentimentData.load(SentimentData.defaultDataDir()));
        Collections.shuffle(all, new Random(2024));
        List<LabelledText> sens = all.subList(0, sensN);
        List<LabelledText> train = all.subList(sensN, sensN + trainN);
        List<LabelledText> heldOut = all.subList(sensN + trainN, sensN + trainN + heldOutN);
        System.out.printf(
                "data: %d sensitivity, %d probe-train, %d held-out sentences%n",
                sens.size(), train.size(), heldOut.size());

        ImportedModel imported = OnnxImporter.importModel(onnx);
        long t0 = System.nanoTime();
        try (Model model = imported.newModel("minilm", "PyTorch");
                SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder()
                                .setTokenizer(tokenizerJson)
                                .optMaxLength(128)
                                .build();
                Predictor<List<String>, float[][]> predictor =
                        model.newPredictor(translator.batch());
                HuggingFaceTokenizer tokenizer =
                        HuggingFaceTokenizer.builder()
                                .optTokenizerPath(tokenizerJson)
                                .optPadding(true)
                                .optTruncation(true)
                                .optMaxLength(128)
                                .build()) {
            NDManager manager = model.getNDManager();
            List<NDList> sensBatches = new ArrayList<>();
            for (int i = 0; i < sens.size(); i += BATCH) {
                sensBatches.add(
                        encode(
                                tokenizer,
                                sens.subList(i, Math.min(sens.size(), i + BATCH)),
                                manager));
            }
            // the probe: trained once on FP32 embeddings, then scored on held-out embeddings
            float[][] trainX = embed(predictor, train);
            int[] trainY = labels(train);
            ProbeEvaluation.Settings ps = ProbeEvaluation.Settings.defaults();
            LinearProbe probe =
                    LinearProbe.fit(trainX, trainY, 2, ps.lambda(), ps.steps(), "PyTorch");
            int[] heldY = labels(heldOut);
            float[][] fp32Held = embed(predictor, heldOut);
            double fp32Acc = probe.accuracy(fp32Held, heldY);
            System.out.printf(Locale.ROOT, "FP32 held-out probe accuracy %.2f %%%n", 100 * fp32Acc);

            PrepareReport report =
                    Preparer.prepare(
                            model,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            Map<String, Map<String, Object>> rows = new LinkedHashMap<>();
            SearchResult result;
            CostTable costs;
            ResolvedRules rules;
            SensitivityReport sensitivity;
            Map<String, Double> fp16VsFp32 = new LinkedHashMap<>();
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(model.getBlock(), report, BackendTarget.FBGEMM)) {
                System.out.printf("%d Linear layers simulated%n", sim.layers().size());
                sensitivity =
                        SensitivityRunner.builder()
                                .setSimulator(sim)
                                .setManager(manager)
                                .setBatches(sensBatches)
                                .optOutput(MixedPrecisionPolicyDemo::meanPool)
                                .optCandidates(
                                        EnumSet.of(
                                                Precision.BF16,
                                                Precision.INT8_DYNAMIC,
                                                Precision.INT8_STATIC))
                                .optAllButThis(null)
                                .optProgress(System.out)
                                .build()
                                .run();
                Files.writeString(out.resolve("sensitivity.json"), sensitivity.toJson() + "\n");
                Files.writeString(out.resolve("sensitivity.md"), sensitivity.toTable());
                sensitivity.writeChart(out.resolve("sensitivity.png"));

                TorchCostModel costModel =
                        TorchCostModel.builder().setSimulator(sim).optThreads(threads).build();
                Shape shape = sim.inputShapes().values().iterator().next();
                String workload = "minilm sensitivity batch " + shape;
                CostCache cache =
                        CostCache.open(out.resolve("cost-cache"), costModel.cacheKey(workload));
                Set<Precision> measured =
                        EnumSet.of(
                                Precision.FP32,
                                Precision.FP16,
                                Precision.BF16,
                                Precision.INT8_WEIGHT_ONLY,
                                Precision.INT8_DYNAMIC,
                                Precision.INT8_STATIC);
                ResolvedRules everything =
                        PolicyRules.empty()
                                .resolve(
                                        sim.layers(),
                                        BackendCapabilities.uniform("pytorch-measured", measured));
                CostTable allCosts = CostTable.measure(everything, cache.caching(costModel));
                cache.save();
                // capability table from the measurements: FP16 only if it beats FP32 on this CPU
                // weight-only INT8 has no libtorch kernel (measured as dequantize + FP32, slower)
                Set<Precision> capable =
                        EnumSet.of(
                                Precision.FP32,
                                Precision.BF16,
                                Precision.INT8_DYNAMIC,
                                Precision.INT8_STATIC);
                double fp16 = total(allCosts, sim.layers(), Precision.FP16);
                double fp32 = total(allCosts, sim.layers(), Precision.FP32);
                fp16VsFp32.put("fp16Ms", fp16);
                fp16VsFp32.put("fp32Ms", fp32);
                // FP16 would be allowed if it beat FP32, but it has no measured sensitivity here
                // (left out to keep the run short), so it is reported, not searched
                System.out.printf(
                        Locale.ROOT,
                        "Linear layers, sum of medians at %s, %d thread(s): FP32 %.1f ms, FP16 %.1f"
                                + " ms -> FP16 %s%n",
                        shape,
                        threads,
                        fp32,
                        fp16,
                        capable.contains(Precision.FP16)
                                ? "allowed"
                                : "excluded (slower than FP32)");
                rules =
                        PolicyRules.empty()
                                .resolve(
                                        sim.layers(),
                                        BackendCapabilities.uniform("pytorch-fbgemm", capable));
                costs = allCosts;
                PolicySearch search =
                        new PolicySearch(rules, sensitivity.table(ProxyMetric.COSINE), costs);
                float[][] refEmb = pooled(sim, sensBatches, manager);
                int[] calls = {0};
                result =
                        search.fallback(
                                sim.evaluator(
                                        () -> {
                                            calls[0]++;
                                            double c =
                                                    100
                                                            * meanCosine(
                                                                    pooled(
                                                                            sim,
                                                                            sensBatches,
                                                                            manager),
                                                                    refEmb);
                                            System.out.printf(
                                                    Locale.ROOT,
                                                    "  evaluator call %d: cosine x100 %.4f%n",
                                                    calls[0],
                                                    c);
                                            return c;
                                        }),
                                budgetPoints);
                result.policy().write(out.resolve("chosen-policy.json"));
                Files.writeString(out.resolve("search.md"), result.toTable());

                Map<String, Map<String, Precision>> variants = new LinkedHashMap<>();
                for (Precision p :
                        List.of(
                                Precision.FP32,
                                Precision.BF16,
                                Precision.INT8_DYNAMIC,
                                Precision.INT8_STATIC)) {
                    Map<String, Precision> a = new LinkedHashMap<>();
                    sim.layers().forEach(l -> a.put(l.path(), p));
                    variants.put("uniform " + p + " (simulated)", a);
                }
                variants.put("chosen policy (simulated)", result.policy().assignment());
                for (Map.Entry<String, Map<String, Precision>> v : variants.entrySet()) {
                    sim.set(v.getValue());
                    float[][] emb = embed(predictor, heldOut);
                    sim.resetToFp32();
                    rows.put(
                            v.getKey(),
                            row(
                                    probe,
                                    emb,
                                    heldY,
                                    fp32Held,
                                    fp32Acc,
                                    costs,
                                    v.getValue(),
                                    sim.layers()));
                }
            }
            // real half-precision execution: uniform BF16 with HalfPrecisionLinear in place
            Map<String, Precision> bf16 = new LinkedHashMap<>();
            for (LayerInfo l : rules.layers()) {
                bf16.put(l.path(), Precision.BF16);
            }
            org.djlquant.policy.MixedPrecisionPolicy bf16Policy =
                    new org.djlquant.policy.MixedPrecisionPolicy(
                            org.djlquant.policy.Strategy.MANUAL,
                            decisions(bf16),
                            java.util.OptionalDouble.empty(),
                            java.util.OptionalDouble.empty(),
                            java.util.OptionalDouble.empty());
            try (ImportedModelHolder real = new ImportedModelHolder(onnx, tokenizerJson)) {
                PolicyApplication.HalfSwaps swaps =
                        PolicyApplication.applyHalfPrecision(bf16Policy, real.model.getBlock());
                float[][] emb = embed(real.predictor, heldOut);
                rows.put(
                        "uniform BF16 (real HalfPrecisionLinear)",
                        row(probe, emb, heldY, fp32Held, fp32Acc, costs, bf16, rules.layers()));
                swaps.restore();
            }
            writeResults(
                    out,
                    rows,
                    result,
                    sensitivity,
                    fp32Acc,
                    budgetPoints,
                    fp16VsFp32,
                    threads,
                    heldOut.size(),
                    train.size(),
                    (System.nanoTime() - t0) / 1e9);
            writePareto(out.resolve("pareto.png"), result, rows);
        } finally {
            try (var files = Files.list(tmp)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(tmp);
        }
    }

    /** A second imported MiniLM with its own predictor, for real half-precision execution. */
    private static final class ImportedModelHolder implements AutoCloseable {
        final Model model;
        final SentenceEmbeddingTranslator translator;
        final Predictor<List<String>, float[][]> predictor;

        ImportedModelHolder(Path onnx, Path tokenizer) throws QuantizationException {
            model = OnnxImporter.importModel(onnx).newModel("minilm-bf16", "PyTorch");
            translator =
                    SentenceEmbeddingTranslator.builder()
                            .setTokenizer(tokenizer)
                            .optMaxLength(128)
                            .build();
            predictor = model.newPredictor(translator.batch());
        }

        @Override
        public void close() {
            predictor.close();
            translator.close();
            model.close();
        }
    }

    private static Map<String, org.djlquant.policy.LayerDecision> decisions(
            Map<String, Precision> a) {
        Map<String, org.djlquant.policy.LayerDecision> d = new LinkedHashMap<>();
        a.forEach(
                (k, v) ->
                        d.put(
                                k,
                                new org.djlquant.policy.LayerDecision(
                                        v, org.djlquant.policy.DecisionSource.MANUAL, "uniform")));
        return d;
    }

    private static Map<String, Object> row(
            LinearProbe probe,
            float[][] emb,
            int[] y,
            float[][] fp32,
            double fp32Acc,
            CostTable costs,
            Map<String, Precision> a,
            List<LayerInfo> layers) {
        double acc = probe.accuracy(emb, y);
        double cos = 0;
        double minCos = 1;
        for (int i = 0; i < emb.length; i++) {
            double dot = 0;
            double na = 0;
            double nb = 0;
            for (int j = 0; j < emb[i].length; j++) {
                dot += (double) emb[i][j] * fp32[i][j];
                na += (double) emb[i][j] * emb[i][j];
                nb += (double) fp32[i][j] * fp32[i][j];
            }
            double c = dot / Math.sqrt(na * nb);
            cos += c;
            minCos = Math.min(minCos, c);
        }
        double ms = 0;
        long bytes = 0;
        for (LayerInfo l : layers) {
            ms += costs.cost(l.path(), a.get(l.path())).latencyMs();
            bytes += costs.cost(l.path(), a.get(l.path())).bytes();
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("accuracyPct", 100 * acc);
        r.put("dropPoints", 100 * (fp32Acc - acc));
        r.put("meanCosine", cos / emb.length);
        r.put("minCosine", minCos);
        r.put("linearLatencyMs", ms);
        r.put("linearWeightMB", bytes / 1e6);
        Map<Precision, Integer> count = new LinkedHashMap<>();
        a.values().forEach(p -> count.merge(p, 1, Integer::sum));
        r.put("layers", count.toString());
        return r;
    }

    private static float[][] pooled(PrecisionSimulator sim, List<NDList> batches, NDManager m) {
        List<float[]> out = new ArrayList<>();
        for (NDList b : batches) {
            try (NDManager sub = m.newSubManager()) {
                sub.tempAttachAll(b);
                NDArray e = meanPool(b, sim.forward(b, sub));
                float[] flat = e.toFloatArray();
                int h = (int) e.getShape().get(1);
                for (int i = 0; i < flat.length / h; i++) {
                    float[] row = new float[h];
                    System.arraycopy(flat, i * h, row, 0, h);
                    out.add(row);
                }
            }
        }
        return out.toArray(new float[0][]);
    }

    private static double meanCosine(float[][] a, float[][] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double dot = 0;
            double na = 0;
            double nb = 0;
            for (int j = 0; j < a[i].length; j++) {
                dot += (double) a[i][j] * b[i][j];
                na += (double) a[i][j] * a[i][j];
                nb += (double) b[i][j] * b[i][j];
            }
            s += dot / Math.sqrt(na * nb);
        }
        return s / a.length;
    }

    private static double total(CostTable costs, List<LayerInfo> layers, Precision p) {
        double s = 0;
        for (LayerInfo l : layers) {
            s += costs.cost(l.path(), p).latencyMs();
        }
        return s;
    }

    private static float[][] embed(Predictor<List<String>, float[][]> p, List<LabelledText> data)
            throws TranslateException {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < data.size(); i += BATCH) {
            List<String> texts = new ArrayList<>();
            for (LabelledText t : data.subList(i, Math.min(data.size(), i + BATCH))) {
                texts.add(t.text());
            }
            Collections.addAll(out, p.predict(texts));
        }
        return out.toArray(new float[0][]);
    }

    private static int[] labels(List<LabelledText> data) {
        int[] y = new int[data.size()];
        for (int i = 0; i < y.length; i++) {
            y[i] = data.get(i).label();
        }
        return y;
    }

    private static NDList encode(HuggingFaceTokenizer tok, List<LabelledText> data, NDManager m) {
        List<String> texts = new ArrayList<>();
        data.forEach(t -> texts.add(t.text()));
        Encoding[] enc = tok.batchEncode(texts);
        int b = enc.length;
        int t = enc[0].getIds().length;
        long[] ids = new long[b * t];
        long[] mask = new long[b * t];
        long[] types = new long[b * t];
        for (int i = 0; i < b; i++) {
            System.arraycopy(enc[i].getIds(), 0, ids, i * t, t);
            System.arraycopy(enc[i].getAttentionMask(), 0, mask, i * t, t);
            System.arraycopy(enc[i].getTypeIds(), 0, types, i * t, t);
        }
        Shape s = new Shape(b, t);
        return new NDList(m.create(ids, s), m.create(mask, s), m.create(types, s));
    }

    /** Mean-pooled sentence embedding over the attention mask: [B, H]. */
    private static NDArray meanPool(NDList inputs, NDList outputs) {
        NDArray hidden = outputs.head();
        NDArray mask = inputs.get(1).toType(DataType.FLOAT32, false).expandDims(2);
        return hidden.mul(mask).sum(new int[] {1}).div(mask.sum(new int[] {1}));
    }

    private static Path extract(String resource, Path dir) throws IOException {
        try (InputStream in =
                MixedPrecisionPolicyDemo.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException(resource + " is not on the classpath (langchain4j jar)");
            }
            Path f = dir.resolve(resource);
            Files.copy(in, f, StandardCopyOption.REPLACE_EXISTING);
            return f;
        }
    }

    private static void writeResults(
            Path out,
            Map<String, Map<String, Object>> rows,
            SearchResult result,
            SensitivityReport sensitivity,
            double fp32Acc,
            double budget,
            Map<String, Double> fp16,
            int threads,
            int heldOut,
            int train,
            double seconds)
            throws IOException {
        StringBuilder md = new StringBuilder();
        md.append("# Mixed-precision policy on all-MiniLM-L6-v2 (imported, DJL PyTorch)\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "Probe: logistic regression trained on FP32 embeddings of %d sentences;"
                                + " accuracy on %d held-out sentences (1 sentence = %.2f points)."
                                + " Search evaluator: cosine proxy (mean cosine x100 of pooled"
                                + " embeddings to FP32 on the sensitivity sentences), budget %.2f."
                                + " Latency and size: sum over the 36 Linear"
                                + " layers of medians measured on libtorch, %d thread(s), at the"
                                + " calibration batch shape. INT8 rows are simulated (fake"
                                + " quantization); the last row runs BF16 for real.\n\n",
                        train,
                        heldOut,
                        100.0 / heldOut,
                        budget,
                        threads));
        md.append(
                "| variant | probe acc % | drop (points) | mean cos | min cos | Linear ms |"
                        + " Linear MB | layers |\n|---|---|---|---|---|---|---|---|\n");
        rows.forEach(
                (k, r) ->
                        md.append(
                                String.format(
                                        Locale.ROOT,
                                        "| %s | %.2f | %.2f | %.5f | %.4f | %.1f | %.1f | %s |%n",
                                        k,
                                        r.get("accuracyPct"),
                                        r.get("dropPoints"),
                                        r.get("meanCosine"),
                                        r.get("minCosine"),
                                        r.get("linearLatencyMs"),
                                        r.get("linearWeightMB"),
                                        r.get("layers"))));
        md.append(
                String.format(
                        Locale.ROOT,
                        "%nFP16 vs FP32 (Linear layers, measured): %.1f ms vs %.1f ms.%n",
                        fp16.get("fp16Ms"),
                        fp16.get("fp32Ms")));
        md.append(
                String.format(
                        Locale.ROOT,
                        "Search: fallback, %d evaluator calls (limit %d). Most INT8-sensitive"
                                + " layers (dynamic, cosine): %s. Run time %.0f s.%n%n",
                        result.evaluatorCalls(),
                        result.evaluatorCallLimit(),
                        sensitivity
                                .ranking(Precision.INT8_DYNAMIC, ProxyMetric.COSINE)
                                .subList(0, 5),
                        seconds));
        md.append("## Chosen policy\n\n").append(result.policy().toTable());
        Files.writeString(out.resolve("policy.md"), md.toString());
        System.out.println(md);
        JsonObject root = new JsonObject();
        root.addProperty("model", "all-MiniLM-L6-v2 (langchain4j jar ONNX, imported)");
        root.addProperty("fp32AccuracyPct", 100 * fp32Acc);
        root.addProperty("searchEvaluator", "cosine proxy x100 on the sensitivity sentences");
        root.addProperty("budgetCosinePoints", budget);
        root.addProperty("threads", threads);
        root.addProperty("heldOut", heldOut);
        root.addProperty("probeTrain", train);
        root.addProperty("evaluatorCalls", result.evaluatorCalls());
        root.addProperty("fp16LinearMs", fp16.get("fp16Ms"));
        root.addProperty("fp32LinearMs", fp16.get("fp32Ms"));
        JsonObject variants = new JsonObject();
        rows.forEach(
                (k, r) -> {
                    JsonObject o = new JsonObject();
                    r.forEach(
                            (f, v) -> {
                                if (v instanceof Number n) {
                                    o.addProperty(f, n);
                                } else {
                                    o.addProperty(f, String.valueOf(v));
                                }
                            });
                    variants.add(k, o);
                });
        root.add("variants", variants);
        JsonArray tried = new JsonArray();
        for (Candidate c : result.tried()) {
            JsonObject o = new JsonObject();
            o.addProperty("order", c.order());
            o.addProperty("stage", c.stage().name());
            o.addProperty("note", c.note());
            o.addProperty("cosineX100", c.metric());
            o.addProperty("linearLatencyMs", c.latencyMs());
            o.addProperty("bytes", c.bytes());
            o.addProperty("pareto", result.paretoFrontier().contains(c));
            tried.add(o);
        }
        root.add("searchCandidates", tried);
        Files.writeString(
                out.resolve("policy.json"),
                new GsonBuilder().setPrettyPrinting().create().toJson(root) + "\n",
                StandardCharsets.UTF_8);
    }

    private static void writePareto(
            Path file, SearchResult result, Map<String, Map<String, Object>> rows)
            throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 900;
        int h = 560;
        int left = 80;
        int right = 260;
        int top = 50;
        int bottom = 60;
        List<double[]> pts = new ArrayList<>();
        for (Candidate c : result.tried()) {
            pts.add(new double[] {c.latencyMs(), c.metric()});
        }
        for (Map<String, Object> r : rows.values()) {
            pts.add(
                    new double[] {
                        (Double) r.get("linearLatencyMs"), 100 * (Double) r.get("meanCosine")
                    });
        }
        double x0 = Double.MAX_VALUE;
        double x1 = -Double.MAX_VALUE;
        double y0 = Double.MAX_VALUE;
        double y1 = -Double.MAX_VALUE;
        for (double[] p : pts) {
            x0 = Math.min(x0, p[0]);
            x1 = Math.max(x1, p[0]);
            y0 = Math.min(y0, p[1]);
            y1 = Math.max(y1, p[1]);
        }
        double dx = Math.max(1e-9, x1 - x0) * 0.08;
        double dy = Math.max(0.5, y1 - y0) * 0.1;
        final double ax0 = x0 - dx;
        final double ax1 = x1 + dx;
        final double ay0 = y0 - dy;
        final double ay1 = y1 + dy;
        int pw = w - left - right;
        int ph = h - top - bottom;
        java.util.function.DoubleUnaryOperator sx = v -> left + (v - ax0) / (ax1 - ax0) * pw;
        java.util.function.DoubleUnaryOperator sy = v -> top + ph - (v - ay0) / (ay1 - ay0) * ph;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.drawString(
                    "MiniLM: embedding cosine to FP32 (x100) vs Linear-layer latency (libtorch)",
                    10,
                    22);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawRect(left, top, pw, ph);
            for (int i = 0; i <= 4; i++) {
                double xv = ax0 + (ax1 - ax0) * i / 4;
                double yv = ay0 + (ay1 - ay0) * i / 4;
                g.drawString(
                        String.format(Locale.ROOT, "%.1f", xv),
                        (int) sx.applyAsDouble(xv) - 12,
                        top + ph + 16);
                g.drawString(
                        String.format(Locale.ROOT, "%.1f", yv),
                        left - 40,
                        (int) sy.applyAsDouble(yv) + 4);
            }
            g.drawString(
                    "Linear latency, ms (sum of per-layer medians)", left + pw / 2 - 120, h - 20);
            g.drawString(
                    "cosine x100 (dots: search candidates, sensitivity sentences; squares: held-out)",
                    10,
                    top - 8);
            g.setColor(new Color(0xAAAAAA));
            for (Candidate c : result.tried()) {
                g.fillOval(
                        (int) sx.applyAsDouble(c.latencyMs()) - 3,
                        (int) sy.applyAsDouble(c.metric()) - 3,
                        6,
                        6);
            }
            List<Candidate> front = new ArrayList<>(result.paretoFrontier());
            g.setColor(new Color(0x2E86C1));
            g.setStroke(new BasicStroke(2));
            for (int i = 1; i < front.size(); i++) {
                g.drawLine(
                        (int) sx.applyAsDouble(front.get(i - 1).latencyMs()),
                        (int) sy.applyAsDouble(front.get(i - 1).metric()),
                        (int) sx.applyAsDouble(front.get(i).latencyMs()),
                        (int) sy.applyAsDouble(front.get(i).metric()));
            }
            for (Candidate c : front) {
                g.fillOval(
                        (int) sx.applyAsDouble(c.latencyMs()) - 4,
                        (int) sy.applyAsDouble(c.metric()) - 4,
                        8,
                        8);
            }
            Color[] cs = {
                new Color(0x17202A),
                new Color(0xF39C12),
                new Color(0xC0392B),
                new Color(0x8E44AD),
                new Color(0x28B463),
                new Color(0x1ABC9C)
            };
            int k = 0;
            int ly = top + 10;
            for (Map.Entry<String, Map<String, Object>> e : rows.entrySet()) {
                Map<String, Object> r = e.getValue();
                g.setColor(cs[k % cs.length]);
                int px = (int) sx.applyAsDouble((Double) r.get("linearLatencyMs"));
                int py = (int) sy.applyAsDouble(100 * (Double) r.get("meanCosine"));
                g.fillRect(px - 5, py - 5, 10, 10);
                g.fillRect(w - right + 10, ly - 9, 10, 10);
                g.setColor(Color.BLACK);
                g.drawString(
                        String.format(
                                Locale.ROOT,
                                "%s, %.1f MB",
                                e.getKey(),
                                (Double) r.get("linearWeightMB")),
                        w - right + 24,
                        ly);
                ly += 18;
                k++;
            }
            g.setColor(new Color(0x2E86C1));
            g.drawString("blue: Pareto frontier of search candidates", w - right + 10, ly + 10);
            g.setColor(new Color(0x888888));
            g.drawString("grey: other candidates tried", w - right + 10, ly + 28);
        } finally {
            g.dispose();
        }
        ImageIO.write(img, "png", file.toFile());
    }
}
