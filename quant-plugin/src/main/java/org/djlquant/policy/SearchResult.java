package org.djlquant.policy;

import java.util.List;

/**
 * What a {@link PolicySearch} decided and everything it tried.
 *
 * @param policy the chosen policy
 * @param chosen the evaluated candidate the policy is made of
 * @param baselineMetric the metric of the all-FP32 model
 * @param tried every evaluated candidate, in evaluation order; copied
 * @param paretoFrontier the non-dominated candidates among {@code tried} in (metric, latency,
 *     size), sorted by latency, then size; copied
 * @param trajectory the steps of progressive quantization (empty for other strategies); copied
 * @param evaluatorCalls how many times the evaluator ran
 * @param evaluatorCallLimit the bound that was enforced
 * @param exact false if the proxy solver had to thin its state set (over 200,000 Pareto states) and
 *     may have missed a better candidate
 */
public record SearchResult(
        MixedPrecisionPolicy policy,
        Candidate chosen,
        double baselineMetric,
        List<Candidate> tried,
        List<Candidate> paretoFrontier,
        List<ProgressiveStep> trajectory,
        int evaluatorCalls,
        int evaluatorCallLimit,
        boolean exact) {

    /**
     * Copies the lists.
     *
     * @param policy the chosen policy
     * @param chosen the evaluated candidate the policy is made of
     * @param baselineMetric the metric of the all-FP32 model
     * @param tried every evaluated candidate, in evaluation order; copied
     * @param paretoFrontier the non-dominated candidates among {@code tried} in (metric, latency,
     *     size), sorted by latency, then size; copied
     * @param trajectory the steps of progressive quantization (empty for other strategies); copied
     * @param evaluatorCalls how many times the evaluator ran
     * @param evaluatorCallLimit the bound that was enforced
     * @param exact false if the proxy solver had to thin its state set (over 200,000 Pareto states)
     *     and may have missed a better candidate
     */
    public SearchResult {
        tried = List.copyOf(tried);
        paretoFrontier = List.copyOf(paretoFrontier);
        trajectory = List.copyOf(trajectory);
    }
}
