package org.djlquant.examples;

import java.util.OptionalLong;
import org.djlquant.QuantizationException;
import org.djlquant.nn.Converter;

/**
 * {@code int8-static-inplace} / {@code int8-dynamic-inplace}: the imported MiniLM prepared with the
 * {@link MiniLmRecipe}, calibrated (static) and converted to real INT8 in place by {@link
 * Converter} on fbgemm; the same DJL model, the same translator and predictor. It has no file of
 * its own: a deployment ships the FP32 model and converts it at load, and the float parameters stay
 * in memory next to the packed INT8 weights.
 */
final class InPlaceInt8Variant extends ModelVariant {

    private final QuantizedMiniLm quantized;
    private String artifact = "(not built yet)";

    /**
     * Creates the variant over a shared quantized model.
     *
     * @param quantized the prepared model of this variant's mode, shared with its export variants
     */
    InPlaceInt8Variant(QuantizedMiniLm quantized) {
        this.quantized = quantized;
        quantized.want(QuantizedMiniLm.Form.IN_PLACE);
    }

    /** {@inheritDoc} */
    @Override
    public String name() {
        return "int8-" + quantized.modeName() + "-inplace";
    }

    /** {@inheritDoc} */
    @Override
    public String description() {
        return quantized.recipe().describe(quantized.mode())
                + "; converted in place (QuantizedLinear, "
                + QuantizedMiniLm.ENGINE.pytorchName()
                + ") inside the DJL model";
    }

    /** {@inheritDoc} */
    @Override
    public Kind kind() {
        return Kind.INT8;
    }

    /** {@inheritDoc} */
    @Override
    public String engine() {
        return "PyTorch";
    }

    /** {@inheritDoc} */
    @Override
    public void build(PipelineContext context) throws QuantizationException {
        quantized.build(context);
        setModel(quantized.takeInPlaceModel());
        long int8 = quantized.convertReport().int8WeightBytes();
        artifact =
                String.format(
                        java.util.Locale.ROOT,
                        "none of its own: the FP32 model converted at load (%.1f MB of INT8"
                                + " weights packed; the float parameters stay in memory); %s",
                        int8 / 1e6,
                        quantized.summary());
    }

    /** {@inheritDoc} */
    @Override
    public OptionalLong artifactBytes() {
        return OptionalLong.empty();
    }

    /** {@inheritDoc} */
    @Override
    public String artifact() {
        return artifact;
    }

    /** {@inheritDoc} */
    @Override
    public void close() {
        super.close();
        quantized.close();
    }
}
