package org.djlquant.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.junit.jupiter.api.Test;

/**
 * The Fashion-MNIST CNN of the examples ({@link FashionMnist#cnn()}: two convolutions and two
 * linear layers, every ReLU fused), trained briefly, then test accuracy on all 10,000 test images
 * of FP32, of the fake-quant simulation of post-training static INT8 (fbgemm preset, calibrated on
 * 1,000 training images) and of the same prepared model converted to real INT8 in place on x86
 * (libtorch's {@code quantized::conv2d_relu} and {@code quantized::linear_relu}). Needs the data
 * (scripts/fetch-data.sh); without it the test fails.
 */
class FashionMnistCnnInt8Test {

    private static final int TRAIN = 4_000;
    private static final int CALIBRATION = 1_000;

    @Test
    void realInt8CnnAccuracyEqualsSimulationAndStaysNearFp32() throws Exception {
        FashionMnist.Data data = FashionMnist.Data.load();
        int[] labels = data.testLabels().toIntArray();
        QEngine before = QEngine.current();
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        try (Model model = Model.newInstance("fmnist-cnn-int8", "PyTorch");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = data.train(m, 0, TRAIN);
            NDArray y = data.trainTargets(m, 0, TRAIN);
            NDArray tx = data.test(m, 0, FashionMnist.TEST);
            model.setBlock(FashionMnist.cnn());
            FashionMnist.train(model, x, y, 1, 5e-3f, null, () -> Double.NaN);
            double fp32 = FashionMnist.accuracy(model.getBlock(), m, tx, labels);

            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            List<NDList> calib = new ArrayList<>();
            for (int i = TRAIN; i < TRAIN + CALIBRATION; i += FashionMnist.BATCH) {
                calib.add(new NDList(data.train(m, i, i + FashionMnist.BATCH)));
            }
            Calibrator.builder().setModel(model).optProgress(null).build().calibrate(calib);
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), true);
            double sim = FashionMnist.accuracy(model.getBlock(), m, tx, labels);

            ConvertReport report = Converter.convert(model, QEngine.X86);
            double int8 = FashionMnist.accuracy(model.getBlock(), m, tx, labels);
            System.out.printf(
                    Locale.ROOT,
                    "Fashion-MNIST CNN (trained 1 epoch on %d images), test accuracy on %d"
                            + " images:%n"
                            + "  FP32                          %.2f%%%n"
                            + "  static INT8, simulated        %.2f%%%n"
                            + "  static INT8, real (x86, in place) %.2f%%%n%s",
                    TRAIN,
                    labels.length,
                    100 * fp32,
                    100 * sim,
                    100 * int8,
                    report.toTable());
            assertEquals(2, report.quantizedConv2ds().size());
            assertEquals(2, report.quantizedLinears().size());
            assertEquals(3, report.fusedReluCount());
            assertTrue(fp32 > 0.6, "FP32 accuracy " + fp32);
            // real and simulated differ only where a rounding tie flips a logit by one step
            assertTrue(Math.abs(int8 - sim) <= 0.002, "INT8 " + int8 + " vs simulated " + sim);
            assertTrue(fp32 - int8 < 0.02, "INT8 lost " + (fp32 - int8));
        } finally {
            QEngine.select(before);
        }
    }
}
