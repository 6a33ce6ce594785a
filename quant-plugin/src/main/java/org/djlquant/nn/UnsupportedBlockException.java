package org.djlquant.nn;

import java.util.List;

/**
 * A config was given for a block that cannot be wrapped, or a block cannot be replaced in its
 * parent. Names the block path, the block class and the classes that can be wrapped.
 */
public class UnsupportedBlockException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String blockClass;

    /**
     * Creates the exception.
     *
     * @param path the block path (or a rule description when no block is involved)
     * @param blockClass the block's class name
     * @param problem what is wrong
     * @param allowed the block classes that can be wrapped
     */
    public UnsupportedBlockException(
            String path, String blockClass, String problem, List<String> allowed) {
        super(
                "block "
                        + path
                        + " ("
                        + blockClass
                        + "): "
                        + problem
                        + "; blocks that can be wrapped: "
                        + allowed);
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
