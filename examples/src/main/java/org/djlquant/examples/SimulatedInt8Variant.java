package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.translate.TranslateException;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.CalibratingTranslator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;

/**
 * {@code sim-dynamic-int8} and {@code sim-static-int8}: the imported model prepared with the fbgemm
 * dynamic or static INT8 preset ({@link QConfig#dynamicInt8}, {@link QConfig#staticInt8}) for every
 * {@code Linear} (static: except the FFN down-projections, kept FP32), then evaluated with fake
 * quantization on. This is a <em>simulation</em>: FP32 kernels plus rounding, so its accuracy and
 * cosine are what the INT8 model would give, while its speed and size are not measured (it has no
 * artifact of its own).
 *
 * <p>The static variant calibrates its activation observers (histogram, MSE) on the context's
 * calibration sentences, through a {@link CalibratingTranslator} around the sentence translator;
 * the dynamic variant needs no calibration (weights are observed when first needed, activations are
 * quantized per batch).
 */
public final class SimulatedInt8Variant extends ModelVariant {

    /** Path pattern of the FFN down-projections the static variant keeps in FP32. */
    static final String FFN_DOWN_PROJECTIONS = "encoder.*.output";

    private final QMode mode;
    private String summary = "(not built yet)";

    private SimulatedInt8Variant(QMode mode) {
        this.mode = mode;
    }

    /**
     * The dynamic INT8 simulation.
     *
     * @return a new, unbuilt variant
     */
    public static SimulatedInt8Variant dynamicInt8() {
        return new SimulatedInt8Variant(QMode.DYNAMIC);
    }

    /**
     * The static INT8 simulation, calibrated on the context's calibration sentences.
     *
     * @return a new, unbuilt variant
     */
    public static SimulatedInt8Variant staticInt8() {
        return new SimulatedInt8Variant(QMode.STATIC);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return mode == QMode.DYNAMIC ? "sim-dynamic-int8" : "sim-static-int8";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return (mode == QMode.DYNAMIC
                        ? "dynamic INT8 fbgemm preset on every Linear"
                        : "static INT8 fbgemm preset, FFN down-projections ("
                                + FFN_DOWN_PROJECTIONS
                                + ") FP32")
                + ", SIMULATED (fake quantization on FP32 libtorch)";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.SIMULATED;
    }

    /** {@inheritDoc} */
    @Override
    public String engine() {
        return "PyTorch";
    }

    /** {@inheritDoc} */
    @Override
    public void build(PipelineContext context) throws QuantizationException {
        Model model = OnnxImporter.importModel(context.fp32Onnx()).newModel(name(), engine());
        setModel(model);
        QConfig config =
                mode == QMode.DYNAMIC
                        ? QConfig.dynamicInt8(BackendTarget.FBGEMM)
                        : QConfig.staticInt8(BackendTarget.FBGEMM);
        QConfigMapping.Builder mapping = QConfigMapping.builder().optGlobal(config);
        if (mode == QMode.STATIC) {
            // the project's MiniLM static recipe: the FFN down-projections stay FP32 (quantizing
            // their inputs and outputs too costs most of the accuracy; see the converter's tests)
            mapping.optPathGlob(FFN_DOWN_PROJECTIONS, null);
        }
        PrepareReport report = Preparer.prepare(model, mapping.build());
        int layers = report.twins().size();
        if (layers == 0) {
            throw new IllegalStateException(
                    "Preparer wrapped no layer of the imported MiniLM; report:\n"
                            + report.toTable());
        }
        String calibrated = "no calibration (weights observed when first used)";
        if (mode == QMode.STATIC) {
            calibrated = calibrate(model, context);
        }
        Twins.setObserving(model.getBlock(), false);
        Twins.setFakeQuant(model.getBlock(), true);
        summary =
                String.format(
                        Locale.ROOT,
                        "none (simulation): %d Linear layers fake-quantized; %s",
                        layers,
                        calibrated);
    }

    private String calibrate(Model model, PipelineContext context) throws QuantizationException {
        List<String> sentences = context.calibration();
        if (sentences.isEmpty()) {
            throw new IllegalArgumentException(
                    "calibration sentences were empty, must hold at least one for " + name());
        }
        try (SentenceEmbeddingTranslator translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(context.tokenizer())
                        .optMaxLength(context.maxLength())
                        .build()) {
            CalibratingTranslator<List<String>, float[][]> calibrating =
                    new CalibratingTranslator<>(translator.batch());
            try (Predictor<List<String>, float[][]> p = model.newPredictor(calibrating)) {
                for (int i = 0; i < sentences.size(); i += MiniLmPipeline.BATCH) {
                    p.predict(
                            sentences.subList(
                                    i, Math.min(i + MiniLmPipeline.BATCH, sentences.size())));
                }
            } catch (TranslateException e) {
                throw new QuantizationException(
                        "calibration of " + name() + " failed: " + e.getMessage(), e);
            } finally {
                calibrating.stop();
            }
            // the batch translator takes a whole list per call: observedInputs counts batches
            return "calibrated on "
                    + sentences.size()
                    + " sentences in "
                    + calibrating.observedInputs()
                    + " batches";
        }
    }

    /** {@inheritDoc} */
    @Override
    public OptionalLong artifactBytes() {
        return OptionalLong.empty();
    }

    /** {@inheritDoc} */
    @Override
    public String artifact() {
        return summary;
    }
}
