package org.djlquant.policy;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * The evaluator threw or returned a non-finite metric. Names the assignment and what the search was
 * trying (for example the layer being moved).
 */
public class EvaluationException extends QuantizationException {

    /** The assignment being evaluated. */
    private final transient Map<String, Precision> assignment;

    /** What the search was trying. */
    private final String trying;

    /**
     * Creates the exception.
     *
     * @param message what went wrong
     * @param assignment the assignment being evaluated
     * @param trying what the search was trying
     * @param cause the evaluator's exception, or null
     */
    public EvaluationException(
            String message, Map<String, Precision> assignment, String trying, Throwable cause) {
        super(message, cause);
        this.assignment = Collections.unmodifiableMap(new LinkedHashMap<>(assignment));
        this.trying = trying;
    }

    /**
     * Returns the assignment being evaluated.
     *
     * @return layer path to precision
     */
    public Map<String, Precision> assignment() {
        return assignment;
    }

    /**
     * Returns what the search was trying.
     *
     * @return for example {@code "fallback step 2: encoder.1.ffn.in -> FP32"}
     */
    public String trying() {
        return trying;
    }
}
