package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import org.djlquant.config.QConfig;

/**
 * What a {@link BlockRewriter} gets: the block, where it sits, its config, and helpers that replace
 * its children and record them in the {@link PrepareReport}. One context per rewritten block, valid
 * only during {@link BlockRewriter#rewrite}.
 */
public final class RewriteContext {

    private final Preparer.Session session;
    private final Block parent;
    private final Block block;
    private final String path;
    private final String cleanPath;
    private final QConfig config;

    RewriteContext(
            Preparer.Session session,
            Block parent,
            Block block,
            String path,
            String cleanPath,
            QConfig config) {
        this.session = session;
        this.parent = parent;
        this.block = block;
        this.path = path;
        this.cleanPath = cleanPath;
        this.config = config;
    }

    /**
     * Returns the block to rewrite.
     *
     * @return the block
     */
    public Block block() {
        return block;
    }

    /**
     * Returns the block's parent.
     *
     * @return the parent, or null for the root block
     */
    public Block parent() {
        return parent;
    }

    /**
     * Returns the block path (raw form).
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the block path (clean form).
     *
     * @return the path
     */
    public String cleanPath() {
        return cleanPath;
    }

    /**
     * Returns the block's config (never null here).
     *
     * @return the config
     */
    public QConfig config() {
        return config;
    }

    /**
     * Replaces a {@link Linear} child of this block (in its children list and in every field
     * holding it) by an {@link ObservedLinear}, and records it. The child's config is the one a
     * path rule gives the child itself, else this block's config; a null config leaves it float.
     *
     * @param childKey the child's key in {@code owner}'s children, e.g. {@code 01keyProjection}
     * @param observeOutput true to observe and fake-quantize the child's output
     * @return the twin, or null if the child stays float
     */
    public ObservedLinear wrapLinear(String childKey, boolean observeOutput) {
        return session.wrapLinear(this, childKey, observeOutput);
    }

    /**
     * Records a child of this block left float, with the reason.
     *
     * @param childKey the child's key
     * @param reason why it stays float
     */
    public void leaveFloat(String childKey, String reason) {
        session.leaveFloat(this, childKey, reason);
    }

    /** Replaces the parent, once its children are done, by what {@code factory} makes of it. */
    void replaceParentAfterChildren(java.util.function.UnaryOperator<Block> factory) {
        session.defer(parent, factory);
    }

    /**
     * Adds a warning to the report.
     *
     * @param message the warning
     */
    public void warn(String message) {
        session.warn(message);
    }

    /**
     * Tells whether this block's parent can hold a block of the given class in its place.
     *
     * @param replacementClass the class of the intended replacement
     * @return null if it can, else the reason (e.g. a parent field typed with a final class)
     */
    public String whyNotReplaceable(Class<? extends Block> replacementClass) {
        return session.whyNotReplaceable(parent, block, replacementClass);
    }
}
