package org.djlquant.nn;

import ai.djl.nn.Block;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.scheme.QParams;

/**
 * Finds and switches the twins of a prepared block tree. Stateless; the switches it sets belong to
 * the twins (not thread-safe while a forward runs).
 */
public final class Twins {

    private Twins() {}

    /**
     * Finds every twin in a block tree, in tree order (a twin's own children are searched too).
     *
     * @param root the root block
     * @return the twins
     */
    public static List<QuantTwin> find(Block root) {
        List<QuantTwin> out = new ArrayList<>();
        collect(root, out);
        return out;
    }

    private static void collect(Block block, List<QuantTwin> out) {
        for (Pair<String, Block> c : block.getChildren()) {
            collect(c.getValue(), out);
        }
        if (block instanceof QuantTwin) {
            out.add((QuantTwin) block);
        }
    }

    /**
     * Turns observing on or off in every twin.
     *
     * @param root the root block
     * @param on the switch
     */
    public static void setObserving(Block root, boolean on) {
        find(root).forEach(t -> t.control().setObserving(on));
    }

    /**
     * Turns fake quantization on or off in every twin.
     *
     * @param root the root block
     * @param on the switch
     */
    public static void setFakeQuant(Block root, boolean on) {
        find(root).forEach(t -> t.control().setFakeQuant(on));
    }

    /**
     * Computes the quantization parameters of every twin.
     *
     * @param root the root block
     * @return parameters by twin path, then by role
     * @throws IllegalStateException naming the layer if an observer saw no data
     */
    public static Map<String, Map<String, QParams>> computeParams(Block root) {
        Map<String, Map<String, QParams>> out = new LinkedHashMap<>();
        for (QuantTwin t : find(root)) {
            out.put(t.path(), t.control().computeParams());
        }
        return out;
    }
}
