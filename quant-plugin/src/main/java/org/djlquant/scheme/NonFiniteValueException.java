package org.djlquant.scheme;

/**
 * Thrown when data holds NaN or an infinity where finite values are required (calibration data, a
 * range, a scale). The message names where: the observer, the layer path, the batch index, as far
 * as the thrower knows them.
 */
public class NonFiniteValueException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String location;

    /**
     * Creates an exception with a complete message.
     *
     * @param message what was non-finite and where
     */
    public NonFiniteValueException(String message) {
        super(message);
        this.location = "";
    }

    /**
     * Creates an exception naming where the non-finite value was seen.
     *
     * @param location where: an observer, a layer path, a batch index (may be empty)
     * @param detail what was seen, e.g. "min was NaN"
     */
    public NonFiniteValueException(String location, String detail) {
        super(
                (location == null || location.isEmpty() ? "" : location + ": ")
                        + detail
                        + ", must be finite (no NaN or Inf)");
        this.location = location == null ? "" : location;
    }

    /**
     * Returns where the value was seen, or an empty string if unknown.
     *
     * @return the location given at construction
     */
    public String location() {
        return location;
    }
}
