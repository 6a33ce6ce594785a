package org.djlquant.policy;

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
}
