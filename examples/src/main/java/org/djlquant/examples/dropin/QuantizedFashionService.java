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
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.calibrate.CalibratingTranslator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;

/**
 * {@link FashionService} with djl-quant dropped in: the same {@link Criteria}, translator and
 * predictor calls, plus the lines that make the loaded model INT8 in place: prepare (static INT8,
 * fbgemm preset), calibrate on the app's own recent traffic through a {@link CalibratingTranslator}
 * wrapped around the app's translator, and convert to libtorch's quantized kernels. The difference
 * between the two files is the drop-in diff of the README.
 *
 * <p>Not thread-safe (one predictor); close it once.
 */
public final class QuantizedFashionService implements AutoCloseable {

    private final ZooModel<Image, Classifications> model;
    private final Predictor<Image, Classifications> predictor;

    /**
     * Loads the model and quantizes it.
     *
     * @param modelDir the folder holding {@code fashion-mlp-0000.params}
     * @param recentTraffic requests the app served recently (a few hundred images), used to
     *     calibrate the activation ranges
     * @throws IOException if the model cannot be read
     * @throws ModelException if DJL cannot load it
     * @throws TranslateException if serving the calibration traffic fails
     * @throws QuantizationException if libtorch refuses to pack a weight
     */
    public QuantizedFashionService(Path modelDir, List<Image> recentTraffic)
            throws IOException, ModelException, TranslateException, QuantizationException {
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
        Preparer.prepare(model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
        var calibrating = new CalibratingTranslator<>(model.getTranslator());
        try (Predictor<Image, Classifications> p = model.newPredictor(calibrating)) {
            p.batchPredict(recentTraffic);
        }
        calibrating.stop();
        Converter.convert(model, QEngine.X86);
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
