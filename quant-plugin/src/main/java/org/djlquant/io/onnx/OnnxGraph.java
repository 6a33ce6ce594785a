package org.djlquant.io.onnx;

import ai.onnx.proto.OnnxMl;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Read-only index over an ONNX graph: who produces and who consumes each tensor, constant values,
 * and the set of nodes a matcher has claimed.
 */
final class OnnxGraph {

    private final OnnxMl.GraphProto graph;
    private final List<OnnxMl.NodeProto> nodes;
    private final Map<String, Integer> producer = new HashMap<>();
    private final Map<String, List<Integer>> consumers = new HashMap<>();
    private final Map<String, OnnxMl.TensorProto> constants = new HashMap<>();
    private final Set<String> inputs = new HashSet<>();
    private final BitSet claimed = new BitSet();

    OnnxGraph(OnnxMl.GraphProto graph) {
        this.graph = graph;
        this.nodes = graph.getNodeList();
        for (OnnxMl.TensorProto t : graph.getInitializerList()) {
            constants.put(t.getName(), t);
        }
        for (OnnxMl.ValueInfoProto in : graph.getInputList()) {
            if (!constants.containsKey(in.getName())) {
                inputs.add(in.getName());
            }
        }
        for (int i = 0; i < nodes.size(); i++) {
            OnnxMl.NodeProto node = nodes.get(i);
            for (String out : node.getOutputList()) {
                producer.put(out, i);
            }
            for (String in : node.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
            }
            if ("Constant".equals(node.getOpType())) {
                for (OnnxMl.AttributeProto a : node.getAttributeList()) {
                    if ("value".equals(a.getName()) && a.hasT()) {
                        constants.put(node.getOutput(0), a.getT());
                    }
                }
            }
        }
    }

    OnnxMl.GraphProto proto() {
        return graph;
    }

    int size() {
        return nodes.size();
    }

    OnnxMl.NodeProto node(int index) {
        return nodes.get(index);
    }

    boolean isGraphInput(String tensor) {
        return inputs.contains(tensor);
    }

    /** Returns the index of the node producing the tensor, or -1 for inputs and initializers. */
    int producer(String tensor) {
        Integer i = producer.get(tensor);
        return i == null ? -1 : i;
    }

    /** Returns the producing node if it has the given op type, else -1. */
    int producer(String tensor, String opType) {
        int i = producer(tensor);
        return i >= 0 && nodes.get(i).getOpType().equals(opType) ? i : -1;
    }

    List<Integer> consumers(String tensor) {
        return consumers.getOrDefault(tensor, List.of());
    }

    /**
     * Returns the single consumer of the tensor's values (consumers that only read its shape, the
     * {@code Shape} nodes, do not count), or -1.
     */
    int onlyConsumer(String tensor) {
        int found = -1;
        for (int i : consumers(tensor)) {
            if (nodes.get(i).getOpType().equals("Shape")) {
                continue;
            }
            if (found >= 0) {
                return -1;
            }
            found = i;
        }
        return found;
    }

    /** Returns the single value consumer of the tensor if it has the given op type, or -1. */
    int onlyConsumer(String tensor, String opType) {
        int i = onlyConsumer(tensor);
        return i >= 0 && nodes.get(i).getOpType().equals(opType) ? i : -1;
    }

    boolean isInitializer(String tensor) {
        return producer(tensor) < 0 && constants.containsKey(tensor);
    }

    /** Returns an initializer or Constant-node tensor, or null. */
    OnnxMl.TensorProto constant(String tensor) {
        return constants.get(tensor);
    }

    /** Returns the value of a scalar (one-element) float constant, or NaN if there is none. */
    float scalar(String tensor) {
        OnnxMl.TensorProto t = constants.get(tensor);
        if (t == null || t.getDataType() != OnnxMl.TensorProto.DataType.FLOAT.getNumber()) {
            return Float.NaN;
        }
        float[] v = floats(t);
        return v.length == 1 ? v[0] : Float.NaN;
    }

    /** Returns the int64/int32 values of a constant tensor, or null. */
    long[] longsOrNull(String tensor) {
        OnnxMl.TensorProto t = constants.get(tensor);
        return t == null ? null : longs(t);
    }

    /** Returns the value of an integer attribute, or the fallback. */
    static long intAttribute(OnnxMl.NodeProto node, String name, long fallback) {
        for (OnnxMl.AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getI();
            }
        }
        return fallback;
    }

    /** Returns the value of a float attribute, or the fallback. */
    static float floatAttribute(OnnxMl.NodeProto node, String name, float fallback) {
        for (OnnxMl.AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getF();
            }
        }
        return fallback;
    }

    /** Returns the values of an ints attribute, or null. */
    static long[] intsAttribute(OnnxMl.NodeProto node, String name) {
        for (OnnxMl.AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
            }
        }
        return null;
    }

    void claim(int node) {
        if (node >= 0) {
            claimed.set(node);
        }
    }

    boolean isClaimed(int node) {
        return claimed.get(node);
    }

    /**
     * Decodes a FLOAT tensor held inline (raw little-endian bytes or {@code float_data}).
     *
     * @throws IllegalArgumentException if the tensor is not FLOAT or its data is stored outside
     */
    static float[] floats(OnnxMl.TensorProto t) {
        if (t.getDataType() != OnnxMl.TensorProto.DataType.FLOAT.getNumber()) {
            throw new IllegalArgumentException(
                    "tensor '"
                            + t.getName()
                            + "' has data type "
                            + OnnxMl.TensorProto.DataType.forNumber(t.getDataType())
                            + ", must be FLOAT");
        }
        checkInline(t);
        if (!t.getRawData().isEmpty()) {
            ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[b.remaining() / Float.BYTES];
            b.asFloatBuffer().get(out);
            return out;
        }
        float[] out = new float[t.getFloatDataCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.getFloatData(i);
        }
        return out;
    }

    /** Decodes an INT64 or INT32 tensor held inline. */
    static long[] longs(OnnxMl.TensorProto t) {
        checkInline(t);
        boolean int64 = t.getDataType() == OnnxMl.TensorProto.DataType.INT64.getNumber();
        boolean int32 = t.getDataType() == OnnxMl.TensorProto.DataType.INT32.getNumber();
        if (!int64 && !int32) {
            return null;
        }
        if (!t.getRawData().isEmpty()) {
            ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            long[] out = new long[b.remaining() / (int64 ? Long.BYTES : Integer.BYTES)];
            for (int i = 0; i < out.length; i++) {
                out[i] = int64 ? b.getLong() : b.getInt();
            }
            return out;
        }
        if (int64) {
            return t.getInt64DataList().stream().mapToLong(Long::longValue).toArray();
        }
        return t.getInt32DataList().stream().mapToLong(Integer::longValue).toArray();
    }

    private static void checkInline(OnnxMl.TensorProto t) {
        if (t.getDataLocation() == OnnxMl.TensorProto.DataLocation.EXTERNAL) {
            throw new IllegalArgumentException(
                    "tensor '"
                            + t.getName()
                            + "' keeps its data in an external file; only models with inline"
                            + " weights are supported");
        }
    }
}
