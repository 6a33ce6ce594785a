package org.djlquant.backend.onnx;

import ai.djl.nn.Block;
import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The graph under construction, handed to every {@link BlockLowering}: it creates nodes and
 * initializers with unique names, lowers child blocks through the registry and records what each
 * layer became.
 *
 * <p>Names: {@link #fresh(String)} returns a tensor name not used before in this graph, derived
 * from a hint (use the block path). Attributes are given as alternating name/value pairs; values
 * may be {@link Long}, {@link Integer}, {@link Float}, {@link String}, {@code long[]}, {@code
 * float[]} or an {@link OnnxMl.TensorProto}.
 *
 * <p>One context per export; not thread-safe.
 */
public final class LoweringContext {

    /** Domain of ONNX Runtime's contrib operators. */
    public static final String MICROSOFT_DOMAIN = "com.microsoft";

    private final LoweringRegistry registry;
    private final ExportOptions options;
    private final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> layers = new LinkedHashMap<>();
    private boolean usesMicrosoftDomain;

    LoweringContext(LoweringRegistry registry, ExportOptions options) {
        this.registry = registry;
        this.options = options;
    }

    /**
     * Returns the options of this export.
     *
     * @return the options
     */
    public ExportOptions options() {
        return options;
    }

    /**
     * Lowers a block through the registry (used by lowerings of container blocks for their
     * children).
     *
     * @param block the block
     * @param path its path in clean form ({@code encoder.01.attention})
     * @param inputs the names of its input tensors
     * @return the names of its output tensors
     * @throws UnsupportedExportException if no lowering is registered for the block's class
     */
    public List<String> lower(Block block, String path, List<String> inputs) {
        BlockLowering lowering = registry.find(block.getClass());
        if (lowering == null) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "no ONNX lowering is registered for this block class; register one with"
                            + " LoweringRegistry.register",
                    registry.registeredClasses());
        }
        return lowering.lower(this, block, path, inputs);
    }

    /**
     * Lowers a block that has exactly one input and one output.
     *
     * @param block the block
     * @param path its path
     * @param input the input tensor name
     * @return the output tensor name
     */
    public String lowerOne(Block block, String path, String input) {
        List<String> out = lower(block, path, List.of(input));
        if (out.size() != 1) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "lowering produced " + out.size() + " outputs where 1 is needed",
                    registry.registeredClasses());
        }
        return out.get(0);
    }

    /**
     * Records what a layer was lowered to (shown in the {@link ExportReport}).
     *
     * @param path the layer path
     * @param description e.g. {@code static INT8 QDQ, per-channel weights}
     */
    public void record(String path, String description) {
        layers.put(path, description);
    }

    Map<String, String> layers() {
        return layers;
    }

    /**
     * Returns a tensor name not used before in this graph.
     *
     * @param hint the preferred name (a block path plus a suffix)
     * @return {@code hint}, or {@code hint_2}, {@code hint_3}, … if taken
     */
    public String fresh(String hint) {
        String base = hint.isEmpty() ? "t" : hint;
        String name = base;
        for (int i = 2; !names.add(name); i++) {
            name = base + "_" + i;
        }
        return name;
    }

    /**
     * Adds a node of the default ONNX domain with one output.
     *
     * @param opType the operator, e.g. {@code MatMul}
     * @param hint the name hint of the output
     * @param inputs input tensor names ({@code ""} for an omitted optional input)
     * @param attributes alternating attribute names and values
     * @return the output tensor name
     */
    public String op(String opType, String hint, List<String> inputs, Object... attributes) {
        return node("", opType, hint, inputs, 1, attributes).get(0);
    }

    /**
     * Adds a node with any number of outputs.
     *
     * @param domain the operator domain ({@code ""} for ONNX, {@link #MICROSOFT_DOMAIN})
     * @param opType the operator
     * @param hint the name hint of the outputs
     * @param inputs input tensor names ({@code ""} for an omitted optional input)
     * @param outputs the number of outputs
     * @param attributes alternating attribute names and values
     * @return the output tensor names
     */
    public List<String> node(
            String domain,
            String opType,
            String hint,
            List<String> inputs,
            int outputs,
            Object... attributes) {
        if (attributes.length % 2 != 0) {
            throw new IllegalArgumentException(
                    "attributes had " + attributes.length + " entries, must be name/value pairs");
        }
        if (MICROSOFT_DOMAIN.equals(domain)) {
            usesMicrosoftDomain = true;
        }
        OnnxMl.NodeProto.Builder n =
                OnnxMl.NodeProto.newBuilder()
                        .setOpType(opType)
                        .setDomain(domain)
                        .setName(fresh(hint + "/" + opType));
        n.addAllInput(inputs);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < outputs; i++) {
            String o = fresh(hint + "/" + opType + (outputs > 1 ? "_" + i : "") + ":0");
            out.add(o);
            n.addOutput(o);
        }
        for (int i = 0; i < attributes.length; i += 2) {
            n.addAttribute(attribute((String) attributes[i], attributes[i + 1]));
        }
        graph.addNode(n);
        return out;
    }

    boolean usesMicrosoftDomain() {
        return usesMicrosoftDomain;
    }

    private static OnnxMl.AttributeProto attribute(String name, Object value) {
        OnnxMl.AttributeProto.Builder a = OnnxMl.AttributeProto.newBuilder().setName(name);
        if (value instanceof Long || value instanceof Integer) {
            a.setType(OnnxMl.AttributeProto.AttributeType.INT).setI(((Number) value).longValue());
        } else if (value instanceof Float f) {
            a.setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setF(f);
        } else if (value instanceof String s) {
            a.setType(OnnxMl.AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s));
        } else if (value instanceof long[] ls) {
            a.setType(OnnxMl.AttributeProto.AttributeType.INTS);
            for (long l : ls) {
                a.addInts(l);
            }
        } else if (value instanceof float[] fs) {
            a.setType(OnnxMl.AttributeProto.AttributeType.FLOATS);
            for (float f : fs) {
                a.addFloats(f);
            }
        } else if (value instanceof OnnxMl.TensorProto t) {
            a.setType(OnnxMl.AttributeProto.AttributeType.TENSOR).setT(t);
        } else {
            throw new IllegalArgumentException(
                    "attribute "
                            + name
                            + " had a value of "
                            + (value == null ? "null" : value.getClass().getName())
                            + ", allowed: Long, Integer, Float, String, long[], float[],"
                            + " TensorProto");
        }
        return a.build();
    }

    /**
     * Adds a float32 initializer.
     *
     * @param hint the name hint
     * @param data the values, row-major
     * @param dims the shape ({@code []} for a scalar)
     * @return the initializer name
     */
    public String floats(String hint, float[] data, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data);
        return initializer(hint, OnnxMl.TensorProto.DataType.FLOAT, b.array(), dims);
    }

    /**
     * Adds an int64 initializer.
     *
     * @param hint the name hint
     * @param data the values, row-major
     * @param dims the shape
     * @return the initializer name
     */
    public String longs(String hint, long[] data, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(data);
        return initializer(hint, OnnxMl.TensorProto.DataType.INT64, b.array(), dims);
    }

    /**
     * Adds an int32 initializer.
     *
     * @param hint the name hint
     * @param data the values, row-major
     * @param dims the shape
     * @return the initializer name
     */
    public String ints(String hint, int[] data, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(data);
        return initializer(hint, OnnxMl.TensorProto.DataType.INT32, b.array(), dims);
    }

    /**
     * Adds an 8-bit integer initializer.
     *
     * @param hint the name hint
     * @param data the values, row-major, as bytes (two's complement for INT8, unsigned for UINT8)
     * @param signed true for INT8, false for UINT8
     * @param dims the shape
     * @return the initializer name
     */
    public String bytes(String hint, byte[] data, boolean signed, long... dims) {
        return initializer(
                hint,
                signed ? OnnxMl.TensorProto.DataType.INT8 : OnnxMl.TensorProto.DataType.UINT8,
                data,
                dims);
    }

    private String initializer(
            String hint, OnnxMl.TensorProto.DataType type, byte[] raw, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        int width =
                type == OnnxMl.TensorProto.DataType.FLOAT
                                || type == OnnxMl.TensorProto.DataType.INT32
                        ? 4
                        : type == OnnxMl.TensorProto.DataType.INT64 ? 8 : 1;
        if (n * width != raw.length) {
            throw new IllegalArgumentException(
                    "initializer "
                            + hint
                            + " had "
                            + raw.length / width
                            + " values, shape "
                            + java.util.Arrays.toString(dims)
                            + " needs "
                            + n);
        }
        String name = fresh(hint);
        OnnxMl.TensorProto.Builder t =
                OnnxMl.TensorProto.newBuilder()
                        .setName(name)
                        .setDataType(type.getNumber())
                        .setRawData(ByteString.copyFrom(raw));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        return name;
    }

    OnnxMl.GraphProto.Builder graph() {
        return graph;
    }
}
