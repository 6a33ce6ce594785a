package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.Median;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;

/**
 * Load time of exported TorchScript archives: the same model written by {@link TorchScriptExporter}
 * as FP32, dynamic INT8 (per-channel weights stored INT8, prepacked for fbgemm when the archive
 * loads), weight-only INT8 and weight-only INT4 (group 128: the nibbles are packed with {@code
 * aten::_convert_weight_to_int4pack_for_cpu} in {@code QInt4Linear.__setstate__}, i.e. at load),
 * then each archive loaded with plain DJL {@code Criteria}. Two models: the transformer
 * feed-forward block 768 -> 3072 -> ReLU -> 768 and a 2-layer BERT of BERT-base width (hidden 768,
 * 12 heads, FFN 3072, vocabulary 30522, 512 positions; embeddings stay FP32 in every variant, so
 * they dominate its size).
 *
 * <p>Two timings per archive, interleaved with {@link SpeedMeter#measureInterleaved} (order rotated
 * per round, a settle pause before every timed call): <b>load</b> ({@code Criteria.loadModel} until
 * the model is usable; closing it is not timed) and <b>load + first call</b> (load, then one
 * forward on a [1, 128] input, where TorchScript's first-run optimisation happens). Medians of the
 * timed rounds; libtorch at 1 intra-op thread, then 2.
 *
 * <p>Usage: {@code benchmarks/run-export-load-time.sh [rounds] [warmup] [settle-ms]} (defaults 9,
 * 2, 30). Writes {@code benchmarks/results/export-load-time.{json,md}}.
 */
public final class ExportLoadTime {

    private static final int SEQ = 128;
    private static final int HIDDEN = 768;
    private static final int FFN = 3072;

    private ExportLoadTime() {}

    /** One exported archive. */
    private record Archive(String model, String variant, Path dir, long bytes, NDList input) {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds and settle milliseconds
     * @throws QuantizationException if a model cannot be exported
     * @throws IOException if files cannot be written
     */
    public static void main(String[] args) throws QuantizationException, IOException {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        SpeedMeter meter = new SpeedMeter(warmup, rounds).withSettle(Results.settle(args, 2));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine engine = Engine.getEngine("PyTorch");
        QEngine.select(QEngine.X86);
        String loadStart = Results.loadAverage();
        Map<String, Function<NDManager, Block>> models = new LinkedHashMap<>();
        models.put("FFN 768-3072-768", ExportLoadTime::ffn);
        models.put("BERT 2 layers, hidden 768", ExportLoadTime::bert);
        Map<String, QConfig> variants = new LinkedHashMap<>();
        variants.put("FP32", null);
        variants.put("INT8 dynamic", QConfig.dynamicInt8(BackendTarget.FBGEMM));
        variants.put(
                "weight-only INT8 (bf16 compute)", QConfig.weightOnlyInt8(BackendTarget.FBGEMM));
        variants.put(
                "weight-only INT4 g128 (bf16 compute)",
                QConfig.weightOnlyInt4(128, BackendTarget.FBGEMM));

        Path work = Files.createTempDirectory("djlq-load-time");
        List<Map<String, Object>> rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        try (NDManager manager = engine.newBaseManager()) {
            List<Archive> archives = new ArrayList<>();
            for (Map.Entry<String, Function<NDManager, Block>> m : models.entrySet()) {
                boolean bert = m.getKey().startsWith("BERT");
                NDList input = bert ? bertInput(manager) : ffnInput(manager);
                for (Map.Entry<String, QConfig> v : variants.entrySet()) {
                    try (NDManager sub = manager.newSubManager()) {
                        Block block = m.getValue().apply(sub);
                        if (v.getValue() != null) {
                            Preparer.prepare(block, QConfigMapping.global(v.getValue()));
                        }
                        Path dir = work.resolve(archives.size() + "");
                        TorchScriptExporter.builder()
                                .setBlock(block)
                                .optEngine(QEngine.X86)
                                .optWeightOnlyCompute(Compute.BFLOAT16)
                                .optInputCount(bert ? 3 : 1)
                                .build()
                                .export(dir, "model");
                        archives.add(
                                new Archive(
                                        m.getKey(),
                                        v.getKey(),
                                        dir,
                                        Files.size(dir.resolve("model.pt")),
                                        input));
                    } catch (QuantizationException | RuntimeException e) {
                        notes.add(
                                m.getKey()
                                        + " / "
                                        + v.getKey()
                                        + ": not exported ("
                                        + e.getClass().getSimpleName()
                                        + ": "
                                        + e.getMessage()
                                        + ")");
                    }
                }
            }
            for (int threads : new int[] {1, 2}) {
                JniUtils.setNumThreads(threads);
                for (String model : models.keySet()) {
                    rows.addAll(time(meter, archives, model, threads));
                }
            }
        } finally {
            Results.deleteRecursively(work);
        }
        write(rows, notes, meter, loadStart);
    }

    private static List<Map<String, Object>> time(
            SpeedMeter meter, List<Archive> archives, String model, int threads) {
        Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
        Map<String, List<Double>> loadMs = new LinkedHashMap<>();
        Map<String, Archive> byVariant = new LinkedHashMap<>();
        for (Archive a : archives) {
            if (!a.model().equals(model)) {
                continue;
            }
            byVariant.put(a.variant(), a);
            List<Double> loads = new ArrayList<>();
            loadMs.put(a.variant(), loads);
            // load only: the work's own clock stops before close (freeing the module is not a
            // user's load cost); SpeedMeter still orders the works and settles before each
            works.put(
                    a.variant() + " | load",
                    run -> {
                        long t0 = System.nanoTime();
                        ZooModel<NDList, NDList> z = load(a.dir());
                        long t1 = System.nanoTime();
                        z.close();
                        if (run >= meter.warmupRuns()) {
                            loads.add((t1 - t0) / 1e6);
                        }
                    });
            works.put(
                    a.variant() + " | load + first call",
                    run -> {
                        try (ZooModel<NDList, NDList> z = load(a.dir());
                                Predictor<NDList, NDList> p = z.newPredictor();
                                NDManager sub = a.input().head().getManager().newSubManager()) {
                            sub.tempAttachAll(a.input());
                            p.predict(a.input()).head().toFloatArray();
                        } catch (TranslateException e) {
                            throw new IllegalStateException(e);
                        }
                    });
        }
        Map<String, SpeedMeter.Timing> timings = meter.measureInterleaved(1, works);
        double fp32Load = Median.of(loadMs.get("FP32"));
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Map.Entry<String, Archive> e : byVariant.entrySet()) {
            double load = Median.of(loadMs.get(e.getKey()));
            SpeedMeter.Timing first = timings.get(e.getKey() + " | load + first call");
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("model", model);
            row.put("variant", e.getKey());
            row.put("threads", threads);
            row.put("archive_mb", e.getValue().bytes() / 1e6);
            row.put("load_ms", load);
            row.put("load_min_ms", Collections.min(loadMs.get(e.getKey())));
            row.put("load_vs_fp32", load / fp32Load);
            row.put("load_first_call_ms", first.medianMillis());
            rows.add(row);
        }
        return rows;
    }

    private static ZooModel<NDList, NDList> load(Path dir) {
        try {
            return Criteria.builder()
                    .setTypes(NDList.class, NDList.class)
                    .optEngine("PyTorch")
                    .optModelPath(dir)
                    .optModelName("model")
                    .build()
                    .loadModel();
        } catch (IOException | ModelNotFoundException | MalformedModelException e) {
            throw new IllegalStateException("cannot load " + dir + ": " + e.getMessage(), e);
        }
    }

    private static Block ffn(NDManager m) {
        SequentialBlock block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(FFN).build())
                        .add(ExportableBlocks.relu())
                        .add(Linear.builder().setUnits(HIDDEN).build());
        block.initialize(m, DataType.FLOAT32, new Shape(1, SEQ, HIDDEN));
        return block;
    }

    private static Block bert(NDManager m) {
        BertModelBlock bert =
                new BertModelBlock(
                        new BertConfig(30522, HIDDEN, 2, 12, FFN, 512, 2, 1e-12f, -10000f));
        bert.initialize(
                m, DataType.FLOAT32, new Shape(1, SEQ), new Shape(1, SEQ), new Shape(1, SEQ));
        return bert;
    }

    private static NDList ffnInput(NDManager m) {
        return new NDList(m.randomNormal(new Shape(1, SEQ, HIDDEN)));
    }

    private static NDList bertInput(NDManager m) {
        long[] ids = new long[SEQ];
        long[] mask = new long[SEQ];
        for (int i = 0; i < SEQ; i++) {
            ids[i] = 1000 + i;
            mask[i] = 1;
        }
        return new NDList(
                m.create(ids, new Shape(1, SEQ)),
                m.create(mask, new Shape(1, SEQ)),
                m.create(new long[SEQ], new Shape(1, SEQ)));
    }

    private static void write(
            List<Map<String, Object>> rows, List<String> notes, SpeedMeter meter, String loadStart)
            throws IOException {
        String loadEnd = Results.loadAverage();
        StringBuilder md = new StringBuilder();
        md.append("# Load time of exported TorchScript archives: FP32 vs INT8 vs INT4\n\n");
        md.append(
                String.format(
                        Locale.ROOT,
                        "qengine x86; archives loaded with DJL Criteria; %s; load average at the"
                                + " start: %s, at the end: %s; %s\n\n",
                        meter.methodology(),
                        loadStart,
                        loadEnd,
                        Instant.now()));
        for (String n : notes) {
            md.append(n).append("\n\n");
        }
        md.append(
                "| model | variant | threads | archive MB | load ms (median) | load ms (min) | load"
                        + " vs FP32 | load + first call ms |\n");
        md.append("|---|---|---|---|---|---|---|---|\n");
        StringBuilder json = Results.jsonHead("export-load-time", "x86", meter, loadStart, loadEnd);
        json.append(",\n  \"notes\": [");
        for (int i = 0; i < notes.size(); i++) {
            json.append(i == 0 ? "" : ", ")
                    .append('"')
                    .append(notes.get(i).replace("\\", "\\\\").replace("\"", "'"))
                    .append('"');
        }
        json.append("],\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> r = rows.get(i);
            md.append(
                    String.format(
                            Locale.ROOT,
                            "| %s | %s | %d | %.1f | %.1f | %.1f | %.2f | %.1f |%n",
                            r.get("model"),
                            r.get("variant"),
                            (Integer) r.get("threads"),
                            (Double) r.get("archive_mb"),
                            (Double) r.get("load_ms"),
                            (Double) r.get("load_min_ms"),
                            (Double) r.get("load_vs_fp32"),
                            (Double) r.get("load_first_call_ms")));
            json.append(
                    String.format(
                            Locale.ROOT,
                            "    {\"model\": \"%s\", \"variant\": \"%s\", \"threads\": %d,"
                                    + " \"archive_mb\": %.3f, \"load_ms\": %.3f, \"load_min_ms\":"
                                    + " %.3f, \"load_vs_fp32\": %.3f, \"load_first_call_ms\":"
                                    + " %.3f}%s%n",
                            r.get("model"),
                            r.get("variant"),
                            (Integer) r.get("threads"),
                            (Double) r.get("archive_mb"),
                            (Double) r.get("load_ms"),
                            (Double) r.get("load_min_ms"),
                            (Double) r.get("load_vs_fp32"),
                            (Double) r.get("load_first_call_ms"),
                            i + 1 < rows.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
        Results.write("export-load-time", json, md);
    }
}
