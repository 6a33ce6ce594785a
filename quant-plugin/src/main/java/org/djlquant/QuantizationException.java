package org.djlquant;

/**
 * The one checked exception of djl-quant: I/O and model conversion failures that a caller can
 * reasonably handle (a file that cannot be written, a backend that rejects a converted model).
 * Misuse of the API (bad arguments, wrong call order) is reported with unchecked exceptions
 * instead.
 */
public class QuantizationException extends Exception {

    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what failed and what to do about it
     */
    public QuantizationException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and its cause.
     *
     * @param message what failed and what to do about it
     * @param cause the underlying failure
     */
    public QuantizationException(String message, Throwable cause) {
        super(message, cause);
    }
}
