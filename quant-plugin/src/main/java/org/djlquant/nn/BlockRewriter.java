package org.djlquant.nn;

import ai.djl.nn.Block;

/**
 * Turns one kind of block into its observed / fake-quant form. Registered per block class in {@link
 * RewriterRegistry} (directly, or as a {@code META-INF/services/org.djlquant.nn.BlockRewriter}
 * provider); the registry picks the rewriter of the nearest superclass.
 *
 * <p>A rewriter either returns a new block (a {@link QuantTwin}) that {@link Preparer} puts in the
 * parent in place of the original, or rewires the block in place (replacing its children through
 * {@link RewriteContext#wrapLinear}) and returns the block itself. It owns the whole subtree: the
 * preparer does not descend into it, so the rewriter reports every child it wraps or leaves float.
 */
public interface BlockRewriter {

    /**
     * Returns the class of block this rewriter handles (and subclasses, unless a more specific
     * rewriter is registered).
     *
     * @return the block class
     */
    Class<? extends Block> blockClass();

    /**
     * Rewrites one block.
     *
     * @param context the block, its path, parent and config, and helpers
     * @return the replacement for the block, or the block itself if rewired in place
     */
    Block rewrite(RewriteContext context);
}
