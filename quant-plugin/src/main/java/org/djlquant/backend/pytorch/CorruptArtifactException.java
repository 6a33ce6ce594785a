package org.djlquant.backend.pytorch;

import org.djlquant.QuantizationException;

/**
 * An exported model file is not a readable archive of ours: truncated, a record corrupted (CRC
 * mismatch), no manifest, or a manifest that does not parse. Detected in Java before libtorch reads
 * the file.
 */
public class CorruptArtifactException extends QuantizationException {

    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what is wrong, naming the file
     * @param cause the underlying failure, or null
     */
    public CorruptArtifactException(String message, Throwable cause) {
        super(message, cause);
    }
}
