package org.djlquant.examples.dropin;

import ai.djl.ModelException;
import ai.djl.inference.Predictor;
import ai.djl.modality.Classifications;
import ai.djl.modality.cv.Image;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * An ordinary DJL app, before quantization: loads the trained Fashion-MNIST classifier with a
 * {@link Criteria} (model folder, model name, block, engine, its own {@link FashionTranslator}) and
 * serves it with one {@link Predictor}. {@link QuantizedFashionService} is the same class with the
 * few lines that quantize it added; compare the two files.
 *
 * <p>Not thread-safe (one predictor); close it once.
 */
public final class FashionService implements AutoCloseable {

    private final ZooModel<Image, Classifications> model;
    private final Predictor<Image, Classifications> predictor;

    /**
     * Loads the model.
     *
     * @param modelDir the folder holding {@code fashion-mlp-0000.params}
     * @throws IOException if the model cannot be read
     * @throws ModelException if DJL cannot load it
     */
    public FashionService(Path modelDir) throws IOException, ModelException {
        Criteria<Image, Classifications> criteria =
                Criteria.builder()
                        .setTypes(Image.class, Classifications.class)
                        .optModelPath(modelDir)
                        .optModelName(FashionModel.NAME)
                        .optBlock(FashionModel.newBlock())
                        .optEngine("PyTorch")
                        .optTranslator(new FashionTranslator())
                        .build();
        model = criteria.loadModel();
        predictor = model.newPredictor();
    }

    /**
     * Classifies one image.
     *
     * @param image a 28x28 grayscale image
     * @return the classes, most likely first
     * @throws TranslateException if the prediction fails
     */
    public Classifications classify(Image image) throws TranslateException {
        return predictor.predict(image);
    }

    /**
     * Classifies a batch of images.
     *
     * @param images 28x28 grayscale images
     * @return one result per image
     * @throws TranslateException if the prediction fails
     */
    public List<Classifications> classify(List<Image> images) throws TranslateException {
        return predictor.batchPredict(images);
    }

    /**
     * Returns the model the service loaded (for inspection).
     *
     * @return the model
     */
    public ZooModel<Image, Classifications> model() {
        return model;
    }

    /**
     * Returns the predictor the service serves with (for inspection).
     *
     * @return the predictor
     */
    public Predictor<Image, Classifications> predictor() {
        return predictor;
    }

    @Override
    public void close() {
        predictor.close();
        model.close();
    }
}
