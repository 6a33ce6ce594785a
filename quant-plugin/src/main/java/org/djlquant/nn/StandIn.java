package org.djlquant.nn;

import ai.djl.nn.Block;

/**
 * A block that stands in place of another one after preparation (for example a half-precision
 * Linear). {@link BlockPaths} names it by its original's class, as {@link Preparer} names a twin,
 * so block paths do not change when it is swapped in.
 */
public interface StandIn extends Block {

    /**
     * Returns the block this one stands in for.
     *
     * @return the original block
     */
    Block original();
}
