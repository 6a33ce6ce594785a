package org.djlquant.io.onnx;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.QuantizationException;

/**
 * An ONNX graph was read but is not a model the importer can rebuild as DJL blocks.
 *
 * <p>The message says which part of the expected pattern was missing and lists the graph nodes
 * (name and op type) that could not be mapped; {@link #getUnmappedNodes()} returns all of them.
 */
public class UnsupportedGraphException extends QuantizationException {

    private static final int LISTED = 25;

    /** The unmapped nodes as {@code name (OpType)}, in graph order. */
    private final List<String> unmappedNodes;

    /**
     * Creates the exception.
     *
     * @param reason which part of the pattern was not found
     * @param unmappedNodes the nodes not mapped, each as {@code name (OpType)}
     */
    public UnsupportedGraphException(String reason, List<String> unmappedNodes) {
        super(message(reason, unmappedNodes));
        this.unmappedNodes = List.copyOf(unmappedNodes);
    }

    /**
     * Returns the nodes that could not be mapped to a block.
     *
     * @return an unmodifiable list of {@code name (OpType)} entries, in graph order
     */
    public List<String> getUnmappedNodes() {
        return unmappedNodes;
    }

    private static String message(String reason, List<String> nodes) {
        StringBuilder sb = new StringBuilder(reason);
        sb.append("; ").append(nodes.size()).append(" node(s) not mapped");
        if (nodes.isEmpty()) {
            return sb.toString();
        }
        Map<String, Integer> byOp = new LinkedHashMap<>();
        for (String n : nodes) {
            byOp.merge(opType(n), 1, Integer::sum);
        }
        sb.append(" (by op type: ");
        byOp.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .forEach(e -> sb.append(e.getKey()).append(' ').append(e.getValue()).append(", "));
        sb.setLength(sb.length() - 2);
        sb.append(")");
        // constants say little about why a graph does not fit: list the other nodes first
        List<String> listed = new ArrayList<>();
        nodes.stream().filter(n -> !opType(n).equals("Constant")).forEach(listed::add);
        nodes.stream().filter(n -> opType(n).equals("Constant")).forEach(listed::add);
        sb.append(": ")
                .append(String.join(", ", listed.subList(0, Math.min(LISTED, listed.size()))));
        if (listed.size() > LISTED) {
            sb.append(", ... and ").append(listed.size() - LISTED).append(" more");
        }
        return sb.toString();
    }

    private static String opType(String node) {
        int open = node.lastIndexOf(" (");
        return open < 0 ? "?" : node.substring(open + 2, node.length() - 1);
    }
}
