package org.djlquant.backend.pytorch;

import ai.djl.nn.Block;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The registry of {@link BlockLowering}s by block class, used by {@link TorchScriptExporter}.
 *
 * <p>A lowering applies to blocks of exactly its class (not to subclasses: a subclass may compute
 * something else, and an export must never lower a block as something it is not). Built in: DJL's
 * {@code SequentialBlock}, {@code Linear}, {@code LayerNorm}, {@code Dropout} (identity), {@code
 * Conv2d}; the blocks of {@link ExportableBlocks} (activations, pooling, flatten, parallel
 * branches); our BERT blocks ({@code org.djlquant.nn.transformer}); and the observed twin {@code
 * ObservedLinear} (dynamic, static, QAT and weight-only INT8) and {@code ObservedConv2d} (static
 * and QAT INT8: {@code quantized::conv2d}, see {@code ConvLowering}); the blocks made by the
 * in-place converter ({@code QuantizedLinear}, {@code QuantizedBertSelfAttention}) and DJL's {@code
 * LambdaBlock}s named {@code ReLU} and {@code GELU} (see {@code ConvertedLowerings}).
 *
 * <p>Thread-safe; registrations are process-wide and a later registration for a class replaces the
 * earlier one.
 */
public final class Lowerings {

    private static final Map<Class<?>, BlockLowering<?>> LOWERINGS = new ConcurrentHashMap<>();

    static {
        BuiltinLowerings.registerAll();
        ConvertedLowerings.registerAll();
    }

    private Lowerings() {}

    /**
     * Registers the lowering of a block class.
     *
     * @param blockClass the exact block class
     * @param lowering its lowering
     * @param <B> the block type
     */
    public static <B extends Block> void register(Class<B> blockClass, BlockLowering<B> lowering) {
        LOWERINGS.put(
                Objects.requireNonNull(blockClass, "blockClass"),
                Objects.requireNonNull(lowering, "lowering"));
    }

    /**
     * Returns the lowering registered for a block's exact class.
     *
     * @param block the block
     * @param <B> its type
     * @return the lowering, or null
     */
    @SuppressWarnings("unchecked")
    static <B extends Block> BlockLowering<B> find(B block) {
        return (BlockLowering<B>) LOWERINGS.get(block.getClass());
    }

    /**
     * Returns the simple names of the classes that have a lowering, sorted.
     *
     * @return the names
     */
    public static List<String> supportedClasses() {
        List<String> names = new ArrayList<>();
        for (Class<?> c : LOWERINGS.keySet()) {
            names.add(c.getSimpleName());
        }
        names.sort(null);
        return names;
    }
}
