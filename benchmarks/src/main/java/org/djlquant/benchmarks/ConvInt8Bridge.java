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
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.eval.SpeedMeter;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantizedConv2d;
import org.djlquant.nn.Twins;

/**
 * Times INT8 convolutions against FP32, all variants side by side in one run (interleaved round
 * after round, medians compared within one configuration), with 1 and 2 threads, on two workloads:
 *
 * <ul>
 *   <li><b>ResNet-style block</b>: Conv2d 64→64 3×3 pad 1, ReLU, Conv2d 64→64 3×3 pad 1, on {@code
 *       [8, 64, 56, 56]} and {@code [1, 64, 56, 56]}, followed by a small head (flatten, Linear
 *       200,704→10: about 1% of the multiply-adds). The head is there because a static {@link
 *       QuantizedConv2d} requantizes its output to the input parameters of the next static layer of
 *       its SequentialBlock and {@link Converter} refuses a static conv with none after it; ending
 *       the block with a static 1×1 conv only moves that problem, and mapping the last conv to FP32
 *       leaves the conv before it without a target. The errors of this workload are therefore
 *       measured on the head's 10 outputs per sample;
 *   <li><b>the Fashion-MNIST CNN</b> of the examples ({@code FashionMnist.cnn()}: conv 5×5×8, ReLU,
 *       max pool 2, conv 5×5×16, ReLU, max pool 2, flatten, Linear 64, ReLU, Linear 10) on {@code
 *       [64, 1, 28, 28]}, built here with {@link ExportableBlocks} pools and flatten so that it
 *       exports.
 * </ul>
 *
 * <p>Variants: FP32 libtorch (the DJL blocks through a DJL {@code Predictor}); static INT8 <b>in
 * place</b> (prepared with the preset {@link QConfig#staticInt8} for the engine's target:
 * per-channel weights and 7-bit histogram activations on fbgemm/x86/onednn, per-tensor weights on
 * qnnpack; calibrated on the benchmark input plus three other random batches, converted by {@link
 * Converter}: {@link QuantizedConv2d} with fused ReLU, run through the same {@code Predictor});
 * static INT8 <b>exported</b> (that converted model written by {@link TorchScriptExporter} and
 * loaded by plain DJL {@code Criteria}). FP32 ONNX Runtime is not measured: the FFN runner's graph
 * is written by hand ({@link OnnxFfn}) and a conv/pool graph was not written for this runner.
 * Weights are seeded He-normal, inputs standard normal (ResNet block) or uniform [0, 1)
 * (Fashion-MNIST images).
 *
 * <p>Timing is {@link SpeedMeter#measureInterleaved} in steady state, as in {@link FfnInt8Bridge}:
 * a settle pause before each variant's turn, untimed lead-in calls, a timed burst; the order of
 * turns changes every round; the first call after each pause is reported apart.
 *
 * <p>Usage: {@code benchmarks/run-conv-int8.sh [rounds] [warmup] [qengine] [settle-ms] [lead-in]
 * [burst]} (defaults 15, 3, x86, 30, 3, 5). On qnnpack (SSE only on x86) the INT8 rows check
 * correctness; their speed says nothing about ARM and the output says so.
 */
public final class ConvInt8Bridge {

    private static final int[] THREADS = {1, 2};

    private ConvInt8Bridge() {}

    /** A network and the input shapes it is timed on (the first is the calibration shape). */
    private record Workload(
            String name,
            String file,
            Supplier<SequentialBlock> net,
            List<Shape> shapes,
            boolean images) {}

    /**
     * Runs the benchmark.
     *
     * @param args optional rounds, warm-up rounds, quantized engine name, settle ms, lead-in calls
     *     and burst calls
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

        List<Workload> workloads =
                List.of(
                        new Workload(
                                "ResNet block conv3x3-ReLU-conv3x3 (+ flatten-Linear10 head)",
                                "resnet",
                                ConvInt8Bridge::resnetBlock,
                                List.of(new Shape(8, 64, 56, 56), new Shape(1, 64, 56, 56)),
                                false),
                        new Workload(
                                "Fashion-MNIST CNN",
                                "fashion",
                                ConvInt8Bridge::fashionCnn,
                                List.of(new Shape(64, 1, 28, 28)),
                                true));
        Path work = Files.createTempDirectory("conv-int8");
        List<Int8BridgeRows.Row> rows = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Random random = new Random(1);
        try (NDManager manager = setup.engine().newBaseManager()) {
            for (Workload w : workloads) {
                rows.addAll(
                        run(
                                w,
                                manager,
                                random,
                                setup.target(),
                                setup.qengine(),
                                work,
                                setup.meter(),
                                notes));
            }
        } finally {
            Results.deleteRecursively(work);
        }
        report(setup, rows, notes);
    }

    private static List<Int8BridgeRows.Row> run(
            Workload w,
            NDManager manager,
            Random random,
            BackendTarget target,
            QEngine qengine,
            Path work,
            SpeedMeter meter,
            List<String> notes)
            throws QuantizationException,
                    IOException,
                    MalformedModelException,
                    ModelNotFoundException {
        Shape calShape = w.shapes().get(0);
        Map<Shape, float[]> inputs = new LinkedHashMap<>();
        for (Shape s : w.shapes()) {
            inputs.put(s, input(random, s, w.images()));
        }
        List<float[]> weights = new ArrayList<>();
        List<Int8BridgeRows.Row> rows = new ArrayList<>();
        try (Model fp32 = model(w, "fp32", calShape, random, weights);
                Model stat = model(w, "static", calShape, random, weights)) {
            Preparer.prepare(stat, QConfigMapping.global(QConfig.staticInt8(target)));
            List<NDList> calibration = new ArrayList<>();
            calibration.add(new NDList(manager.create(inputs.get(calShape), calShape)));
            for (int i = 0; i < 3; i++) {
                calibration.add(
                        new NDList(manager.create(input(random, calShape, w.images()), calShape)));
            }
            Calibrator.builder().setModel(stat).optProgress(null).build().calibrate(calibration);
            calibration.forEach(NDList::close);
            Twins.setObserving(stat.getBlock(), false);
            ConvertReport report = Converter.convert(stat, qengine);
            notes.add(
                    w.name()
                            + ": in place "
                            + report.quantizedConv2ds().size()
                            + " QuantizedConv2d + "
                            + report.quantizedLinears().size()
                            + " QuantizedLinear (ReLU fused: "
                            + report.fusedReluCount()
                            + "); INT8 weights "
                            + report.int8WeightBytes()
                            + " B vs FP32 "
                            + report.fp32WeightBytes()
                            + " B");
            Path dir = work.resolve(w.file());
            TorchScriptExporter.builder()
                    .setBlock(stat.getBlock())
                    .optEngine(qengine)
                    .build()
                    .export(dir, w.file());
            try (ZooModel<NDList, NDList> exported = Int8BridgeRows.load(dir, w.file());
                    Predictor<NDList, NDList> fp32P = fp32.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> statP = stat.newPredictor(new NoopTranslator());
                    Predictor<NDList, NDList> statEP = exported.newPredictor()) {
                for (int threads : THREADS) {
                    JniUtils.setNumThreads(threads);
                    for (Shape shape : w.shapes()) {
                        NDArray x = manager.create(inputs.get(shape), shape);
                        Map<String, Function<NDArray, NDArray>> variants = new LinkedHashMap<>();
                        variants.put(
                                "FP32 libtorch (DJL blocks)",
                                in -> Int8BridgeRows.predict(fp32P, in));
                        variants.put(
                                "INT8 static, in place", in -> Int8BridgeRows.predict(statP, in));
                        variants.put(
                                "INT8 static, exported", in -> Int8BridgeRows.predict(statEP, in));
                        rows.addAll(
                                Int8BridgeRows.measure(
                                        manager,
                                        x,
                                        w.name(),
                                        Arrays.toString(shape.getShape()),
                                        threads,
                                        variants,
                                        meter));
                        x.close();
                    }
                }
            }
        }
        return rows;
    }

    /** Conv 64→64 3×3 pad 1, ReLU, conv 64→64 3×3 pad 1, then flatten and Linear 10. */
    private static SequentialBlock resnetBlock() {
        return new SequentialBlock()
                .add(conv(64, 3, 1))
                .add(Activation.reluBlock())
                .add(conv(64, 3, 1))
                .add(ExportableBlocks.flatten())
                .add(Linear.builder().setUnits(10).build());
    }

    /** The examples' Fashion-MNIST CNN with exportable pools and flatten. */
    private static SequentialBlock fashionCnn() {
        return new SequentialBlock()
                .add(conv(8, 5, 0))
                .add(Activation.reluBlock())
                .add(ExportableBlocks.maxPool2d(2, 2, 0))
                .add(conv(16, 5, 0))
                .add(Activation.reluBlock())
                .add(ExportableBlocks.maxPool2d(2, 2, 0))
                .add(ExportableBlocks.flatten())
                .add(Linear.builder().setUnits(64).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    private static Conv2d conv(int filters, int kernel, int padding) {
        return Conv2d.builder()
                .setKernelShape(new Shape(kernel, kernel))
                .setFilters(filters)
                .optPadding(new Shape(padding, padding))
                .build();
    }

    /**
     * Builds the workload's network; the first call draws He-normal weights (biases N(0, 0.01²))
     * into {@code weights}, later calls reuse them so that every variant holds the same values.
     */
    private static Model model(
            Workload w, String name, Shape shape, Random random, List<float[]> weights) {
        Model model = Model.newInstance(w.file() + "-" + name, "PyTorch");
        SequentialBlock block = w.net().get();
        block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
        boolean draw = weights.isEmpty();
        int i = 0;
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            long[] dims = a.getShape().getShape();
            if (draw) {
                double std =
                        dims.length > 1
                                ? Math.sqrt(2.0 / (a.getShape().size() / (double) dims[0]))
                                : 0.01;
                weights.add(Int8BridgeRows.gaussian(random, (int) a.getShape().size(), std));
            }
            a.set(FloatBuffer.wrap(weights.get(i++)));
        }
        model.setBlock(block);
        return model;
    }

    private static float[] input(Random random, Shape shape, boolean images) {
        int n = (int) shape.size();
        if (!images) {
            return Int8BridgeRows.gaussian(random, n, 1.0);
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextFloat();
        }
        return v;
    }

    private static void report(
            Int8BridgeRows.Setup setup, List<Int8BridgeRows.Row> rows, List<String> notes)
            throws IOException {
        String cpu = Results.cpuModel();
        String load = Results.loadAverage();
        StringBuilder md =
                Int8BridgeRows.preamble(
                        "INT8 convolutions: FP32 vs static INT8, in place vs exported",
                        setup,
                        cpu,
                        load);
        md.append("Static INT8 = the preset QConfig.staticInt8(")
                .append(setup.target())
                .append(
                        ") (PyTorch default qconfig: per-channel weights and 7-bit histogram-MSE"
                                + " activations for FBGEMM, per-tensor weights for QNNPACK). FP32"
                                + " ONNX Runtime not measured for convolutions. The ResNet block's"
                                + " errors are on its flatten-Linear10 head's outputs.\n\n");
        for (String n : notes) {
            md.append(n).append("\n\n");
        }
        StringBuilder json =
                Results.jsonHead(
                        "conv-int8-bridge",
                        setup.qengine().pytorchName(),
                        setup.meter(),
                        setup.loadStart(),
                        load);
        json.append(",\n  \"speed_is_result\": ")
                .append(setup.speedIsResult())
                .append(",\n  \"cpu\": \"")
                .append(cpu.replace("\"", "'"))
                .append("\",\n  \"time\": \"")
                .append(Instant.now())
                .append('"');
        Int8BridgeRows.appendTable(md, json, rows, true);
        Results.write("conv-int8-bridge-" + setup.qengine().pytorchName(), json, md);
    }
}
