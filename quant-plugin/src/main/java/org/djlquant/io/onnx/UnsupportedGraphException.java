package org.djlquant.io.onnx;

import java.util.List;
import org.djlquant.QuantizationException;

/**
 * An ONNX graph was read but is not a model the importer can rebuild as DJL blocks.
 *
 * <p>The message says which part of the expected pattern was missing and lists the graph nodes
 * (name and op type) that could not be mapped; {@link #getUnmappedNodes()} returns all of them.
 */
public class UnsupportedGraphException extends QuantizationException {

    private static final int LISTED = 25;

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
        if (!nodes.isEmpty()) {
            sb.append(": ")
                    .append(String.join(", ", nodes.subList(0, Math.min(LISTED, nodes.size()))));
            if (nodes.size() > LISTED) {
                sb.append(", ... and ").append(nodes.size() - LISTED).append(" more");
            }
        }
        return sb.toString();
    }
}
