package org.djlquant.testing;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import java.io.IOException;

/**
 * The Fashion-MNIST MLP (784-128-ReLU-10) of the quantization tests: its block, training (Adam
 * 2e-3, batch 200) and test accuracy, shared so tests do not copy them.
 */
public final class FashionMnistMlp {

    /** Training batch size. */
    public static final int BATCH = 200;

    private FashionMnistMlp() {}

    /**
     * Returns a new, uninitialized MLP; the ReLU is {@code Activation.reluBlock()} (a LambdaBlock
     * named "ReLU", which the converter can fuse into the preceding layer).
     *
     * @return the block
     */
    public static SequentialBlock mlp() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(128).build())
                .add(Activation.reluBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    /**
     * Trains a model with softmax cross-entropy.
     *
     * @param model the model, its block set
     * @param x images [N, 784] in [0, 1]
     * @param y labels [N]
     * @param epochs epochs
     * @param listener an extra training listener, or null
     * @throws IOException never in practice (DJL's signature)
     * @throws TranslateException if a batch fails
     */
    public static void train(
            Model model, NDArray x, NDArray y, int epochs, TrainingListener listener)
            throws IOException, TranslateException {
        DefaultTrainingConfig cfg =
                new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                        .optOptimizer(
                                Optimizer.adam()
                                        .optLearningRateTracker(Tracker.fixed(2e-3f))
                                        .build());
        if (listener != null) {
            cfg.addTrainingListeners(listener);
        }
        ArrayDataset ds =
                new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(BATCH, true).build();
        try (Trainer trainer = model.newTrainer(cfg)) {
            trainer.initialize(new Shape(BATCH, 784));
            EasyTrain.fit(trainer, epochs, ds, null);
        }
    }

    /**
     * Returns the fraction of images classified correctly, in batches of 1000.
     *
     * @param block the classifier
     * @param m a manager for the batches
     * @param x images [N, 784]
     * @param labels the N labels
     * @return the accuracy in [0, 1]
     */
    public static double accuracy(Block block, NDManager m, NDArray x, int[] labels) {
        ParameterStore ps = new ParameterStore(m, false);
        int correct = 0;
        for (int i = 0; i < labels.length; i += 1000) {
            try (NDManager sub = m.newSubManager()) {
                NDArray batch = x.get(i + ":" + (i + 1000));
                batch.attach(sub);
                long[] pred =
                        block.forward(ps, new ai.djl.ndarray.NDList(batch), false)
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
    }
}
