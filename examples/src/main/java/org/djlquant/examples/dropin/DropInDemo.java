package org.djlquant.examples.dropin;

import ai.djl.ModelException;
import ai.djl.inference.Predictor;
import ai.djl.modality.Classifications;
import ai.djl.modality.cv.Image;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedRepositoryFactory;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.calibrate.CalibratingTranslator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;

/**
 * Runs the drop-in app both ways and compares: the FP32 {@link FashionService} and the {@link
 * QuantizedFashionService} (same Criteria, translator and predictor calls, INT8 in place) classify
 * the same Fashion-MNIST test images; then the same model is exported as a static INT8 TorchScript
 * archive and loaded back with a plain DJL {@code Criteria} and the app's translator, once by
 * folder ({@code optModelPath}) and once through a checked {@code djlq:} URL ({@link
 * QuantizedRepositoryFactory}).
 *
 * <p>Flags: {@code --model DIR} (default {@code results/dropin/model}; trained there first if it
 * holds no model), {@code --train-images N} (10000), {@code --epochs E} (2), {@code --traffic T}
 * (500 calibration requests, training images 50000 onwards), {@code --eval N} (2000 test images),
 * {@code --out DIR} (default {@code results/dropin}; the export goes to {@code
 * DIR/int8-torchscript}).
 */
public final class DropInDemo {

    private DropInDemo() {}

    /**
     * The settings of a run.
     *
     * @param modelDir the FP32 model folder (trained there if it holds no model)
     * @param trainImages training images for the FP32 model
     * @param epochs training epochs
     * @param traffic calibration requests
     * @param eval test images compared
     * @param out the output folder
     */
    public record Options(
            Path modelDir, int trainImages, int epochs, int traffic, int eval, Path out) {

        /**
         * Parses the flags of the class description.
         *
         * @param args the flags
         * @return the options
         * @throws IllegalArgumentException for an unknown flag or a value out of range
         */
        public static Options parse(String... args) {
            Path model = null;
            int train = 10_000;
            int epochs = 2;
            int traffic = 500;
            int eval = 2_000;
            Path out = Path.of("results", "dropin");
            for (int i = 0; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("flag " + args[i] + " needs a value");
                }
                String v = args[i + 1];
                switch (args[i]) {
                    case "--model" -> model = Path.of(v);
                    case "--train-images" -> train = range(args[i], v, 100, 50_000);
                    case "--epochs" -> epochs = range(args[i], v, 1, 100);
                    case "--traffic" -> traffic = range(args[i], v, 1, 10_000);
                    case "--eval" -> eval = range(args[i], v, 1, 10_000);
                    case "--out" -> out = Path.of(v);
                    default ->
                            throw new IllegalArgumentException(
                                    "unknown flag "
                                            + args[i]
                                            + ", allowed: --model, --train-images, --epochs,"
                                            + " --traffic, --eval, --out");
                }
            }
            return new Options(
                    model == null ? out.resolve("model") : model,
                    train,
                    epochs,
                    traffic,
                    eval,
                    out);
        }

        private static int range(String flag, String v, int min, int max) {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw new IllegalArgumentException(
                        flag + " was " + n + ", must be in [" + min + ", " + max + "]");
            }
            return n;
        }
    }

    /**
     * One way of serving the model, on the evaluation images.
     *
     * @param name what was served
     * @param results the predictor's outputs, one per image
     * @param accuracy top-1 accuracy against the labels
     */
    public record Served(String name, List<Classifications> results, double accuracy) {}

    /**
     * What a run measured.
     *
     * @param fp32 the FP32 app
     * @param inPlace the app with INT8 in place
     * @param exportedByPath the exported archive loaded with {@code optModelPath}
     * @param exportedByUrl the exported archive loaded through a {@code djlq:} URL
     * @param manifest the manifest of the export
     * @param exportDir the export folder
     */
    public record Result(
            Served fp32,
            Served inPlace,
            Served exportedByPath,
            Served exportedByUrl,
            QuantizationManifest manifest,
            Path exportDir) {}

    /**
     * Runs the demo.
     *
     * @param args see the class description
     * @throws IOException if a model cannot be read or written
     * @throws ModelException if DJL cannot load a model
     * @throws TranslateException if a prediction fails
     * @throws QuantizationException if data cannot be read, or quantization or export fails
     */
    public static void main(String[] args)
            throws IOException, ModelException, TranslateException, QuantizationException {
        run(Options.parse(args), System.out);
    }

    /**
     * Runs the demo and prints a table.
     *
     * @param o the options
     * @param out where the table goes
     * @return what was measured
     * @throws IOException if a model cannot be read or written
     * @throws ModelException if DJL cannot load a model
     * @throws TranslateException if a prediction fails
     * @throws QuantizationException if data cannot be read, or quantization or export fails
     */
    public static Result run(Options o, PrintStream out)
            throws IOException, ModelException, TranslateException, QuantizationException {
        if (!Files.exists(o.modelDir().resolve(FashionModel.NAME + "-0000.params"))) {
            out.printf(
                    Locale.ROOT,
                    "training %s on %d images, %d epoch(s) -> %s%n",
                    FashionModel.NAME,
                    o.trainImages(),
                    o.epochs(),
                    o.modelDir());
            FashionModel.train(o.modelDir(), o.trainImages(), o.epochs(), 42);
        }
        FashionData data = FashionData.load();
        List<Image> traffic = data.trainImages(50_000, 50_000 + o.traffic());
        List<Image> images = data.testImages(0, o.eval());
        int[] labels = data.testLabels(0, o.eval());

        Served fp32;
        try (FashionService app = new FashionService(o.modelDir())) {
            fp32 = served("FP32 (FashionService)", app.classify(images), labels);
        }
        Served inPlace;
        try (QuantizedFashionService app = new QuantizedFashionService(o.modelDir(), traffic)) {
            inPlace =
                    served(
                            "static INT8 in place (QuantizedFashionService)",
                            app.classify(images),
                            labels);
        }

        Path exportDir = o.out().resolve("int8-torchscript");
        QuantizationManifest manifest = exportStaticInt8(o.modelDir(), traffic, exportDir);
        Served byPath;
        Criteria<Image, Classifications> plain =
                Criteria.builder()
                        .setTypes(Image.class, Classifications.class)
                        .optModelPath(exportDir)
                        .optModelName(FashionModel.NAME)
                        .optEngine("PyTorch")
                        .optTranslator(new FashionTranslator())
                        .build();
        try (ZooModel<Image, Classifications> model = plain.loadModel();
                Predictor<Image, Classifications> p = model.newPredictor()) {
            byPath =
                    served("static INT8 TorchScript, optModelPath", p.batchPredict(images), labels);
        }
        Served byUrl;
        Criteria<Image, Classifications> checked =
                Criteria.builder()
                        .setTypes(Image.class, Classifications.class)
                        .optModelUrls(QuantizedRepositoryFactory.url(exportDir))
                        .optModelName(FashionModel.NAME)
                        .optEngine("PyTorch")
                        .optTranslator(new FashionTranslator())
                        .build();
        try (ZooModel<Image, Classifications> model = checked.loadModel();
                Predictor<Image, Classifications> p = model.newPredictor()) {
            byUrl = served("static INT8 TorchScript, djlq: URL", p.batchPredict(images), labels);
        }

        Result r = new Result(fp32, inPlace, byPath, byUrl, manifest, exportDir);
        printTable(r, o, out);
        return r;
    }

    /**
     * Exports the FP32 model as static INT8 TorchScript: loads it with the exportable block ({@link
     * FashionModel#newExportableBlock()}), prepares it with the same preset as {@link
     * QuantizedFashionService}, calibrates on the traffic through the app's translator, exports.
     *
     * @param modelDir the FP32 model folder
     * @param traffic the calibration requests
     * @param exportDir the folder to write {@code fashion-mlp.pt} into
     * @return the manifest written
     * @throws IOException if the model cannot be read
     * @throws ModelException if DJL cannot load it
     * @throws TranslateException if calibration fails
     * @throws QuantizationException if the export fails
     */
    public static QuantizationManifest exportStaticInt8(
            Path modelDir, List<Image> traffic, Path exportDir)
            throws IOException, ModelException, TranslateException, QuantizationException {
        Criteria<Image, Classifications> criteria =
                Criteria.builder()
                        .setTypes(Image.class, Classifications.class)
                        .optModelPath(modelDir)
                        .optModelName(FashionModel.NAME)
                        .optBlock(FashionModel.newExportableBlock())
                        .optEngine("PyTorch")
                        .optTranslator(new FashionTranslator())
                        .build();
        try (ZooModel<Image, Classifications> model = criteria.loadModel()) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            var calibrating = new CalibratingTranslator<>(model.getTranslator());
            try (Predictor<Image, Classifications> p = model.newPredictor(calibrating)) {
                p.batchPredict(traffic);
            }
            calibrating.stop();
            return TorchScriptExporter.builder()
                    .setBlock(model.getBlock())
                    .build()
                    .export(exportDir, FashionModel.NAME);
        }
    }

    /**
     * Index of the most likely class in a result.
     *
     * @param c the result
     * @return the class index
     */
    public static int top1(Classifications c) {
        return FashionTranslator.CLASSES.indexOf(c.best().getClassName());
    }

    /**
     * Largest absolute difference of any class probability between two runs.
     *
     * @param a one run
     * @param b the other, same images
     * @return the difference
     */
    public static double maxProbabilityDifference(
            List<Classifications> a, List<Classifications> b) {
        double max = 0;
        for (int i = 0; i < a.size(); i++) {
            List<Double> pa = a.get(i).getProbabilities();
            List<Double> pb = b.get(i).getProbabilities();
            for (int k = 0; k < pa.size(); k++) {
                max = Math.max(max, Math.abs(pa.get(k) - pb.get(k)));
            }
        }
        return max;
    }

    /**
     * Share of images whose most likely class is the same in two runs.
     *
     * @param a one run
     * @param b the other, same images
     * @return the share in [0, 1]
     */
    public static double top1Agreement(List<Classifications> a, List<Classifications> b) {
        int same = 0;
        for (int i = 0; i < a.size(); i++) {
            if (top1(a.get(i)) == top1(b.get(i))) {
                same++;
            }
        }
        return same / (double) a.size();
    }

    private static Served served(String name, List<Classifications> results, int[] labels) {
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            if (top1(results.get(i)) == labels[i]) {
                correct++;
            }
        }
        return new Served(name, new ArrayList<>(results), correct / (double) labels.length);
    }

    private static void printTable(Result r, Options o, PrintStream out) {
        String fmt = "%-50s %9s %14s %16s%n";
        out.printf(
                Locale.ROOT,
                "Fashion-MNIST MLP served by the app; %d test images, calibration on %d requests%n",
                o.eval(),
                o.traffic());
        out.printf(Locale.ROOT, fmt, "served as", "accuracy", "top-1 = FP32", "max |dp| vs FP32");
        for (Served s : List.of(r.fp32(), r.inPlace(), r.exportedByPath(), r.exportedByUrl())) {
            out.printf(
                    Locale.ROOT,
                    fmt,
                    s.name(),
                    String.format(Locale.ROOT, "%.2f%%", 100 * s.accuracy()),
                    String.format(
                            Locale.ROOT,
                            "%.2f%%",
                            100 * top1Agreement(r.fp32().results(), s.results())),
                    String.format(
                            Locale.ROOT,
                            "%.4f",
                            maxProbabilityDifference(r.fp32().results(), s.results())));
        }
        out.println(
                "export: "
                        + r.exportDir().resolve(FashionModel.NAME + ".pt")
                        + " (qengine "
                        + r.manifest().qengine().pytorchName()
                        + ", libtorch "
                        + r.manifest().libtorchVersion()
                        + ")");
    }
}
