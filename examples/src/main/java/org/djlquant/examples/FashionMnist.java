package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.IdxReader;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.Twins;

/**
 * Fashion-MNIST plumbing shared by the examples: the data (IDX files read with {@link IdxReader}),
 * the small CNN, a training loop that records per-epoch curves, and test accuracy.
 */
final class FashionMnist {

    /** Training batch size. */
    static final int BATCH = 100;

    /** Number of test images. */
    static final int TEST = 10_000;

    private FashionMnist() {}

    /** The four IDX arrays of the data set. */
    record Data(
            IdxReader.IdxArray trainImages,
            IdxReader.IdxArray trainLabels,
            IdxReader.IdxArray testImages,
            IdxReader.IdxArray testLabels) {

        /** Loads the data from {@link IdxReader#fashionMnistDir()}. */
        static Data load() throws QuantizationException {
            Path dir = IdxReader.fashionMnistDir();
            return new Data(
                    IdxReader.read(dir.resolve("train-images-idx3-ubyte.gz")),
                    IdxReader.read(dir.resolve("train-labels-idx1-ubyte.gz")),
                    IdxReader.read(dir.resolve("t10k-images-idx3-ubyte.gz")),
                    IdxReader.read(dir.resolve("t10k-labels-idx1-ubyte.gz")));
        }

        /** Training images {@code [from, to)} as {@code [n, 1, 28, 28]} in [0, 1]. */
        NDArray train(NDManager m, int from, int to) {
            return images(trainImages, m, from, to);
        }

        /** Training labels {@code [from, to)} as FLOAT32 {@code [n]}. */
        NDArray trainTargets(NDManager m, int from, int to) {
            return trainLabels.toNDArray(m, from, to, 1f, false);
        }

        /** Test images {@code [from, to)} as {@code [n, 1, 28, 28]} in [0, 1]. */
        NDArray test(NDManager m, int from, int to) {
            return images(testImages, m, from, to);
        }

        private static NDArray images(IdxReader.IdxArray a, NDManager m, int from, int to) {
            NDArray x = a.toNDArray(m, from, to, 255f, true);
            return x.reshape(to - from, 1, 28, 28);
        }
    }

    /**
     * The CNN: Conv2d(8, 5x5) - ReLU - max-pool 2 - Conv2d(16, 5x5) - ReLU - max-pool 2 - flatten -
     * Linear(64) - ReLU - Linear(10); 28x28 -> 24 -> 12 -> 8 -> 4, so 256 features into the MLP.
     * The ReLUs are DJL's {@code Activation.reluBlock()} (a {@code LambdaBlock} named "ReLU"),
     * which prepare and convert recognise and fuse into the preceding conv / linear layer; a ReLU
     * added as a Java function ({@code add(Activation::relu)}) computes the same but cannot be
     * fused.
     */
    static SequentialBlock cnn() {
        return new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(5, 5)).setFilters(8).build())
                .add(Activation.reluBlock())
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Conv2d.builder().setKernelShape(new Shape(5, 5)).setFilters(16).build())
                .add(Activation.reluBlock())
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(64).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    /** One epoch of a training curve. */
    record Epoch(int epoch, double trainLoss, double trainAccuracy, double testAccuracy) {}

    /**
     * Trains with Adam (fixed rate) and softmax cross-entropy, shuffled batches of {@link #BATCH},
     * recording the mean training loss, training accuracy and test accuracy after each epoch (the
     * test accuracy is measured with observers paused, fake quantization as it is).
     */
    static List<Epoch> train(
            Model model,
            NDArray x,
            NDArray y,
            int epochs,
            float learningRate,
            TrainingListener extra,
            Supplier<Double> testAccuracy)
            throws IOException, TranslateException {
        DefaultTrainingConfig cfg =
                new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                        .optOptimizer(
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(learningRate))
                                        .build());
        if (extra != null) {
            cfg.addTrainingListeners(extra);
        }
        CurveListener curve = new CurveListener(testAccuracy);
        cfg.addTrainingListeners(curve);
        ArrayDataset ds =
                new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(BATCH, true).build();
        try (Trainer trainer = model.newTrainer(cfg)) {
            trainer.initialize(new Shape(BATCH, 1, 28, 28));
            EasyTrain.fit(trainer, epochs, ds, null);
        }
        return curve.epochs;
    }

    /** Accumulates loss and accuracy over the training batches of each epoch. */
    private static final class CurveListener extends TrainingListenerAdapter {
        private final Supplier<Double> testAccuracy;
        private final Loss loss = Loss.softmaxCrossEntropyLoss();
        private final List<Epoch> epochs = new ArrayList<>();
        private double lossSum;
        private long correct;
        private long seen;
        private long batches;

        CurveListener(Supplier<Double> testAccuracy) {
            this.testAccuracy = testAccuracy;
        }

        @Override
        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
            for (var device : batchData.getLabels().keySet()) {
                NDList labels = batchData.getLabels().get(device);
                NDList preds = batchData.getPredictions().get(device);
                lossSum += loss.evaluate(labels, preds).getFloat();
                NDArray hit =
                        preds.head()
                                .argMax(1)
                                .toType(DataType.FLOAT32, false)
                                .eq(labels.head())
                                .sum();
                correct += hit.toType(DataType.INT64, false).getLong();
                seen += labels.head().size();
                batches++;
            }
        }

        @Override
        public void onEpoch(Trainer trainer) {
            epochs.add(
                    new Epoch(
                            epochs.size() + 1,
                            lossSum / batches,
                            correct / (double) seen,
                            testAccuracy.get()));
            lossSum = 0;
            correct = 0;
            seen = 0;
            batches = 0;
        }
    }

    /**
     * Top-1 accuracy on the first {@code labels.length} rows of {@code x}, in batches of 1000, with
     * the observers of any prepared layer paused (their switches are restored).
     */
    static double accuracy(Block block, NDManager m, NDArray x, int[] labels) {
        List<QuantTwin> twins = Twins.find(block);
        boolean[] observing = new boolean[twins.size()];
        for (int i = 0; i < observing.length; i++) {
            observing[i] = twins.get(i).control().isObserving();
            twins.get(i).control().setObserving(false);
        }
        try {
            ParameterStore ps = new ParameterStore(m, false);
            int correct = 0;
            for (int i = 0; i < labels.length; i += 1000) {
                int end = Math.min(labels.length, i + 1000);
                try (NDManager sub = m.newSubManager()) {
                    NDArray batch = x.get(i + ":" + end);
                    batch.attach(sub);
                    long[] pred =
                            block.forward(ps, new NDList(batch), false)
                                    .head()
                                    .argMax(1)
                                    .toType(DataType.INT64, false)
                                    .toLongArray();
                    for (int j = 0; j < pred.length; j++) {
                        if (pred[j] == labels[i + j]) {
                            correct++;
                        }
                    }
                }
            }
            return correct / (double) labels.length;
        } finally {
            for (int i = 0; i < observing.length; i++) {
                twins.get(i).control().setObserving(observing[i]);
            }
        }
    }

    /** Copies the trained parameters of {@code from} into a fresh CNN owned by {@code to}. */
    static void copyInto(Block from, Model to) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                from.saveParameters(out);
            }
            SequentialBlock block = cnn();
            block.initialize(to.getNDManager(), DataType.FLOAT32, new Shape(BATCH, 1, 28, 28));
            block.loadParameters(
                    to.getNDManager(),
                    new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
            to.setBlock(block);
        } catch (IOException | ai.djl.MalformedModelException e) {
            throw new UncheckedIOException(new IOException("cannot copy parameters", e));
        }
    }
}
