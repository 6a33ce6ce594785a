package org.djlquant.policy;

import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * Builds a model for an assignment and times it as a whole on the target backend: what {@link
 * Verification} uses to measure the search's best candidates for real before choosing one.
 *
 * <p>The verification builds every candidate first, then runs them in interleaved rounds (each
 * round runs every built subject once; the order rotates every timed round, with a settle pause
 * before every timed forward: {@link Verification}) so that a change in machine load touches all
 * candidates alike; every subject should time the same input. A synthetic probe for tests is one
 * line: {@code a -> () -> trueLatencyMs(a)}.
 */
@FunctionalInterface
public interface LatencyProbe {

    /**
     * Builds the model of an assignment, ready to be timed.
     *
     * @param assignment every layer path mapped to a precision, in model order; unmodifiable
     * @return the built model; the verification closes it exactly once
     * @throws QuantizationException if the model cannot be built; the verification reports it with
     *     the candidate
     */
    Subject build(Map<String, Precision> assignment) throws QuantizationException;

    /** One built model. Not shared between threads: the verification runs it on its own thread. */
    @FunctionalInterface
    interface Subject extends AutoCloseable {

        /**
         * Runs one whole-model forward on the probe's fixed input and returns its latency.
         *
         * @return milliseconds, finite and {@code > 0}
         * @throws QuantizationException if the model fails to run
         */
        double forwardMs() throws QuantizationException;

        /** Releases what {@link LatencyProbe#build} allocated; the default holds nothing. */
        @Override
        default void close() {}
    }
}
