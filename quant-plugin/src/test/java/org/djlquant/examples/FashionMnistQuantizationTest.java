package org.djlquant.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.calibrate.IdxReader;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.qat.QatScheduleListener;
import org.djlquant.report.ErrorReport;
import org.djlquant.testing.FashionMnistMlp;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The whole pipeline on real data: an MLP (784-128-10) trained in DJL on the first 8,000
 * Fashion-MNIST training images (2 epochs, Adam 2e-3, batch 200), then FP32 vs post-training static
 * INT8 (fbgemm preset, calibrated on 2,000 training images, simulated) vs QAT INT8 (1 epoch from
 * the FP32 weights, simulated) accuracy on the full 10,000-image test set. Skipped when the data is
 * absent (run scripts/fetch-data.sh).
 */
class FashionMnistQuantizationTest {

    private static final int TRAIN = 8_000;

    static SequentialBlock mlp() {
        return FashionMnistMlp.mlp();
    }

    @Test
    void fp32VersusPostTrainingStaticInt8VersusQatInt8() throws Exception {
        Path dir;
        try {
            dir = IdxReader.fashionMnistDir();
        } catch (QuantizationException e) {
            Assumptions.abort(e.getMessage());
            return;
        }
        IdxReader.IdxArray trainX = IdxReader.read(dir.resolve("train-images-idx3-ubyte.gz"));
        IdxReader.IdxArray trainY = IdxReader.read(dir.resolve("train-labels-idx1-ubyte.gz"));
        IdxReader.IdxArray testX = IdxReader.read(dir.resolve("t10k-images-idx3-ubyte.gz"));
        IdxReader.IdxArray testY = IdxReader.read(dir.resolve("t10k-labels-idx1-ubyte.gz"));
        assertEquals(60_000, trainX.shape()[0]);
        assertEquals(10_000, testY.shape()[0]);
        int[] testLabels = testY.toIntArray();

        ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(1234);
        try (Model fp32 = Model.newInstance("fmnist", "PyTorch");
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = trainX.toNDArray(m, 0, TRAIN, 255f, true);
            NDArray y = trainY.toNDArray(m, 0, TRAIN, 1f, false);
            NDArray tx = testX.toNDArray(m, 0, 10_000, 255f, true);
            fp32.setBlock(mlp());
            train(fp32, x, y, 2, null);
            double accFp32 = accuracy(fp32.getBlock(), m, tx, testLabels);
            byte[] weights = save(fp32.getBlock());

            // post-training static INT8: prepare, calibrate, fake-quantize
            PrepareReport prep =
                    Preparer.prepare(
                            fp32, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
            assertEquals(2, prep.twins().size());
            List<NDList> calib = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                calib.add(
                        new NDList(
                                trainX.toNDArray(
                                        m, TRAIN + i * 100, TRAIN + i * 100 + 100, 255f, true)));
            }
            Calibrator.builder().setModel(fp32).optProgress(null).build().calibrate(calib);
            List<NDList> evalBatches = new ArrayList<>();
            evalBatches.add(new NDList(tx.get("0:500")));
            ErrorReport errors = ErrorReport.measure(fp32.getBlock(), m, evalBatches);
            Twins.setObserving(fp32.getBlock(), false);
            Twins.setFakeQuant(fp32.getBlock(), true);
            double accPtq = accuracy(fp32.getBlock(), m, tx, testLabels);

            // QAT from the FP32 weights
            double accQat;
            try (Model qat = Model.newInstance("fmnist-qat", "PyTorch")) {
                SequentialBlock block = mlp();
                block.initialize(qat.getNDManager(), DataType.FLOAT32, new Shape(100, 784));
                block.loadParameters(
                        qat.getNDManager(), new DataInputStream(new ByteArrayInputStream(weights)));
                qat.setBlock(block);
                Preparer.prepare(qat, QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
                QatScheduleListener schedule =
                        QatScheduleListener.builder().optFreezeObserversAfterEpoch(1).build();
                train(qat, x, y, 1, schedule);
                Twins.setObserving(qat.getBlock(), false);
                Twins.setFakeQuant(qat.getBlock(), true);
                accQat = accuracy(qat.getBlock(), m, tx, testLabels);
            }
            System.err.printf(
                    Locale.ROOT,
                    "Fashion-MNIST test accuracy (10,000 images): FP32 %.2f%%, PTQ static INT8"
                            + " %.2f%%, QAT INT8 %.2f%% (simulated)%n%s",
                    100 * accFp32,
                    100 * accPtq,
                    100 * accQat,
                    errors.toTable());
            assertTrue(accFp32 > 0.75, "FP32 accuracy " + accFp32);
            assertTrue(accFp32 - accPtq < 0.02, "PTQ lost " + (accFp32 - accPtq));
            assertTrue(accFp32 - accQat < 0.02, "QAT lost " + (accFp32 - accQat));
        }
    }

    private static void train(
            Model model, NDArray x, NDArray y, int epochs, QatScheduleListener listener)
            throws Exception {
        FashionMnistMlp.train(model, x, y, epochs, listener);
    }

    private static double accuracy(Block block, NDManager m, NDArray x, int[] labels) {
        return FashionMnistMlp.accuracy(block, m, x, labels);
    }

    private static byte[] save(Block block) throws java.io.IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            block.saveParameters(out);
        }
        return bytes.toByteArray();
    }
}
