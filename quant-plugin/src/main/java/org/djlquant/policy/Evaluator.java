package org.djlquant.policy;

import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * Runs the model with a precision per layer and returns the task metric (higher is better, for
 * example accuracy on a validation set). The search counts the calls, never repeats an assignment
 * and stays within {@link PolicySearch#evaluatorCallLimit()}.
 */
@FunctionalInterface
public interface Evaluator {

    /**
     * Evaluates an assignment.
     *
     * @param assignment every layer path mapped to a precision, in model order; unmodifiable
     * @return the task metric, finite, higher is better
     * @throws QuantizationException if the model cannot be run; the search reports it with the
     *     assignment being tried
     */
    double evaluate(Map<String, Precision> assignment) throws QuantizationException;
}
