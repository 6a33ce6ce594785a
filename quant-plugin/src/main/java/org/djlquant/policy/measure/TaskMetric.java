package org.djlquant.policy.measure;

import org.djlquant.QuantizationException;

/**
 * The user's task metric on held-out data (higher is better, for example accuracy), measured on the
 * model as it is currently set up: {@link PrecisionSimulator#evaluator(TaskMetric)} sets the
 * layers' precisions, calls it, and sets them back to FP32.
 */
@FunctionalInterface
public interface TaskMetric {

    /**
     * Runs the model on held-out data.
     *
     * @return the metric, finite, higher is better
     * @throws QuantizationException if the model cannot be run
     */
    double measure() throws QuantizationException;
}
