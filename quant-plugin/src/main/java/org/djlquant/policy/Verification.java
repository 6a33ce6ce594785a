package org.djlquant.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;
import org.djlquant.QuantizationException;
import org.djlquant.eval.SpeedMeter;

/**
 * Settings of the measured verification a {@link PolicySearch} runs after its search (see {@link
 * PolicySearch#withVerification}): how many of the best predicted candidates within budget to build
 * and time as whole models, and how.
 *
 * <p>Every verified candidate is built once through the {@link LatencyProbe}, then all of them are
 * run through {@link SpeedMeter#measureInterleaved}: {@link #warmupRounds()} untimed rounds in the
 * order of their predicted cost, then {@link #rounds()} timed rounds in an order that rotates every
 * round (so that no candidate always runs first, or always right after the same other one), with a
 * {@link #settle()} pause before every timed forward, outside the timed span (libtorch's and ONNX
 * Runtime's worker threads keep spinning after a call and would slow the next candidate down). The
 * time of a forward is the one the probe returns (the meter's clock is the probe's clock); a
 * candidate's measured latency is the median of its timed rounds. At most {@code (topK +
 * precisions) * (warmupRounds + rounds)} forwards, {@code precisions} the number of uniform seeds
 * (see {@link PolicySearch#verificationCandidateLimit()}); {@link #methodology()} describes it for
 * reports.
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

    /**
     * The default pause before every timed forward: 30 ms, the default of {@code djlq evaluate
     * --settle-ms}, the benchmarks and the example pipeline.
     */
    public static final Duration DEFAULT_SETTLE = Duration.ofMillis(30);

    private final LatencyProbe probe;
    private final int topK;
    private final int warmupRounds;
    private final int rounds;
    private final double predictionOffsetMs;
    private final Duration settle;

    private Verification(Builder b) {
        this.probe = b.probe;
        this.topK = b.topK;
        this.warmupRounds = b.warmupRounds;
        this.rounds = b.rounds;
        this.predictionOffsetMs = b.predictionOffsetMs;
        this.settle = b.settle;
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
     * Returns the pause taken before every timed forward, outside the timed span.
     *
     * @return the settle pause, {@link Duration#ZERO} when off
     */
    public Duration settle() {
        return settle;
    }

    /**
     * Describes how candidates are timed, for reports: the round counts, the rotated order and the
     * settle pause (see {@link SpeedMeter#methodology()}).
     *
     * @return a one-line description
     */
    public String methodology() {
        return "whole-model forwards, median of the probe's times; " + meter(() -> 0).methodology();
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
     * @param assignments name to assignment, in the order of the warm-up rounds (the timed rounds
     *     rotate it)
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
            // the meter's clock is the probe's: it advances by the latency each forward returns
            long[] probeNanos = {0};
            Map<Integer, SpeedMeter.Work<QuantizationException>> works = new LinkedHashMap<>();
            for (int i = 0; i < subjects.size(); i++) {
                int c = i;
                works.put(
                        c,
                        run ->
                                probeNanos[0] +=
                                        forwardNanos(
                                                subjects.get(c), names, assignments, cands, c));
            }
            Map<Integer, SpeedMeter.Timing> timings =
                    meter(() -> probeNanos[0]).measureInterleaved(1, works);
            double[] out = new double[subjects.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = timings.get(i).medianMillis();
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

    private SpeedMeter meter(LongSupplier probeClock) {
        return new SpeedMeter(warmupRounds, rounds, probeClock).withSettle(settle);
    }

    /** One forward of subject {@code i}; its latency in whole nanoseconds, at least 1. */
    private static long forwardNanos(
            LatencyProbe.Subject subject,
            List<String> names,
            List<Map<String, Precision>> assignments,
            List<Candidate> cands,
            int i)
            throws VerificationException {
        double t;
        try {
            t = subject.forwardMs();
        } catch (QuantizationException | RuntimeException e) {
            throw failure(names, assignments, cands, i, "a timed forward failed: " + e, e);
        }
        long nanos = Double.isFinite(t) ? Math.round(t * 1e6) : 0;
        if (!Double.isFinite(t) || t <= 0 || nanos < 1) {
            throw failure(
                    names,
                    assignments,
                    cands,
                    i,
                    "the probe returned a latency of "
                            + t
                            + " ms, must be finite and at least 1 ns (1e-6 ms)",
                    null);
        }
        return nanos;
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
                "Verification[topK=%d, warmupRounds=%d, rounds=%d, settleMs=%d,"
                        + " predictionOffsetMs=%.4f]",
                topK,
                warmupRounds,
                rounds,
                settle.toMillis(),
                predictionOffsetMs);
    }

    /** Collects the settings; {@link #build()} validates them. */
    public static final class Builder {
        private LatencyProbe probe;
        private int topK = DEFAULT_TOP_K;
        private int warmupRounds = DEFAULT_WARMUP_ROUNDS;
        private int rounds = DEFAULT_ROUNDS;
        private double predictionOffsetMs;
        private Duration settle = DEFAULT_SETTLE;

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
         * Sets the pause before every timed forward (outside the timed span), so that the worker
         * threads of the previous forward stop spinning first; zero turns it off (synthetic
         * probes).
         *
         * @param settle in {@code [0, }{@link SpeedMeter#MAX_SETTLE}{@code ]} (default 30 ms,
         *     {@link Verification#DEFAULT_SETTLE})
         * @return this builder
         */
        public Builder optSettle(Duration settle) {
            this.settle = settle;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the settings
         * @throws IllegalArgumentException naming the setting, the value and what is allowed (the
         *     settle pause must be in {@code [0, }{@link SpeedMeter#MAX_SETTLE}{@code ]})
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
            // the meter validates the pause (null, negative or above SpeedMeter.MAX_SETTLE)
            new SpeedMeter(warmupRounds, rounds).withSettle(settle);
            return new Verification(this);
        }
    }
}
