package org.djlquant.policy;

import java.util.OptionalDouble;
import org.djlquant.QuantizationException;

/**
 * Measures what a layer costs in a precision on one backend (latency and bytes). Implementations
 * run the layer on the backend; wrap one with {@link CostCache#caching(CostModel)} to measure each
 * layer kind once per machine.
 */
@FunctionalInterface
public interface CostModel {

    /**
     * Measures a layer in a precision.
     *
     * @param layer the layer
     * @param precision the precision
     * @return the measured cost
     * @throws QuantizationException if the measurement fails
     */
    LayerCost measure(LayerInfo layer, Precision precision) throws QuantizationException;

    /**
     * Measures converting a layer's input from float32 to a family and back (a cast to bfloat16 and
     * back, a quantize and a dequantize): what entering and leaving that family costs at this
     * layer's input shape. {@link CostTable} charges half of each side's round trip per boundary
     * between layers of different families (see {@link CostTable#transitionMs}).
     *
     * @param layer the layer whose input is converted
     * @param family a family other than {@link PrecisionFamily#FLOAT32}
     * @return the latency in ms, or empty if this model does not measure conversions (the default:
     *     boundaries are then free)
     * @throws QuantizationException if the measurement fails
     */
    default OptionalDouble roundTripMs(LayerInfo layer, PrecisionFamily family)
            throws QuantizationException {
        return OptionalDouble.empty();
    }
}
