package org.djlquant.policy;

import org.djlquant.QuantizationException;

/**
 * The {@link LatencyProbe} failed on a candidate the search was verifying: building it threw, a
 * forward threw, or a forward returned a latency that is not finite and {@code > 0}. Names the
 * candidate.
 */
public class VerificationException extends QuantizationException {

    /** The candidate being built or timed. */
    private final transient Candidate candidate;

    /**
     * Creates the exception.
     *
     * @param message what went wrong, naming the candidate
     * @param candidate the candidate being built or timed
     * @param cause the probe's exception, or null
     */
    public VerificationException(String message, Candidate candidate, Throwable cause) {
        super(message, cause);
        this.candidate = candidate;
    }

    /**
     * Returns the candidate being built or timed.
     *
     * @return the candidate, or null when named assignments were timed ({@link
     *     Verification#measureMs})
     */
    public Candidate candidate() {
        return candidate;
    }
}
