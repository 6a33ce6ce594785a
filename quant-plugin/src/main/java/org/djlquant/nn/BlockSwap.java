package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.util.Pair;
import java.util.Objects;

/**
 * Replaces one block of a tree by another in place, the way {@link Preparer} puts twins in place:
 * the replacement takes the child's key and position in its parent's children and every field, list
 * element and array element of the parent that held the child. Used by later stages (policy
 * measurement, half-precision execution) to swap layers in and out. Not thread-safe: swap while no
 * forward runs.
 */
public final class BlockSwap {

    private BlockSwap() {}

    /**
     * Replaces {@code current} (found by identity under {@code root}) by {@code replacement}.
     *
     * @param root the root of the tree; it cannot itself be replaced
     * @param current the block to take out
     * @param replacement the block to put in its place
     * @throws IllegalArgumentException if {@code current} is the root or not in the tree
     * @throws IllegalStateException if a field of the parent cannot hold the replacement (the
     *     message names the field)
     */
    public static void replace(Block root, Block current, Block replacement) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(current, "current");
        Objects.requireNonNull(replacement, "replacement");
        if (root == current) {
            throw new IllegalArgumentException(
                    "the root block " + root.getClass().getSimpleName() + " cannot be replaced");
        }
        if (!swap(root, current, replacement)) {
            throw new IllegalArgumentException(
                    "block "
                            + current.getClass().getSimpleName()
                            + " is not in the tree under "
                            + root.getClass().getSimpleName());
        }
    }

    private static boolean swap(Block parent, Block current, Block replacement) {
        for (Pair<String, Block> c : parent.getChildren()) {
            if (c.getValue() == current) {
                String why = ChildSwapper.whyNot(parent, current, replacement.getClass());
                if (why != null) {
                    throw new IllegalStateException(why);
                }
                ChildSwapper.replace(parent, c.getKey(), current, replacement);
                return true;
            }
        }
        for (Pair<String, Block> c : parent.getChildren()) {
            if (swap(c.getValue(), current, replacement)) {
                return true;
            }
        }
        return false;
    }
}
