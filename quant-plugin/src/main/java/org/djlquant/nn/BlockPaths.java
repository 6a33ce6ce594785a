package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.util.Pair;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Lists the blocks of a tree by clean path, computed the way {@link Preparer} and {@link
 * org.djlquant.config.QConfigMapping} compute them (a twin or a {@link StandIn} in place counts as
 * its original's class), so later stages can address the layers a {@link PrepareReport} or a policy
 * names. Stateless and thread-safe; the tree must not change while it is walked.
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

    /** {@link Preparer#cleanSegments} with stand-ins counted as their originals' class. */
    private static Map<String, String> segments(BlockList children) {
        Map<String, String> seg = new LinkedHashMap<>();
        Map<String, Integer> counts = new HashMap<>();
        for (Pair<String, Block> c : children) {
            String key = c.getKey();
            int i = 0;
            while (i < key.length() && Character.isDigit(key.charAt(i))) {
                i++;
            }
            String digits = key.substring(0, i);
            String name = key.substring(i);
            Block b = c.getValue();
            Class<?> k =
                    b instanceof QuantTwin
                            ? ((QuantTwin) b).original().getClass()
                            : b instanceof StandIn
                                    ? ((StandIn) b).original().getClass()
                                    : b.getClass();
            String s = name.isEmpty() || name.equals(k.getSimpleName()) ? digits : name;
            if (s.isEmpty()) {
                s = key;
            }
            seg.put(key, s);
            counts.merge(s, 1, Integer::sum);
        }
        seg.replaceAll((key, s) -> counts.get(s) > 1 ? key : s);
        return seg;
    }

    private static void walk(Block parent, String clean, Map<String, Block> out) {
        Map<String, String> seg = segments(parent.getChildren());
        for (Pair<String, Block> c : parent.getChildren()) {
            String s = seg.get(c.getKey());
            String path = clean.isEmpty() ? s : clean + "." + s;
            out.put(path, c.getValue());
            walk(c.getValue(), path, out);
        }
    }
}
