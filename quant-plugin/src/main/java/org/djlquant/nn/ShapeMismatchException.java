package org.djlquant.nn;

/**
 * An input reached a prepared layer with a shape the layer cannot take. Names the layer path, the
 * shape given and the shape allowed.
 */
public class ShapeMismatchException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;

    /**
     * Creates the exception.
     *
     * @param path the layer path
     * @param given what was given
     * @param allowed what the layer takes
     */
    public ShapeMismatchException(String path, String given, String allowed) {
        super("layer " + path + ": input shape was " + given + ", must be " + allowed);
        this.path = path;
    }

    private ShapeMismatchException(String message, String path, Throwable cause) {
        super(message, cause);
        this.path = path;
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
     * Returns a copy whose message also names the batch.
     *
     * @param batch the batch index
     * @return a new exception
     */
    public ShapeMismatchException withBatch(long batch) {
        return new ShapeMismatchException(getMessage() + " (batch " + batch + ")", path, this);
    }
}
