package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.util.Pair;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Lists the blocks of a tree by clean path, computed the way {@link Preparer} and {@link
 * org.djlquant.config.QConfigMapping} compute them (a twin in place counts as its original's
 * class), so later stages can address the layers a {@link PrepareReport} or a policy names.
 * Stateless and thread-safe; the tree must not change while it is walked.
 */
public final class BlockPaths {

    private BlockPaths() {}

    /**
     * Walks a tree depth first.
     *
     * @param root the root block (not listed itself)
     * @return every descendant by clean path, in tree order; unmodifiable
     */
    public static Map<String, Block> byCleanPath(Block root) {
        Objects.requireNonNull(root, "root");
        Map<String, Block> out = new LinkedHashMap<>();
        walk(root, "", out);
        return Collections.unmodifiableMap(out);
    }

    private static void walk(Block parent, String clean, Map<String, Block> out) {
        Map<String, String> seg = Preparer.cleanSegments(parent.getChildren());
        for (Pair<String, Block> c : parent.getChildren()) {
            String s = seg.get(c.getKey());
            String path = clean.isEmpty() ? s : clean + "." + s;
            out.put(path, c.getValue());
            walk(c.getValue(), path, out);
        }
    }
}
