package org.djlquant.backend.pytorch;

/**
 * A block of the model cannot be exported: no lowering is registered for its class, or its
 * configuration has no TorchScript equivalent. The message names the block path, its class, what is
 * wrong and what is allowed.
 */
public class UnsupportedExportException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String blockClass;

    /**
     * Creates the exception.
     *
     * @param path the block path ({@code encoder.03.attention}); empty for the root
     * @param blockClass the block's class name
     * @param problem what is wrong and what is allowed
     */
    public UnsupportedExportException(String path, String blockClass, String problem) {
        super("block '" + path + "' (" + blockClass + "): " + problem);
        this.path = path;
        this.blockClass = blockClass;
    }

    /**
     * Returns the block path.
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the block class name.
     *
     * @return the class name
     */
    public String blockClass() {
        return blockClass;
    }
}
