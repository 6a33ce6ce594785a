package org.djlquant.backend.onnx;

import ai.djl.nn.Block;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Which {@link BlockLowering} writes which block class. Lookup walks the class hierarchy, so a
 * lowering registered for {@code Linear} also serves its subclasses (the observed twins) unless a
 * subclass has its own.
 *
 * <p>{@link #standard()} returns a new registry holding the built-in lowerings: DJL's {@code
 * Linear} (float, static INT8 QDQ, dynamic INT8, weight-only INT8), {@code SequentialBlock}, {@code
 * LambdaBlock} named {@code ReLU} / {@code GELU}, {@code LayerNorm}, and our BERT blocks in {@code
 * org.djlquant.nn.transformer}. Users add their own block classes with {@link #register}.
 *
 * <p>Not thread-safe while being modified; register everything before exporting.
 */
public final class LoweringRegistry {

    private final Map<Class<?>, BlockLowering> lowerings = new LinkedHashMap<>();

    private LoweringRegistry() {}

    /**
     * Returns a new registry with the built-in lowerings.
     *
     * @return a registry the caller may extend
     */
    public static LoweringRegistry standard() {
        LoweringRegistry r = new LoweringRegistry();
        BuiltinLowerings.registerAll(r);
        return r;
    }

    /**
     * Registers (or replaces) the lowering of a block class.
     *
     * @param blockClass the class
     * @param lowering the lowering
     * @return this registry
     */
    public LoweringRegistry register(Class<? extends Block> blockClass, BlockLowering lowering) {
        lowerings.put(
                Objects.requireNonNull(blockClass, "blockClass"),
                Objects.requireNonNull(lowering, "lowering"));
        return this;
    }

    /**
     * Finds the lowering of a class: its own, else the nearest superclass's.
     *
     * @param blockClass the class
     * @return the lowering, or null if none applies
     */
    public BlockLowering find(Class<?> blockClass) {
        for (Class<?> c = blockClass; c != null; c = c.getSuperclass()) {
            BlockLowering l = lowerings.get(c);
            if (l != null) {
                return l;
            }
        }
        return null;
    }

    /**
     * Returns the registered classes by name.
     *
     * @return the class names in registration order
     */
    public List<String> registeredClasses() {
        List<String> out = new ArrayList<>();
        for (Class<?> c : lowerings.keySet()) {
            out.add(c.getSimpleName());
        }
        return out;
    }
}
