package org.djlquant.backend.onnx;

import ai.djl.nn.Block;
import java.util.List;

/**
 * Writes one block class as ONNX nodes. Register implementations in a {@link LoweringRegistry};
 * container lowerings call {@link LoweringContext#lower} for their children.
 */
@FunctionalInterface
public interface BlockLowering {

    /**
     * Adds the nodes that compute the block.
     *
     * @param ctx the graph under construction
     * @param block the block (an instance of the class the lowering was registered for)
     * @param path its path in clean form, for names and messages
     * @param inputs the names of the block's input tensors, in the block's input order
     * @return the names of the block's output tensors
     * @throws UnsupportedExportException if this block instance cannot be exported (naming the
     *     path, the value found and what is allowed)
     */
    List<String> lower(LoweringContext ctx, Block block, String path, List<String> inputs);
}
