package org.djlquant.examples.dropin;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.ExportableBlocks;

/**
 * The model the drop-in app serves: a multilayer perceptron 784 → 128 → ReLU → 64 → ReLU → 10 for
 * Fashion-MNIST, saved by DJL as {@code fashion-mlp-0000.params}. {@link #train} stands for the
 * app's training job, which ran before the app and left the model folder behind.
 */
public final class FashionModel {

    /** The model name (file prefix) inside the model folder. */
    public static final String NAME = "fashion-mlp";

    private static final int BATCH = 100;

    private FashionModel() {}

    /**
     * The block as the app declares it, with DJL's own ReLU blocks.
     *
     * @return a new, uninitialized block
     */
    public static Block newBlock() {
        return mlp(Activation::reluBlock);
    }

    /**
     * The same network with ReLU blocks that {@code TorchScriptExporter} recognises ({@link
     * ExportableBlocks#relu()}); it loads the same parameter file.
     *
     * @return a new, uninitialized block
     */
    public static Block newExportableBlock() {
        return mlp(ExportableBlocks::relu);
    }

    private static Block mlp(Supplier<Block> relu) {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(128).build())
                .add(relu.get())
                .add(Linear.builder().setUnits(64).build())
                .add(relu.get())
                .add(Linear.builder().setUnits(10).build());
    }

    /**
     * Trains the model on the first {@code images} Fashion-MNIST training images (Adam, rate 2e-3,
     * batches of 100, seeded) and saves it into {@code dir}.
     *
     * @param dir the model folder to write
     * @param images the number of training images, in [100, 60000]
     * @param epochs the number of epochs, {@code >= 1}
     * @param seed the seed of initialisation and shuffling
     * @return the folder
     * @throws IllegalArgumentException if {@code images} or {@code epochs} is out of range
     * @throws QuantizationException if the data cannot be read
     * @throws IOException if the model cannot be saved
     * @throws TranslateException if training fails
     */
    public static Path train(Path dir, int images, int epochs, int seed)
            throws QuantizationException, IOException, TranslateException {
        if (images < BATCH || images > 60_000) {
            throw new IllegalArgumentException(
                    "images was " + images + ", must be in [100, 60000]");
        }
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs was " + epochs + ", must be >= 1");
        }
        FashionData data = FashionData.load();
        Engine.getEngine("PyTorch").setRandomSeed(seed);
        try (NDManager manager = NDManager.newBaseManager("PyTorch");
                Model model = Model.newInstance(NAME, "PyTorch")) {
            model.setBlock(newBlock());
            NDArray x = data.trainPixels(manager, 0, images);
            NDArray y = data.trainLabels(manager, 0, images);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(2e-3f))
                                            .build());
            ArrayDataset dataset =
                    new ArrayDataset.Builder()
                            .setData(x)
                            .optLabels(y)
                            .setSampling(BATCH, true)
                            .build();
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(BATCH, 784));
                EasyTrain.fit(trainer, epochs, dataset, null);
            }
            Files.createDirectories(dir);
            model.save(dir, NAME);
        }
        return dir;
    }
}
