package org.djlquant.nn;

import org.djlquant.scheme.NonFiniteValueException;

/**
 * NaN or Inf reached an observer of a prepared layer. Names the layer path, the tensor role ({@code
 * input}, {@code weight}, {@code output}, {@code probs}) and, when known, the batch index.
 */
public class NonFiniteActivationException extends NonFiniteValueException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String role;
    private final long batchIndex;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param role the tensor role
     * @param batchIndex the batch index, or -1 if unknown
     * @param cause the observer's own exception
     */
    public NonFiniteActivationException(
            String path, String role, long batchIndex, RuntimeException cause) {
        super(
                "layer "
                        + path
                        + (batchIndex >= 0 ? ", batch " + batchIndex : "")
                        + ", tensor '"
                        + role
                        + "'",
                "value contains NaN or Inf (" + cause.getMessage() + ")");
        initCause(cause);
        this.path = path;
        this.role = role;
        this.batchIndex = batchIndex;
    }

    /**
     * Returns the layer path.
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the tensor role.
     *
     * @return the role
     */
    public String role() {
        return role;
    }

    /**
     * Returns the batch index.
     *
     * @return the index, or -1 if unknown
     */
    public long batchIndex() {
        return batchIndex;
    }

    /**
     * Returns a copy that also names the batch.
     *
     * @param batch the batch index
     * @return a new exception
     */
    public NonFiniteActivationException withBatch(long batch) {
        return new NonFiniteActivationException(path, role, batch, (RuntimeException) getCause());
    }
}
