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

    /**
     * Saves the state of every observer of every twin, so calibration can be reused later (together
     * with the model's ordinary parameter file).
     *
     * @param root the root block
     * @return JSON: {@code {"<path>": {"<role>": <ObserverState JSON>}}}
     */
    public static String saveObserverStates(Block root) {
        com.google.gson.JsonObject all = new com.google.gson.JsonObject();
        for (QuantTwin t : find(root)) {
            com.google.gson.JsonObject roles = new com.google.gson.JsonObject();
            for (Map.Entry<String, org.djlquant.observer.Observer> e :
                    t.control().observers().entrySet()) {
                if (e.getValue().hasData()) {
                    roles.add(
                            e.getKey(),
                            com.google.gson.JsonParser.parseString(
                                    e.getValue().saveState().toJson()));
                }
            }
            all.add(t.path(), roles);
        }
        return all.toString();
    }

    /**
     * Restores observer states saved by {@link #saveObserverStates} into a model prepared the same
     * way.
     *
     * @param root the root block
     * @param json the saved states
     * @throws IllegalArgumentException naming the layer path (and the paths known) if the saved
     *     states do not fit the twins
     */
    public static void loadObserverStates(Block root, String json) {
        com.google.gson.JsonObject all =
                com.google.gson.JsonParser.parseString(json).getAsJsonObject();
        List<QuantTwin> twins = find(root);
        List<String> paths = new ArrayList<>();
        twins.forEach(t -> paths.add(t.path()));
        for (String path : all.keySet()) {
            if (!paths.contains(path)) {
                throw new IllegalArgumentException(
                        "saved observer states name layer "
                                + path
                                + ", which is not a prepared layer here; prepared layers: "
                                + paths);
            }
        }
        for (QuantTwin t : twins) {
            com.google.gson.JsonObject roles = all.getAsJsonObject(t.path());
            if (roles == null) {
                continue;
            }
            for (String role : roles.keySet()) {
                org.djlquant.observer.Observer o = t.control().observers().get(role);
                if (o == null) {
                    throw new IllegalArgumentException(
                            "layer "
                                    + t.path()
                                    + ": saved role '"
                                    + role
                                    + "' was not expected, allowed: "
                                    + t.control().observers().keySet());
                }
                o.loadState(
                        org.djlquant.observer.ObserverState.fromJson(roles.get(role).toString()));
            }
            t.control().invalidate();
        }
    }
}
