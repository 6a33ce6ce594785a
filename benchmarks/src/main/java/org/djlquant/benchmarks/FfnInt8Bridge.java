package org.djlquant.benchmarks;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.Twins;

/**
 * Times a transformer feed-forward block, 768 -> 3072 -> ReLU -> 768, on inputs [8, 128, 768] and
 * [1, 128, 768] with 1 and 2 threads, all variants side by side in one run (interleaved round after
 * round, medians compared within one configuration):
 *
 * <ul>
 *   <li>FP32 libtorch: the DJL block ({@code Linear}, {@code Activation.reluBlock()}) through a DJL
 *       {@code Predictor};
 *   <li>FP32 ONNX Runtime: the same weights as an ONNX graph (the best FP32 on CPUs where
 *       libtorch's MKL is slow);
 *   <li>INT8 dynamic and INT8 static (ReLU fused), each <b>in place</b> (the DJL model prepared,
 *       calibrated and converted by {@link Converter}: {@link QuantizedLinear} blocks, run through
 *       the same {@code Predictor}) and <b>exported</b> (that converted model written by {@link
 *       TorchScriptExporter} and loaded by plain DJL {@code Criteria});
 *   <li>a hand-chained lower bound: the two static layers as {@link PackedLinear}s with the hidden
 *       activation kept INT8 ({@link QuantizedActivation}), no DJL blocks;
 *   <li>the two dynamic layers hand-chained as {@link PackedLinear}s, with the ReLU between them as
 *       a separate DJL op (how the converter ran it before fusing) and fused into the first kernel
 *       ({@code quantized::linear_relu_dynamic}): the ratio of the two is what the fusion saves.
 * </ul>
 *
 * <p>Configs are the presets {@link QConfig#dynamicInt8} / {@link QConfig#staticInt8} for the
 * engine's target (7-bit activations on fbgemm/x86). Static is calibrated on the benchmark input
 * plus three other random batches. Threads: libtorch's intra-op pool is resized between
 * configurations ({@code JniUtils.setNumThreads}); ONNX Runtime gets one session per thread count.
 *
 * <p>Timing is {@link SpeedMeter#measureInterleaved} in steady state: each variant's turn starts
 * with a settle pause (libtorch's OpenMP and ONNX Runtime's worker threads spin after a call and
 * would steal one of two cores from the next variant), then untimed lead-in calls (the first calls
 * after a pause run slow, which hurts a 1 ms INT8 call far more than a 10 ms FP32 one), then a
 * burst of timed calls back to back; the order of turns changes every round. The first call after
 * each pause is reported in its own columns: the latency of a call that finds the machine idle.
 *
 * <p>Usage: {@code benchmarks/run-ffn-int8.sh [rounds] [warmup] [qengine] [settle-ms] [lead-in]
 * [burst]} (defaults 15, 3, x86, 30, 3, 5). On qnnpack (SSE only on x86) the INT8 rows check
 * correctness; their speed says nothing about ARM and the output says so.
 */
public final class FfnInt8Bridge {

    private static final int SEQ = 128;
    private static final int HIDDEN = 768;
    private static final int FFN = 3072;
    private static final int[] BATCHES = {8, 1};
    private static final int[] THREADS = {1, 2};

    private FfnInt8Bridge() {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds and quantized engine name
     * @throws QuantizationException if the INT8 layers cannot be built or exported
     * @throws IOException if the results cannot be written
     * @throws MalformedModelException if a model cannot be loaded
     * @throws ModelNotFoundException if an exported model cannot be found
     * @throws TranslateException if a prediction fails
     */
    public static void main(String[] args)
            throws QuantizationException,
                    IOException,
                    MalformedModelException,
                    ModelNotFoundException,
                    TranslateException {
        Int8BridgeRows.Setup setup = Int8BridgeRows.start(args);

        Random random = new Random(1);
        float[] w1 = Int8BridgeRows.gaussian(random, FFN * HIDDEN, 0.02);
        float[] b1 = Int8BridgeRows.gaussian(random, FFN, 0.02);
        float[] w2 = Int8BridgeRows.gaussian(random, HIDDEN * FFN, 0.02);
        float[] b2 = Int8BridgeRows.gaussian(random, HIDDEN, 0.02);
        Map<Integer, float[]> inputs = new LinkedHashMap<>();
        for (int b : BATCHES) {
            inputs.put(b, Int8BridgeRows.gaussian(random, b * SEQ * HIDDEN, 1.0));
        }
        List<float[]> extraCalibration = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            extraCalibration.add(Int8BridgeRows.gaussian(random, 8 * SEQ * HIDDEN, 1.0));
        }

        Path work = Files.createTempDirectory("ffn-int8");
        Files.write(work.resolve("ffn.onnx"), OnnxFfn.graph(w1, b1, w2, b2).toByteArray());
        List<Int8BridgeRows.Row> rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        try (NDManager manager = setup.engine().newBaseManager();
                Model fp32 = ffnModel("fp32", w1, b1, w2, b2);
                Model dynamic = ffnModel("dynamic", w1, b1, w2, b2);
                Model stat = ffnModel("static", w1, b1, w2, b2)) {
            // prepare, calibrate, convert in place
            Preparer.prepare(dynamic, QConfigMapping.global(QConfig.dynamicInt8(setup.target())));
            ConvertReport dynReport = Converter.convert(dynamic, setup.qengine());
            Preparer.prepare(stat, QConfigMapping.global(QConfig.staticInt8(setup.target())));
            List<NDList> calibration = new ArrayList<>();
            calibration.add(new NDList(manager.create(inputs.get(8), new Shape(8, SEQ, HIDDEN))));
            for (float[] c : extraCalibration) {
                calibration.add(new NDList(manager.create(c, new Shape(8, SEQ, HIDDEN))));
            }
            Calibrator.builder().setModel(stat).optProgress(null).build().calibrate(calibration);
            Twins.setObserving(stat.getBlock(), false);
            ConvertReport statReport = Converter.convert(stat, setup.qengine());
            notes.add(
                    "in place: dynamic "
                            + dynReport.quantizedLinears()
                            + ", static "
                            + statReport.quantizedLinears()
                            + " (ReLU fused: "
                            + statReport.fusedReluCount()
                            + ")");
            // export the converted models and load them with plain DJL
            Path dynDir = work.resolve("dynamic");
            Path statDir = work.resolve("static");
            TorchScriptExporter.builder()
                    .setBlock(dynamic.getBlock())
                    .optEngine(setup.qengine())
                    .build()
                    .export(dynDir, "ffn");
            TorchScriptExporter.builder()
                    .setBlock(stat.getBlock())
                    .optEngine(setup.qengine())
                    .build()
                    .export(statDir, "ffn");
            QuantizedLinear s1 = statReport.quantizedLinears().get(0);
            QuantizedLinear s2 = statReport.quantizedLinears().get(1);
            try (ZooModel<NDList, NDList> dynExported = Int8BridgeRows.load(dynDir, "ffn");
                    ZooModel<NDList, NDList> statExported = Int8BridgeRows.load(statDir, "ffn");
                    PackedLinear p1 = packed(s1, w1, b1, true);
                    PackedLinear p2 = packed(s2, w2, b2, false);
                    PackedLinear d1 =
                            dynamicPacked(dynReport.quantizedLinears().get(0), w1, b1, false);
                    PackedLinear d1r =
                            dynamicPacked(dynReport.quantizedLinears().get(0), w1, b1, true);
                    PackedLinear d2 =
                            dynamicPacked(dynReport.quantizedLinears().get(1), w2, b2, false);
                    Model ort1 = ortModel(work, 1);
                    Model ort2 = ortModel(work, 2);
                    Predictor<NDList, NDList> fp32P = fp32.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> dynP = dynamic.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> statP = stat.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> dynEP = dynExported.newPredictor();
                    Predictor<NDList, NDList> statEP = statExported.newPredictor();
                    Predictor<NDList, NDList> ort1P = ort1.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> ort2P = ort2.newPredictor(new NoopTranslator())) {
                for (int threads : THREADS) {
                    JniUtils.setNumThreads(threads);
                    Predictor<NDList, NDList> ortP = threads == 1 ? ort1P : ort2P;
                    NDManager ortManager = (threads == 1 ? ort1 : ort2).getNDManager();
                    for (int batch : BATCHES) {
                        float[] input = inputs.get(batch);
                        Shape shape = new Shape(batch, SEQ, HIDDEN);
                        NDArray x = manager.create(input, shape);
                        NDArray ortX = ortManager.create(input, shape);
                        ortX.setName("x");
                        Map<String, Function<NDArray, NDArray>> variants = new LinkedHashMap<>();
                        variants.put(
                                "FP32 libtorch (DJL Linear)",
                                in -> Int8BridgeRows.predict(fp32P, in));
                        variants.put(
                                "FP32 ONNX Runtime",
                                in -> {
                                    try (NDList out = ortP.predict(new NDList(ortX))) {
                                        return in.getManager()
                                                .create(
                                                        out.singletonOrThrow().toFloatArray(),
                                                        shape);
                                    } catch (TranslateException e) {
                                        throw new IllegalStateException(e);
                                    }
                                });
                        variants.put(
                                "INT8 dynamic, in place", in -> Int8BridgeRows.predict(dynP, in));
                        variants.put(
                                "INT8 dynamic, exported", in -> Int8BridgeRows.predict(dynEP, in));
                        variants.put(
                                "INT8 static, in place", in -> Int8BridgeRows.predict(statP, in));
                        variants.put(
                                "INT8 static, exported", in -> Int8BridgeRows.predict(statEP, in));
                        variants.put(
                                "INT8 static, hand-chained PackedLinear (lower bound)",
                                in -> chained(p1, p2, s1, in));
                        variants.put(
                                "INT8 dynamic, hand-chained PackedLinear, ReLU as a separate op",
                                in -> dynamicChained(d1, d2, in, true));
                        variants.put(
                                "INT8 dynamic, hand-chained PackedLinear, ReLU fused",
                                in -> dynamicChained(d1r, d2, in, false));
                        rows.addAll(
                                Int8BridgeRows.measure(
                                        manager,
                                        x,
                                        null,
                                        "[" + batch + ", 128, 768]",
                                        threads,
                                        variants,
                                        setup.meter()));
                        x.close();
                        ortX.close();
                    }
                }
            }
        } finally {
            Results.deleteRecursively(work);
        }
        report(setup, rows, notes);
    }

    private static Model ffnModel(String name, float[] w1, float[] b1, float[] w2, float[] b2) {
        Model model = Model.newInstance(name, "PyTorch");
        SequentialBlock block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(FFN).build())
                        .add(Activation.reluBlock())
                        .add(Linear.builder().setUnits(HIDDEN).build());
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, SEQ, HIDDEN));
        List<float[]> values = List.of(w1, b1, w2, b2);
        int i = 0;
        for (var p : block.getParameters()) {
            p.getValue().getArray().set(FloatBuffer.wrap(values.get(i++)));
        }
        model.setBlock(block);
        return model;
    }

    private static Model ortModel(Path dir, int threads)
            throws IOException, MalformedModelException {
        Model model = Model.newInstance("ffn-ort-" + threads, "OnnxRuntime");
        Map<String, String> options = new LinkedHashMap<>();
        options.put("interOpNumThreads", "1");
        options.put("intraOpNumThreads", Integer.toString(threads));
        model.load(dir, "ffn", options);
        return model;
    }

    /** The converted layer's INT8 weights, packed again as a standalone static PackedLinear. */
    private static PackedLinear packed(QuantizedLinear l, float[] w, float[] b, boolean relu)
            throws QuantizationException {
        long[] shape = l.getWeightShape();
        int out = (int) shape[0];
        float[] scales = new float[out];
        long[] zps = new long[out];
        for (int o = 0; o < out; o++) {
            int k = l.getWeightParams().size() == 1 ? 0 : o;
            scales[o] = l.getWeightParams().scaleAt(k);
            zps[o] = l.getWeightParams().zeroPointAt(k);
        }
        return PackedLinear.staticInt8(
                w,
                shape,
                scales,
                zps,
                0,
                b,
                l.getInputParams().scale(),
                l.getInputParams().zeroPoint(),
                l.getOutputParams().scale(),
                l.getOutputParams().zeroPoint(),
                relu);
    }

    /** The converted dynamic layer's INT8 weights, packed again as a standalone PackedLinear. */
    private static PackedLinear dynamicPacked(QuantizedLinear l, float[] w, float[] b, boolean relu)
            throws QuantizationException {
        long[] shape = l.getWeightShape();
        int out = (int) shape[0];
        float[] scales = new float[out];
        long[] zps = new long[out];
        for (int o = 0; o < out; o++) {
            int k = l.getWeightParams().size() == 1 ? 0 : o;
            scales[o] = l.getWeightParams().scaleAt(k);
            zps[o] = l.getWeightParams().zeroPointAt(k);
        }
        return PackedLinear.dynamicInt8(w, shape, scales, zps, 0, b, l.isReduceRange(), relu);
    }

    /** Two dynamic layers, the ReLU between them either a DJL op or inside the first kernel. */
    private static NDArray dynamicChained(
            PackedLinear first, PackedLinear second, NDArray in, boolean separateRelu) {
        try (NDArray h = first.forward(in)) {
            if (!separateRelu) {
                return second.forward(h);
            }
            try (NDArray r = Activation.relu(h)) {
                return second.forward(r);
            }
        }
    }

    private static NDArray chained(
            PackedLinear p1, PackedLinear p2, QuantizedLinear s1, NDArray in) {
        try (QuantizedActivation xq =
                        QuantizedActivation.quantize(
                                in, s1.getInputParams().scale(), s1.getInputParams().zeroPoint());
                QuantizedActivation h = p1.forward(xq);
                QuantizedActivation y = p2.forward(h)) {
            return y.dequantize(in.getManager());
        } catch (QuantizationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void report(
            Int8BridgeRows.Setup setup, List<Int8BridgeRows.Row> rows, List<String> notes)
            throws IOException {
        String cpu = Results.cpuModel();
        String load = Results.loadAverage();
        StringBuilder md =
                Int8BridgeRows.preamble(
                        "FFN 768->3072->ReLU->768: FP32 vs INT8, in place vs exported",
                        setup,
                        cpu,
                        load);
        for (String n : notes) {
            md.append(n).append("\n\n");
        }
        StringBuilder json = new StringBuilder();
        json.append("{\n  \"benchmark\": \"ffn-768-3072-768\",\n")
                .append("  \"qengine\": \"")
                .append(setup.qengine().pytorchName())
                .append("\",\n  \"speed_is_result\": ")
                .append(setup.speedIsResult())
                .append(Results.methodologyJson(setup.meter()))
                .append(",\n  \"cpu\": \"")
                .append(cpu.replace("\"", "'"))
                .append("\",\n  \"load_average_start\": \"")
                .append(setup.loadStart())
                .append("\",\n  \"load_average\": \"")
                .append(load)
                .append("\",\n  \"time\": \"")
                .append(Instant.now())
                .append('"');
        Int8BridgeRows.appendTable(md, json, rows, false);
        Results.write("ffn-int8-bridge-" + setup.qengine().pytorchName(), json, md);
    }
}
