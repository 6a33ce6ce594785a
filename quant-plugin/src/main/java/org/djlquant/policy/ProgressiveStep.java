package org.djlquant.policy;

/**
 * One step of progressive quantization: a layer moved to the target precision and what the
 * evaluator measured.
 *
 * @param step 1 for the first move
 * @param layer the layer moved
 * @param from its precision before
 * @param to its precision after
 * @param metric the metric measured after the move
 * @param drop the baseline metric minus {@code metric}
 * @param accepted false for the move that broke the budget (it was undone and the search stopped)
 */
public record ProgressiveStep(
        int step,
        String layer,
        Precision from,
        Precision to,
        double metric,
        double drop,
        boolean accepted) {}
