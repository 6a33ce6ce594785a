package org.djlquant.backend.onnx;

import java.util.List;

/**
 * A block, or its quantization config, cannot be written as an ONNX Runtime graph. Names the block
 * path, the block class, what was found and what is allowed.
 */
public class UnsupportedExportException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String blockClass;

    /**
     * Creates the exception.
     *
     * @param path the block path
     * @param blockClass the block's class name
     * @param problem what is wrong, with the value found
     * @param allowed what is allowed instead
     */
    public UnsupportedExportException(
            String path, String blockClass, String problem, List<String> allowed) {
        super(
                "block "
                        + (path.isEmpty() ? "<root>" : path)
                        + " ("
                        + blockClass
                        + "): "
                        + problem
                        + "; allowed: "
                        + allowed);
        this.path = path;
        this.blockClass = blockClass;
    }

    /**
     * Returns the block path.
     *
     * @return the path ({@code ""} for the root)
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
