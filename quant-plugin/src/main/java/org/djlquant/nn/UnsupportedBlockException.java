package org.djlquant.nn;

import java.util.List;

/**
 * A config was given for a block that cannot be wrapped, or a block cannot be replaced in its
 * parent. Names the block path, the block class and the classes that can be wrapped.
 */
public class UnsupportedBlockException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    private final String path;
    private final String rawPath;
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
        this(path, path, blockClass, problem, allowed);
    }

    /**
     * Creates the exception for a block whose clean path differs from its raw one.
     *
     * @param path the block's clean path ({@link BlockPaths}, e.g. {@code encoder.03.attention}),
     *     named by the message
     * @param rawPath the path from DJL's child names
     * @param blockClass the block's class name
     * @param problem what is wrong
     * @param allowed the block classes that can be wrapped
     */
    public UnsupportedBlockException(
            String path, String rawPath, String blockClass, String problem, List<String> allowed) {
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
        this.rawPath = rawPath;
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
     * Returns the block path from DJL's child names; the same as {@link #path()} when the thrower
     * knew no clean path.
     *
     * @return the raw path
     */
    public String rawPath() {
        return rawPath;
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
