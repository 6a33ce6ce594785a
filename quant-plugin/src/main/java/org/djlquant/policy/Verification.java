package org.djlquant.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.djlquant.QuantizationException;
import org.djlquant.eval.Median;

/**
 * Settings of the measured verification a {@link PolicySearch} runs after its search (see {@link
 * PolicySearch#withVerification}): how many of the best predicted candidates within budget to build
 * and time as whole models, and how.
 *
 * <p>Every verified candidate is built once through the {@link LatencyProbe}, then all of them are
 * run in {@link #warmupRounds()} + {@link #rounds()} interleaved rounds (each round runs every
 * candidate once, in the order of their predicted cost); a candidate's measured latency is the
 * median of its timed rounds. At most {@code (topK + precisions) * (warmupRounds + rounds)}
 * forwards, {@code precisions} the number of uniform seeds (see {@link
 * PolicySearch#verificationCandidateLimit()}).
 *
 * <p>Immutable and thread-safe if the probe is; the probe is called from the searching thread only.
 */
public final class Verification {

    /** The default number of best predicted candidates verified. */
    public static final int DEFAULT_TOP_K = 3;

    /** The default number of untimed rounds. */
    public static final int DEFAULT_WARMUP_ROUNDS = 2;

    /** The default number of timed rounds. */
    public static final int DEFAULT_ROUNDS = 10;

    private final LatencyProbe probe;
    private final int topK;
    private final int warmupRounds;
    private final int rounds;
    private final double predictionOffsetMs;

    private Verification(Builder b) {
        this.probe = b.probe;
        this.topK = b.topK;
        this.warmupRounds = b.warmupRounds;
        this.rounds = b.rounds;
        this.predictionOffsetMs = b.predictionOffsetMs;
    }

    /**
     * Starts the settings.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the probe that builds and times a candidate.
     *
     * @return the probe
     */
    public LatencyProbe probe() {
        return probe;
    }

    /**
     * Returns how many of the best predicted candidates within budget are verified (the uniform
     * seeds within budget are verified in addition).
     *
     * @return at least 1
     */
    public int topK() {
        return topK;
    }

    /**
     * Returns the untimed rounds before the timed ones.
     *
     * @return at least 0
     */
    public int warmupRounds() {
        return warmupRounds;
    }

    /**
     * Returns the timed rounds.
     *
     * @return at least 1
     */
    public int rounds() {
        return rounds;
    }

    /**
     * Returns what is added to a candidate's {@link Candidate#latencyMs()} to predict its
     * whole-model latency: {@link LatencyCalibration#remainderMs()} for a calibrated table, 0 when
     * the table's sum is itself the prediction.
     *
     * @return milliseconds
     */
    public double predictionOffsetMs() {
        return predictionOffsetMs;
    }

    /**
     * Builds every candidate, times them in interleaved rounds and returns, per candidate in the
     * given order, its predicted and median measured latency (none marked chosen). Every built
     * subject is closed exactly once, also on failure.
     */
    List<VerifiedLatency> measure(List<Candidate> candidates) throws QuantizationException {
        List<String> names = new ArrayList<>();
        List<Map<String, Precision>> assignments = new ArrayList<>();
        for (Candidate c : candidates) {
            names.add("candidate #" + c.order() + " (" + c.note() + ")");
            assignments.add(c.assignment());
        }
        double[] ms = time(names, assignments, candidates);
        List<VerifiedLatency> out = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            Candidate c = candidates.get(i);
            out.add(
                    new VerifiedLatency(
                            c.order(), c.note(), c.latencyMs() + predictionOffsetMs, ms[i], false));
        }
        return out;
    }

    /**
     * Builds and times named assignments the way the verification times candidates (one build each,
     * {@link #warmupRounds()} + {@link #rounds()} interleaved rounds, median): for example the
     * whole-model runs of a {@link LatencyCalibration}.
     *
     * @param assignments name to assignment, in the order they run in each round
     * @return name to median latency in ms, in the same order
     * @throws VerificationException naming the assignment if the probe fails on it (its {@link
     *     VerificationException#candidate()} is null)
     */
    public Map<String, Double> measureMs(Map<String, Map<String, Precision>> assignments)
            throws QuantizationException {
        List<String> names = new ArrayList<>(assignments.keySet());
        double[] ms = time(names, new ArrayList<>(assignments.values()), null);
        Map<String, Double> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            out.put(names.get(i), ms[i]);
        }
        return out;
    }

    private double[] time(
            List<String> names, List<Map<String, Precision>> assignments, List<Candidate> cands)
            throws QuantizationException {
        List<LatencyProbe.Subject> subjects = new ArrayList<>();
        try {
            for (int i = 0; i < assignments.size(); i++) {
                LatencyProbe.Subject s;
                try {
                    s = probe.build(assignments.get(i));
                } catch (QuantizationException | RuntimeException e) {
                    throw failure(names, assignments, cands, i, "building it failed: " + e, e);
                }
                if (s == null) {
                    throw failure(
                            names, assignments, cands, i, "the probe built nothing (null)", null);
                }
                subjects.add(s);
            }
            double[][] ms = new double[assignments.size()][rounds];
            for (int r = 0; r < warmupRounds + rounds; r++) {
                for (int i = 0; i < assignments.size(); i++) {
                    double t;
                    try {
                        t = subjects.get(i).forwardMs();
                    } catch (QuantizationException | RuntimeException e) {
                        throw failure(
                                names, assignments, cands, i, "a timed forward failed: " + e, e);
                    }
                    if (!Double.isFinite(t) || t <= 0) {
                        throw failure(
                                names,
                                assignments,
                                cands,
                                i,
                                "the probe returned a latency of "
                                        + t
                                        + " ms, must be finite and > 0",
                                null);
                    }
                    if (r >= warmupRounds) {
                        ms[i][r - warmupRounds] = t;
                    }
                }
            }
            double[] out = new double[assignments.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = Median.of(ms[i]);
            }
            return out;
        } finally {
            RuntimeException first = null;
            for (LatencyProbe.Subject s : subjects) {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    if (first == null) {
                        first = e;
                    }
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    private static VerificationException failure(
            List<String> names,
            List<Map<String, Precision>> assignments,
            List<Candidate> cands,
            int i,
            String what,
            Throwable cause) {
        return new VerificationException(
                "latency probe failed on "
                        + names.get(i)
                        + ": "
                        + what
                        + "; assignment "
                        + assignments.get(i),
                cands == null ? null : cands.get(i),
                cause);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return String.format(
                Locale.ROOT,
                "Verification[topK=%d, warmupRounds=%d, rounds=%d, predictionOffsetMs=%.4f]",
                topK,
                warmupRounds,
                rounds,
                predictionOffsetMs);
    }

    /** Collects the settings; {@link #build()} validates them. */
    public static final class Builder {
        private LatencyProbe probe;
        private int topK = DEFAULT_TOP_K;
        private int warmupRounds = DEFAULT_WARMUP_ROUNDS;
        private int rounds = DEFAULT_ROUNDS;
        private double predictionOffsetMs;

        private Builder() {}

        /**
         * Sets the probe that builds and times a candidate (required).
         *
         * @param probe the probe
         * @return this builder
         */
        public Builder setProbe(LatencyProbe probe) {
            this.probe = probe;
            return this;
        }

        /**
         * Sets how many of the best predicted candidates within budget are verified.
         *
         * @param k at least 1 (default {@value Verification#DEFAULT_TOP_K})
         * @return this builder
         */
        public Builder optTopK(int k) {
            this.topK = k;
            return this;
        }

        /**
         * Sets the untimed rounds.
         *
         * @param n at least 0 (default {@value Verification#DEFAULT_WARMUP_ROUNDS})
         * @return this builder
         */
        public Builder optWarmupRounds(int n) {
            this.warmupRounds = n;
            return this;
        }

        /**
         * Sets the timed rounds.
         *
         * @param n at least 1 (default {@value Verification#DEFAULT_ROUNDS})
         * @return this builder
         */
        public Builder optRounds(int n) {
            this.rounds = n;
            return this;
        }

        /**
         * Sets what is added to a candidate's latency sum to predict its whole-model latency.
         *
         * @param ms finite; {@link LatencyCalibration#remainderMs()} for a calibrated table
         *     (default 0)
         * @return this builder
         */
        public Builder optPredictionOffsetMs(double ms) {
            this.predictionOffsetMs = ms;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the settings
         * @throws IllegalArgumentException naming the setting, the value and what is allowed
         */
        public Verification build() {
            if (probe == null) {
                throw new IllegalArgumentException("probe must be set (setProbe), was null");
            }
            if (topK < 1) {
                throw new IllegalArgumentException("topK was " + topK + ", must be at least 1");
            }
            if (warmupRounds < 0) {
                throw new IllegalArgumentException(
                        "warmupRounds was " + warmupRounds + ", must be at least 0");
            }
            if (rounds < 1) {
                throw new IllegalArgumentException("rounds was " + rounds + ", must be at least 1");
            }
            if (!Double.isFinite(predictionOffsetMs)) {
                throw new IllegalArgumentException(
                        "predictionOffsetMs was " + predictionOffsetMs + ", must be finite");
            }
            return new Verification(this);
        }
    }
}
