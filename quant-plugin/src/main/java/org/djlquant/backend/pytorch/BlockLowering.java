package org.djlquant.backend.pytorch;

import ai.djl.nn.Block;
import java.util.List;

/**
 * Turns one block into TorchScript statements of an exported model. Register an implementation for
 * a block class with {@link Lowerings#register}; the exporter then lowers every block of exactly
 * that class with it.
 *
 * <p>An implementation writes statements through the {@link LoweringContext} (local variables,
 * tensor attributes, its children's lowerings) and returns the values that the block's {@code
 * forward} would return, in order. It must compute what the block computes in inference mode.
 *
 * @param <B> the block class
 */
@FunctionalInterface
public interface BlockLowering<B extends Block> {

    /**
     * Lowers a block.
     *
     * @param block the block
     * @param inputs the values its {@code forward} receives, in order
     * @param ctx where statements, attributes and children go; knows the block's path
     * @return the values its {@code forward} returns, in order
     */
    List<TsValue> lower(B block, List<TsValue> inputs, LoweringContext ctx);
}
