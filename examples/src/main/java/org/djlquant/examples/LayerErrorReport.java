package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;
import org.djlquant.report.ErrorReport;

/**
 * Per-layer quantization error of the Fashion-MNIST CNN: trains it in FP32 (same model, seed and
 * flags as {@link FashionMnistQat}; defaults 10,000 images, 1 epoch), prepares it for static INT8
 * (fbgemm preset), calibrates on 1,000 training images and measures with {@link ErrorReport} on
 * 1,000 test images the SQNR and maximum error of every convolution and linear layer (each on float
 * inputs) and of the whole model output (all layers fake-quantized). Prints the table and writes
 * {@code layer-errors.json} and the bar chart {@code layer-errors.png} to {@code --out} (default
 * {@code results/}).
 */
public final class LayerErrorReport {

    private LayerErrorReport() {}

    /**
     * Runs the example.
     *
     * @param args {@code --train-images N}, {@code --epochs E}, {@code --out DIR}, {@code --seed S}
     * @throws QuantizationException if the data cannot be read or the results cannot be written
     * @throws IOException if training or writing fails
     * @throws TranslateException if DJL's training loop fails
     */
    public static void main(String[] args)
            throws QuantizationException, IOException, TranslateException {
        List<String> a = new ArrayList<>(List.of(args));
        if (!a.contains("--train-images")) {
            a.addAll(List.of("--train-images", "10000"));
        }
        if (!a.contains("--epochs")) {
            a.addAll(List.of("--epochs", "1"));
        }
        FashionMnistQat.Options o = FashionMnistQat.Options.parse(a.toArray(new String[0]));
        FashionMnist.Data data = FashionMnist.Data.load();
        Engine engine = Engine.getEngine("PyTorch");
        engine.setRandomSeed(o.seed());
        try (NDManager m = engine.newBaseManager();
                Model model = Model.newInstance("fmnist-cnn", "PyTorch")) {
            NDArray x = data.train(m, 0, o.trainImages());
            NDArray y = data.trainTargets(m, 0, o.trainImages());
            model.setBlock(FashionMnist.cnn());
            FashionMnist.train(model, x, y, o.epochs(), 2e-3f, null, () -> Double.NaN);
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            List<NDList> calib = new ArrayList<>();
            for (int i = 0; i < 1000; i += FashionMnist.BATCH) {
                calib.add(new NDList(data.train(m, i, i + FashionMnist.BATCH)));
            }
            Calibrator.builder().setModel(model).optProgress(null).build().calibrate(calib);
            List<NDList> eval = new ArrayList<>();
            for (int i = 0; i < 1000; i += 500) {
                eval.add(new NDList(data.test(m, i, i + 500)));
            }
            ErrorReport report = ErrorReport.measure(model.getBlock(), m, eval);
            System.out.printf(
                    Locale.ROOT,
                    "Per-layer error of static INT8 (fbgemm preset, simulated) on the Fashion-MNIST"
                            + " CNN (%d training images, %d epoch(s)); %d test images:%n%s",
                    o.trainImages(),
                    o.epochs(),
                    1000,
                    report.toTable());
            Files.createDirectories(o.out());
            Path json = o.out().resolve("layer-errors.json");
            Files.writeString(json, report.toJson(), StandardCharsets.UTF_8);
            report.writeChart(o.out().resolve("layer-errors.png"));
            System.out.println("wrote " + json + " and layer-errors.png");
        }
    }
}
