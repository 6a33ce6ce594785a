package org.djlquant.nn;

import ai.djl.nn.convolutional.Conv1d;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The rewriters {@link Preparer} uses, keyed by block class. Built in: {@link Linear}, {@link
 * Conv1d}, {@link Conv2d} and DJL's {@link ScaledDotProductAttentionBlock}; further ones are added
 * with {@link #register} or found with {@link ServiceLoader} as {@code
 * META-INF/services/org.djlquant.nn.BlockRewriter} providers when this class loads. A block gets
 * the rewriter of its own class or, failing that, of its nearest registered superclass. Twins are
 * never rewritten again.
 *
 * <p>Thread-safe; register before preparing.
 */
public final class RewriterRegistry {

    private static final Map<Class<?>, BlockRewriter> REWRITERS = new ConcurrentHashMap<>();

    static {
        register(BuiltinRewriters.linear());
        register(BuiltinRewriters.conv1d());
        register(BuiltinRewriters.conv2d());
        register(BuiltinRewriters.attention());
        register(BuiltinRewriters.bertSelfAttention());
        for (BlockRewriter r : ServiceLoader.load(BlockRewriter.class)) {
            register(r);
        }
    }

    private RewriterRegistry() {}

    /**
     * Registers a rewriter, replacing any for the same class.
     *
     * @param rewriter the rewriter
     */
    public static void register(BlockRewriter rewriter) {
        REWRITERS.put(rewriter.blockClass(), rewriter);
    }

    /**
     * Finds the rewriter for a block class.
     *
     * @param blockClass the class
     * @return the rewriter of the class or nearest superclass, or null (also for twins)
     */
    public static BlockRewriter find(Class<?> blockClass) {
        if (QuantTwin.class.isAssignableFrom(blockClass)) {
            return null;
        }
        for (Class<?> k = blockClass; k != null; k = k.getSuperclass()) {
            BlockRewriter r = REWRITERS.get(k);
            if (r != null) {
                return r;
            }
        }
        return null;
    }

    /**
     * Returns the simple names of the classes that have a rewriter, sorted.
     *
     * @return the names
     */
    public static List<String> wrappableClasses() {
        List<String> names = new ArrayList<>();
        for (Class<?> k : REWRITERS.keySet()) {
            names.add(k.getSimpleName());
        }
        names.sort(null);
        return names;
    }
}
