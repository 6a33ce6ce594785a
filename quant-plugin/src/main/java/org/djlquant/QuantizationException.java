package org.djlquant;

/**
 * The one checked exception of djl-quant: an I/O or conversion step failed (an artifact could not
 * be written or read, a backend refused a converted model).
 *
 * <p>Misuse of the API (a bad argument, a wrong state) is reported with unchecked exceptions
 * instead.
 */
public class QuantizationException extends Exception {

    /**
     * Creates an exception with a message.
     *
     * @param message what failed and, where possible, what to do about it
     */
    public QuantizationException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and the failure that caused it.
     *
     * @param message what failed and, where possible, what to do about it
     * @param cause the underlying failure
     */
    public QuantizationException(String message, Throwable cause) {
        super(message, cause);
    }
}
