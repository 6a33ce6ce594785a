package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.translate.TranslateException;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.qat.QatScheduleListener;
import org.djlquant.report.ErrorReport;
import org.djlquant.report.LineChart;

/**
 * Prepare, calibrate and train on real data: trains a small CNN (two 5x5 convolutions with 8 and 16
 * filters, max-pooling, a 64-unit hidden layer) in DJL on Fashion-MNIST, then compares on the full
 * 10,000-image test set
 *
 * <ul>
 *   <li>FP32;
 *   <li>post-training static INT8 (fbgemm preset: histogram/MSE activation observers, per-channel
 *       weights), prepared, calibrated on 1,000 training images and simulated with fake
 *       quantization;
 *   <li>QAT INT8 (fbgemm QAT preset), prepared from the FP32 weights and fine-tuned with fake
 *       quantization on, observers frozen after the first epoch ({@link QatScheduleListener}),
 *       simulated.
 * </ul>
 *
 * <p>Prints the table (accuracy, drop against FP32, per-layer SQNR summary measured with {@link
 * ErrorReport} on 1,000 test images) and writes to {@code --out} (default {@code results/}): {@code
 * fashion-mnist-qat.json} (table, per-layer errors, curves), {@code fashion-mnist-curves.json}
 * (loss and accuracy per epoch of FP32 training and of QAT) and the line charts (QAT epochs drawn
 * after the FP32 epochs they continue) {@code fashion-mnist-loss.png} and {@code
 * fashion-mnist-accuracy.png}.
 *
 * <p>Flags: {@code --train-images N} (default 10000), {@code --epochs E} FP32 epochs (default 2),
 * {@code --qat-epochs Q} (default 2), {@code --test-images T} (default all 10000), {@code --out
 * DIR}, {@code --seed S} (default 42). Seeded through {@code Engine.setRandomSeed} (initialisation
 * and shuffling); libtorch's CPU kernels may still differ in the last bits between thread counts.
 */
public final class FashionMnistQat {

    /** Name of the result JSON inside the output directory. */
    public static final String RESULT_FILE = "fashion-mnist-qat.json";

    private static final int CALIBRATION_IMAGES = 1000;
    private static final int REPORT_IMAGES = 1000;

    private FashionMnistQat() {}

    /** The command-line options. */
    record Options(int trainImages, int epochs, int qatEpochs, int testImages, Path out, int seed) {

        static Options parse(String[] args) {
            int train = 10_000;
            int epochs = 2;
            int qatEpochs = 2;
            int test = FashionMnist.TEST;
            Path out = Paths.get("results");
            int seed = 42;
            for (int i = 0; i < args.length; i++) {
                String flag = args[i];
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("flag " + flag + " needs a value");
                }
                String v = args[++i];
                switch (flag) {
                    case "--train-images" -> train = positive(flag, v, 60_000);
                    case "--epochs" -> epochs = positive(flag, v, 100);
                    case "--qat-epochs" -> qatEpochs = positive(flag, v, 100);
                    case "--test-images" -> test = positive(flag, v, FashionMnist.TEST);
                    case "--seed" -> seed = Integer.parseInt(v);
                    case "--out" -> out = Paths.get(v);
                    default ->
                            throw new IllegalArgumentException(
                                    "unknown flag "
                                            + flag
                                            + ", allowed: --train-images, --epochs, --qat-epochs,"
                                            + " --test-images, --out, --seed");
                }
            }
            return new Options(train, epochs, qatEpochs, test, out, seed);
        }

        private static int positive(String flag, String v, int max) {
            int n = Integer.parseInt(v);
            if (n < 1 || n > max) {
                throw new IllegalArgumentException(
                        flag + " was " + n + ", must be in [1, " + max + "]");
            }
            return n;
        }
    }

    /**
     * Runs the example.
     *
     * @param args see the class description
     * @throws QuantizationException if the data cannot be read or a result cannot be written
     * @throws IOException if training or writing fails
     * @throws TranslateException if DJL's training loop fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        run(Options.parse(args));
    }

    static JsonObject run(Options o) throws QuantizationException, IOException, TranslateException {
        long start = System.nanoTime();
        FashionMnist.Data data = FashionMnist.Data.load();
        int[] testLabels = java.util.Arrays.copyOf(data.testLabels().toIntArray(), o.testImages());
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(o.seed());
        System.out.printf(
                Locale.ROOT,
                "Fashion-MNIST: CNN trained on %d images for %d epoch(s), QAT %d epoch(s),"
                        + " PyTorch %s%n",
                o.trainImages(),
                o.epochs(),
                o.qatEpochs(),
                engine.getVersion());
        try (NDManager m = engine.newBaseManager();
                Model fp32 = Model.newInstance("fmnist-cnn", "PyTorch")) {
            NDArray x = data.train(m, 0, o.trainImages());
            NDArray y = data.trainTargets(m, 0, o.trainImages());
            NDArray tx = data.test(m, 0, o.testImages());

            // 1. FP32
            fp32.setBlock(FashionMnist.cnn());
            long t0 = System.nanoTime();
            List<FashionMnist.Epoch> fp32Curve =
                    FashionMnist.train(
                            fp32,
                            x,
                            y,
                            o.epochs(),
                            2e-3f,
                            null,
                            () -> FashionMnist.accuracy(fp32.getBlock(), m, tx, testLabels));
            double fp32Seconds = (System.nanoTime() - t0) / 1e9;
            double accFp32 = fp32Curve.get(fp32Curve.size() - 1).testAccuracy();

            // 2. post-training static INT8: prepare a copy, calibrate, simulate
            JsonObject ptq;
            JsonObject ptqReal;
            try (Model ptqModel = Model.newInstance("fmnist-ptq", "PyTorch")) {
                FashionMnist.copyInto(fp32.getBlock(), ptqModel);
                PrepareReport prep =
                        Preparer.prepare(
                                ptqModel,
                                QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
                int calib = Math.min(CALIBRATION_IMAGES, o.trainImages());
                List<NDList> batches = new ArrayList<>();
                for (int i = 0; i < calib; i += FashionMnist.BATCH) {
                    batches.add(
                            new NDList(data.train(m, i, Math.min(calib, i + FashionMnist.BATCH))));
                }
                long c0 = System.nanoTime();
                Calibrator.builder()
                        .setModel(ptqModel)
                        .optProgress(null)
                        .build()
                        .calibrate(batches);
                double calibSeconds = (System.nanoTime() - c0) / 1e9;
                ErrorReport errors = errorReport(ptqModel, m, data, o.testImages());
                Twins.setObserving(ptqModel.getBlock(), false);
                Twins.setFakeQuant(ptqModel.getBlock(), true);
                double acc = FashionMnist.accuracy(ptqModel.getBlock(), m, tx, testLabels);
                ptq = variant("PTQ static INT8 (simulated)", acc, accFp32, errors);
                ptq.addProperty("calibration_images", calib);
                ptq.addProperty("calibration_seconds", calibSeconds);
                ptq.addProperty("prepared_layers", prep.twins().size());
                ptqReal = real("PTQ static INT8", ptqModel, m, tx, testLabels, accFp32);
            }

            // 3. QAT: prepare a copy of the FP32 weights, fine-tune with fake quantization on
            JsonObject qat;
            JsonObject qatReal;
            List<FashionMnist.Epoch> qatCurve;
            double qatSeconds;
            try (Model qatModel = Model.newInstance("fmnist-qat", "PyTorch")) {
                FashionMnist.copyInto(fp32.getBlock(), qatModel);
                Preparer.prepare(
                        qatModel, QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
                QatScheduleListener schedule =
                        QatScheduleListener.builder().optFreezeObserversAfterEpoch(1).build();
                long q0 = System.nanoTime();
                qatCurve =
                        FashionMnist.train(
                                qatModel,
                                x,
                                y,
                                o.qatEpochs(),
                                5e-4f,
                                schedule,
                                () ->
                                        FashionMnist.accuracy(
                                                qatModel.getBlock(), m, tx, testLabels));
                qatSeconds = (System.nanoTime() - q0) / 1e9;
                Twins.setObserving(qatModel.getBlock(), false);
                Twins.setFakeQuant(qatModel.getBlock(), true);
                double acc = FashionMnist.accuracy(qatModel.getBlock(), m, tx, testLabels);
                ErrorReport errors = errorReport(qatModel, m, data, o.testImages());
                qat = variant("QAT INT8 (simulated)", acc, accFp32, errors);
                qat.addProperty("observers_frozen_after_epoch", 1);
                qatReal = real("QAT INT8", qatModel, m, tx, testLabels, accFp32);
            }

            JsonObject fp32Row = new JsonObject();
            fp32Row.addProperty("name", "FP32");
            fp32Row.addProperty("accuracy", accFp32);
            fp32Row.addProperty("drop_vs_fp32", 0.0);

            JsonObject root = new JsonObject();
            root.addProperty(
                    "model", "cnn conv5x5x8-relu-pool-conv5x5x16-relu-pool-fc64-relu-fc10");
            root.addProperty("train_images", o.trainImages());
            root.addProperty("test_images", o.testImages());
            root.addProperty("epochs", o.epochs());
            root.addProperty("qat_epochs", o.qatEpochs());
            root.addProperty("seed", o.seed());
            root.addProperty("pytorch", engine.getVersion());
            root.addProperty("fp32_training_seconds", fp32Seconds);
            root.addProperty("qat_training_seconds", qatSeconds);
            JsonObject variants = new JsonObject();
            variants.add("fp32", fp32Row);
            variants.add("ptq", ptq);
            variants.add("ptq_real", ptqReal);
            variants.add("qat", qat);
            variants.add("qat_real", qatReal);
            root.add("variants", variants);
            JsonObject curves = new JsonObject();
            curves.add("fp32", curveJson(fp32Curve));
            curves.add("qat", curveJson(qatCurve));
            root.add("curves", curves);
            root.addProperty("total_seconds", (System.nanoTime() - start) / 1e9);

            System.out.print(table(root));
            write(o.out(), root, fp32Curve, qatCurve);
            return root;
        }
    }

    private static ErrorReport errorReport(
            Model model, NDManager m, FashionMnist.Data data, int testImages) {
        int n = Math.min(REPORT_IMAGES, testImages);
        List<NDList> batches = new ArrayList<>();
        for (int i = 0; i < n; i += 500) {
            batches.add(new NDList(data.test(m, i, Math.min(n, i + 500))));
        }
        ErrorReport r = ErrorReport.measure(model.getBlock(), m, batches);
        batches.forEach(NDList::close);
        return r;
    }

    /**
     * Converts a prepared (calibrated or QAT-trained) model in place to libtorch's INT8 kernels
     * ({@code quantized::conv2d_relu}, {@code linear_relu}, ...) on x86 (qnnpack elsewhere) and
     * measures its test accuracy.
     */
    private static JsonObject real(
            String name, Model prepared, NDManager m, NDArray tx, int[] labels, double fp32)
            throws QuantizationException {
        QEngine engine = QEngine.available().contains(QEngine.X86) ? QEngine.X86 : QEngine.QNNPACK;
        ConvertReport report = Converter.convert(prepared, engine);
        double acc = FashionMnist.accuracy(prepared.getBlock(), m, tx, labels);
        JsonObject v = new JsonObject();
        v.addProperty("name", name + " (real, " + engine.pytorchName() + ")");
        v.addProperty("accuracy", acc);
        v.addProperty("drop_vs_fp32", fp32 - acc);
        v.addProperty("qengine", engine.pytorchName());
        v.addProperty("int8_convolutions", report.quantizedConv2ds().size());
        v.addProperty("int8_linears", report.quantizedLinears().size());
        return v;
    }

    private static JsonObject variant(String name, double acc, double fp32, ErrorReport errors) {
        JsonObject v = new JsonObject();
        v.addProperty("name", name);
        v.addProperty("accuracy", acc);
        v.addProperty("drop_vs_fp32", fp32 - acc);
        double min = Double.POSITIVE_INFINITY;
        double sum = 0;
        String worst = "";
        for (ErrorReport.LayerError l : errors.layers()) {
            sum += l.sqnrDb();
            if (l.sqnrDb() < min) {
                min = l.sqnrDb();
                worst = l.path();
            }
        }
        v.addProperty("layer_sqnr_min_db", min);
        v.addProperty("layer_sqnr_min_layer", worst);
        v.addProperty("layer_sqnr_mean_db", sum / errors.layers().size());
        v.addProperty("model_output_sqnr_db", errors.model().sqnrDb());
        v.add("layer_errors", JsonParser.parseString(errors.toJson()));
        return v;
    }

    private static JsonArray curveJson(List<FashionMnist.Epoch> curve) {
        JsonArray a = new JsonArray();
        for (FashionMnist.Epoch e : curve) {
            JsonObject o = new JsonObject();
            o.addProperty("epoch", e.epoch());
            o.addProperty("train_loss", e.trainLoss());
            o.addProperty("train_accuracy", e.trainAccuracy());
            o.addProperty("test_accuracy", e.testAccuracy());
            a.add(o);
        }
        return a;
    }

    static String table(JsonObject root) {
        StringBuilder sb = new StringBuilder();
        String fmt = "%-30s %9s %9s %14s %14s %14s%n";
        sb.append(
                String.format(
                        Locale.ROOT,
                        fmt,
                        "variant",
                        "accuracy",
                        "vs FP32",
                        "min layer SQNR",
                        "mean layer",
                        "output SQNR"));
        for (String k : new String[] {"fp32", "ptq", "ptq_real", "qat", "qat_real"}) {
            JsonObject v = root.getAsJsonObject("variants").getAsJsonObject(k);
            boolean q = v.has("layer_sqnr_min_db");
            sb.append(
                    String.format(
                            Locale.ROOT,
                            fmt,
                            v.get("name").getAsString(),
                            String.format(
                                    Locale.ROOT, "%.2f%%", 100 * v.get("accuracy").getAsDouble()),
                            String.format(
                                    Locale.ROOT,
                                    "%+.2f pt",
                                    0.0 - 100 * v.get("drop_vs_fp32").getAsDouble() + 0.0),
                            q ? db(v, "layer_sqnr_min_db") : "-",
                            q ? db(v, "layer_sqnr_mean_db") : "-",
                            q ? db(v, "model_output_sqnr_db") : "-"));
        }
        sb.append("(test set: ")
                .append(root.get("test_images").getAsInt())
                .append(" images; SQNR per layer on float inputs, the first ")
                .append(Math.min(REPORT_IMAGES, root.get("test_images").getAsInt()))
                .append(" test images;")
                .append(" INT8 simulated with fake quantization; 'real' rows: the same model")
                .append(" converted in place to libtorch's INT8 kernels)\n");
        return sb.toString();
    }

    private static String db(JsonObject v, String key) {
        return String.format(Locale.ROOT, "%.1f dB", v.get(key).getAsDouble());
    }

    private static void write(
            Path dir,
            JsonObject root,
            List<FashionMnist.Epoch> fp32Curve,
            List<FashionMnist.Epoch> qatCurve)
            throws IOException, QuantizationException {
        Files.createDirectories(dir);
        var gson =
                new GsonBuilder()
                        .setPrettyPrinting()
                        .serializeSpecialFloatingPointValues()
                        .create();
        Files.writeString(dir.resolve(RESULT_FILE), gson.toJson(root), StandardCharsets.UTF_8);
        Files.writeString(
                dir.resolve("fashion-mnist-curves.json"),
                gson.toJson(root.get("curves")),
                StandardCharsets.UTF_8);
        LineChart.builder()
                .setTitle("Fashion-MNIST CNN: training loss per epoch")
                .optYLabel("cross-entropy")
                .addSeries("FP32 train loss", values(fp32Curve, FashionMnist.Epoch::trainLoss))
                .addSeries(
                        "QAT train loss",
                        fp32Curve.size() + 1,
                        values(qatCurve, FashionMnist.Epoch::trainLoss))
                .build()
                .write(dir.resolve("fashion-mnist-loss.png"));
        LineChart.builder()
                .setTitle("Fashion-MNIST CNN: accuracy per epoch")
                .optYLabel("accuracy")
                .addSeries("FP32 train", values(fp32Curve, FashionMnist.Epoch::trainAccuracy))
                .addSeries("FP32 test", values(fp32Curve, FashionMnist.Epoch::testAccuracy))
                .addSeries(
                        "QAT train",
                        fp32Curve.size() + 1,
                        values(qatCurve, FashionMnist.Epoch::trainAccuracy))
                .addSeries(
                        "QAT test (INT8 sim.)",
                        fp32Curve.size() + 1,
                        values(qatCurve, FashionMnist.Epoch::testAccuracy))
                .build()
                .write(dir.resolve("fashion-mnist-accuracy.png"));
        System.out.println(
                "wrote "
                        + dir.resolve(RESULT_FILE)
                        + ", fashion-mnist-curves.json, fashion-mnist-loss.png,"
                        + " fashion-mnist-accuracy.png");
    }

    private static double[] values(
            List<FashionMnist.Epoch> curve,
            java.util.function.ToDoubleFunction<FashionMnist.Epoch> f) {
        return curve.stream().mapToDouble(f).toArray();
    }
}
