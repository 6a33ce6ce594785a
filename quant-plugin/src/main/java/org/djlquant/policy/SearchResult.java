package org.djlquant.policy;

import java.util.List;
import java.util.Locale;

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
 * @param verified the candidates built and timed as whole models before choosing, in order of
 *     predicted cost (empty without a {@link Verification}); copied
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
        boolean exact,
        List<VerifiedLatency> verified) {

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
     * @param verified the candidates built and timed as whole models before choosing, in order of
     *     predicted cost (empty without a {@link Verification}); copied
     */
    public SearchResult {
        verified = List.copyOf(verified);
        tried = List.copyOf(tried);
        paretoFrontier = List.copyOf(paretoFrontier);
        trajectory = List.copyOf(trajectory);
    }

    /**
     * A result without measured verification.
     *
     * @param policy the chosen policy
     * @param chosen the evaluated candidate the policy is made of
     * @param baselineMetric the metric of the all-FP32 model
     * @param tried every evaluated candidate, in evaluation order; copied
     * @param paretoFrontier the non-dominated candidates among {@code tried}; copied
     * @param trajectory the steps of progressive quantization; copied
     * @param evaluatorCalls how many times the evaluator ran
     * @param evaluatorCallLimit the bound that was enforced
     * @param exact false if the proxy solver had to thin its state set
     */
    public SearchResult(
            MixedPrecisionPolicy policy,
            Candidate chosen,
            double baselineMetric,
            List<Candidate> tried,
            List<Candidate> paretoFrontier,
            List<ProgressiveStep> trajectory,
            int evaluatorCalls,
            int evaluatorCallLimit,
            boolean exact) {
        this(
                policy,
                chosen,
                baselineMetric,
                tried,
                paretoFrontier,
                trajectory,
                evaluatorCalls,
                evaluatorCallLimit,
                exact,
                List.of());
    }

    /**
     * Renders every tried candidate as a table: order, stage, metric, drop, latency, bytes, a
     * {@code *} on the Pareto frontier and a {@code <} on the chosen one, then the note.
     *
     * @return the table, lines ending with newlines
     */
    public String toTable() {
        StringBuilder sb = new StringBuilder();
        String row = "%4s  %-11s  %12s  %12s  %12s  %14s  %-2s  %s%n";
        sb.append(
                String.format(
                        Locale.ROOT,
                        row,
                        "#",
                        "stage",
                        "metric",
                        "drop",
                        "latency ms",
                        "bytes",
                        "",
                        "note"));
        for (Candidate c : tried) {
            String mark = (paretoFrontier.contains(c) ? "*" : " ") + (c.equals(chosen) ? "<" : " ");
            sb.append(
                    String.format(
                            Locale.ROOT,
                            row,
                            c.order(),
                            c.stage(),
                            String.format(Locale.ROOT, "%.6g", c.metric()),
                            String.format(Locale.ROOT, "%.6g", c.drop()),
                            String.format(Locale.ROOT, "%.6g", c.latencyMs()),
                            c.bytes(),
                            mark,
                            c.note()));
        }
        sb.append(
                String.format(
                        Locale.ROOT,
                        "evaluator calls %d of at most %d%s%n",
                        evaluatorCalls,
                        evaluatorCallLimit,
                        exact ? "" : "; proxy solver thinned its state set (not proven optimal)"));
        sb.append(verifiedTable());
        return sb.toString();
    }

    /**
     * Renders the measured verification: how it timed (the policy's {@code verificationMethod}),
     * then per verified candidate its order, predicted and measured whole-model latency, their
     * ratio, a {@code <} on the chosen one and the note; empty if nothing was verified.
     *
     * @return the table, lines ending with newlines, or an empty string
     */
    public String verifiedTable() {
        if (verified.isEmpty()) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        String row = "%4s  %14s  %14s  %10s  %-1s  %s%n";
        sb.append(
                String.format(
                        Locale.ROOT,
                        "measured verification: %d candidate(s) built and timed as whole models%n",
                        verified.size()));
        if (!policy.verificationMethod().isEmpty()) {
            sb.append("timing: ")
                    .append(policy.verificationMethod())
                    .append(System.lineSeparator());
        }
        sb.append(
                String.format(
                        Locale.ROOT,
                        row,
                        "#",
                        "predicted ms",
                        "measured ms",
                        "pred/meas",
                        "",
                        "note"));
        for (VerifiedLatency v : verified) {
            sb.append(
                    String.format(
                            Locale.ROOT,
                            row,
                            v.order(),
                            String.format(Locale.ROOT, "%.6g", v.predictedMs()),
                            String.format(Locale.ROOT, "%.6g", v.measuredMs()),
                            String.format(Locale.ROOT, "%.3f", v.predictedMs() / v.measuredMs()),
                            v.chosen() ? "<" : "",
                            v.note()));
        }
        return sb.toString();
    }
}
