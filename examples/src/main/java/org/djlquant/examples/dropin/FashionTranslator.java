package org.djlquant.examples.dropin;

import ai.djl.modality.Classifications;
import ai.djl.modality.cv.Image;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.translate.Batchifier;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import java.util.List;

/**
 * The app's own translator, written as a DJL app writes one and unaware of quantization: a 28x28
 * grayscale {@link Image} becomes 784 floats in [0, 1]; the model's 10 logits become {@link
 * Classifications} over the Fashion-MNIST class names (softmax probabilities). Batches are stacked.
 * Stateless and thread-safe.
 */
public final class FashionTranslator implements Translator<Image, Classifications> {

    /** The Fashion-MNIST class names, in label order. */
    public static final List<String> CLASSES =
            List.of(
                    "T-shirt/top",
                    "Trouser",
                    "Pullover",
                    "Dress",
                    "Coat",
                    "Sandal",
                    "Shirt",
                    "Sneaker",
                    "Bag",
                    "Ankle boot");

    /** Creates the translator. */
    public FashionTranslator() {}

    @Override
    public NDList processInput(TranslatorContext ctx, Image input) {
        NDArray pixels = input.toNDArray(ctx.getNDManager(), Image.Flag.GRAYSCALE);
        return new NDList(pixels.toType(DataType.FLOAT32, false).div(255f).reshape(784));
    }

    @Override
    public Classifications processOutput(TranslatorContext ctx, NDList list) {
        NDArray probabilities = list.singletonOrThrow().softmax(0);
        return new Classifications(CLASSES, probabilities);
    }

    @Override
    public Batchifier getBatchifier() {
        return Batchifier.STACK;
    }
}
