package org.djlquant;

/** The one checked exception of djl-quant: I/O and conversion failures. */
public class QuantizationException extends Exception {

    /**
     * Creates an exception with a message.
     *
     * @param message what went wrong and what to do about it
     */
    public QuantizationException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and a cause.
     *
     * @param message what went wrong and what to do about it
     * @param cause the underlying failure
     */
    public QuantizationException(String message, Throwable cause) {
        super(message, cause);
    }
}
