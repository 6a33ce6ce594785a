package org.djlquant.backend.pytorch;

import org.djlquant.QuantizationException;

/**
 * An exported quantized model does not fit the running environment (another backend, libtorch
 * version or quantized engine, or a newer manifest format). The message says what differs and what
 * to do.
 */
public class IncompatibleArtifactException extends QuantizationException {

    private static final long serialVersionUID = 1L;

    private final String field;
    private final String artifactValue;
    private final String currentValue;

    /**
     * Creates the exception.
     *
     * @param field the manifest field that differs ({@code qengine}, {@code formatVersion}, ...)
     * @param artifactValue the value in the artifact
     * @param currentValue the value of the running environment
     * @param advice what to do
     */
    public IncompatibleArtifactException(
            String field, String artifactValue, String currentValue, String advice) {
        super(
                "artifact "
                        + field
                        + " is "
                        + artifactValue
                        + ", the running environment has "
                        + currentValue
                        + ": "
                        + advice);
        this.field = field;
        this.artifactValue = artifactValue;
        this.currentValue = currentValue;
    }

    /**
     * Returns the field that differs.
     *
     * @return the manifest field name
     */
    public String field() {
        return field;
    }

    /**
     * Returns the artifact's value.
     *
     * @return the value in the manifest
     */
    public String artifactValue() {
        return artifactValue;
    }

    /**
     * Returns the running environment's value.
     *
     * @return the current value
     */
    public String currentValue() {
        return currentValue;
    }
}
