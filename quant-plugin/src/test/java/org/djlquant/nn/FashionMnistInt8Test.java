package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.calibrate.IdxReader;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.testing.FashionMnistMlp;
import org.junit.jupiter.api.Test;

/**
 * Fashion-MNIST MLP (784-128-ReLU-10, trained as in the examples test): test accuracy on the 10,000
 * test images of FP32, of the fake-quant simulation of post-training static INT8 (fbgemm preset,
 * calibrated on 2,000 training images) and of the same prepared model converted to real INT8 on x86
 * (ReLU fused). Skipped when the data is absent (run scripts/fetch-data.sh).
 */
class FashionMnistInt8Test {

    private static final int TRAIN = 8_000;

    @Test
    void realInt8AccuracyEqualsSimulationAndStaysNearFp32() throws Exception {
        // the data is part of the test setup (scripts/fetch-data.sh): missing data fails the test
        Path dir = IdxReader.fashionMnistDir();
        IdxReader.IdxArray trainX = IdxReader.read(dir.resolve("train-images-idx3-ubyte.gz"));
        IdxReader.IdxArray trainY = IdxReader.read(dir.resolve("train-labels-idx1-ubyte.gz"));
        IdxReader.IdxArray testX = IdxReader.read(dir.resolve("t10k-images-idx3-ubyte.gz"));
        int[] labels = IdxReader.read(dir.resolve("t10k-labels-idx1-ubyte.gz")).toIntArray();
        QEngine before = QEngine.current();
        Engine.getEngine("PyTorch").setRandomSeed(1234);
        try (Model model = Model.newInstance("fmnist-int8", "PyTorch");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = trainX.toNDArray(m, 0, TRAIN, 255f, true);
            NDArray y = trainY.toNDArray(m, 0, TRAIN, 1f, false);
            NDArray tx = testX.toNDArray(m, 0, 10_000, 255f, true);
            model.setBlock(FashionMnistMlp.mlp());
            FashionMnistMlp.train(model, x, y, 2, null);
            double fp32 = FashionMnistMlp.accuracy(model.getBlock(), m, tx, labels);

            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            List<NDList> calib = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                int from = TRAIN + i * 100;
                calib.add(new NDList(trainX.toNDArray(m, from, from + 100, 255f, true)));
            }
            Calibrator.builder().setModel(model).optProgress(null).build().calibrate(calib);
            Twins.setObserving(model.getBlock(), false);
            Twins.setFakeQuant(model.getBlock(), true);
            double sim = FashionMnistMlp.accuracy(model.getBlock(), m, tx, labels);

            ConvertReport report = Converter.convert(model, QEngine.X86);
            assertEquals(1, report.fusedReluCount());
            double int8 = FashionMnistMlp.accuracy(model.getBlock(), m, tx, labels);
            System.out.printf(
                    Locale.ROOT,
                    "Fashion-MNIST test accuracy (10,000 images): FP32 %.2f%%, static INT8"
                            + " simulated %.2f%%, real INT8 (x86, in place) %.2f%%%n%s",
                    100 * fp32,
                    100 * sim,
                    100 * int8,
                    report.toTable());
            assertTrue(fp32 > 0.75, "FP32 accuracy " + fp32);
            // real and simulated differ only where a rounding tie flips a logit by one step
            assertTrue(Math.abs(int8 - sim) <= 0.002, "INT8 " + int8 + " vs simulated " + sim);
            assertTrue(fp32 - int8 < 0.02, "INT8 lost " + (fp32 - int8));
        } finally {
            QEngine.select(before);
        }
    }
}
