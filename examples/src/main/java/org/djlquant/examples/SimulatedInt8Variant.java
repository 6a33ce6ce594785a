package org.djlquant.examples;

import ai.djl.Model;
import java.util.Locale;
import java.util.OptionalLong;
import org.djlquant.QuantizationException;
import org.djlquant.config.QMode;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;

/**
 * {@code sim-dynamic-int8} and {@code sim-static-int8}: the imported model prepared with the {@link
 * MiniLmRecipe} (the same mapping as the real INT8 rows), then evaluated with fake quantization on.
 * This is a <em>simulation</em>: FP32 kernels plus rounding, so its accuracy and cosine are what
 * the INT8 model would give, while its speed and size are not measured (it has no artifact of its
 * own).
 *
 * <p>The static variant calibrates its activation observers (histogram, MSE) on the context's
 * calibration sentences, through a {@code CalibratingTranslator} around the sentence translator;
 * the dynamic variant needs no calibration (weights are observed when first needed, activations are
 * quantized per batch).
 */
public final class SimulatedInt8Variant extends ModelVariant {

    private final QMode mode;
    private final MiniLmRecipe recipe;
    private String summary = "(not built yet)";

    private SimulatedInt8Variant(QMode mode, MiniLmRecipe recipe) {
        this.mode = mode;
        this.recipe = java.util.Objects.requireNonNull(recipe, "recipe");
    }

    /**
     * The dynamic INT8 simulation of {@link MiniLmRecipe#DEFAULT}.
     *
     * @return a new, unbuilt variant
     */
    public static SimulatedInt8Variant dynamicInt8() {
        return new SimulatedInt8Variant(QMode.DYNAMIC, MiniLmRecipe.DEFAULT);
    }

    /**
     * The static INT8 simulation of {@link MiniLmRecipe#DEFAULT}, calibrated on the context's
     * calibration sentences.
     *
     * @return a new, unbuilt variant
     */
    public static SimulatedInt8Variant staticInt8() {
        return new SimulatedInt8Variant(QMode.STATIC, MiniLmRecipe.DEFAULT);
    }

    /**
     * The simulation of a recipe in a mode.
     *
     * @param mode {@link QMode#STATIC} or {@link QMode#DYNAMIC}
     * @param recipe the recipe
     * @return a new, unbuilt variant
     */
    static SimulatedInt8Variant of(QMode mode, MiniLmRecipe recipe) {
        return new SimulatedInt8Variant(mode, recipe);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return mode == QMode.DYNAMIC ? "sim-dynamic-int8" : "sim-static-int8";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return recipe.describe(mode) + ", SIMULATED (fake quantization on FP32 libtorch)";
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
        PrepareReport report = Preparer.prepare(model, recipe.mapping(mode));
        int layers = report.twins().size();
        if (layers == 0) {
            throw new IllegalStateException(
                    "Preparer wrapped no layer of the imported MiniLM; report:\n"
                            + report.toTable());
        }
        String calibrated = "no calibration (weights observed when first used)";
        if (mode == QMode.STATIC) {
            calibrated = QuantizedMiniLm.calibrate(model, context, name());
        }
        Twins.setObserving(model.getBlock(), false);
        Twins.setFakeQuant(model.getBlock(), true);
        summary =
                String.format(
                        Locale.ROOT,
                        "none (simulation): %d blocks fake-quantized; %s",
                        layers,
                        calibrated);
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
