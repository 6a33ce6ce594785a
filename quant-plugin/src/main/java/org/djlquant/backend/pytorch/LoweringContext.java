package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.QuantizedBertSelfAttention;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.transformer.BertSelfAttention;

/**
 * Where a {@link BlockLowering} writes: statements of the exported model's {@code forward}, tensor
 * attributes of the exported module, and the lowerings of the block's children. One context per
 * block being lowered; it knows the block's path.
 *
 * <p>Not thread-safe; used by one export.
 */
public final class LoweringContext {

    private final TorchScriptExporter.Session session;
    private final Block block;
    private final String path;

    LoweringContext(TorchScriptExporter.Session session, Block block, String path) {
        this.session = session;
        this.block = block;
        this.path = path;
    }

    /**
     * Returns the path of the block being lowered (clean form, {@code encoder.03.attention}).
     *
     * @return the path, empty for the root
     */
    public String path() {
        return path;
    }

    /**
     * Returns the quantized engine the export targets.
     *
     * @return the engine
     */
    public QEngine engine() {
        return session.engine;
    }

    /**
     * Writes {@code v = expression} into {@code forward} with a fresh local variable.
     *
     * @param expression a TorchScript expression
     * @return the variable name
     */
    public String let(String expression) {
        String name = "v" + session.vars++;
        session.body.append("    ").append(name).append(" = ").append(expression).append('\n');
        return name;
    }

    /**
     * Adds a tensor attribute holding a copy of {@code array} (float32, float64, int64, int32 or
     * int8).
     *
     * @param array the values
     * @return the expression that reads it, {@code self.tN}
     */
    public String tensor(NDArray array) {
        long[] shape = array.getShape().getShape();
        TensorData data;
        DataType type = array.getDataType();
        if (type == DataType.FLOAT32) {
            data = TensorData.ofFloats(array.toFloatArray(), shape);
        } else if (type == DataType.FLOAT64) {
            data = TensorData.ofDoubles(array.toDoubleArray(), shape);
        } else if (type == DataType.INT64) {
            data = TensorData.ofLongs(array.toLongArray(), shape);
        } else if (type == DataType.INT8) {
            data = TensorData.ofInt8(array.toByteArray(), shape);
        } else {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "a tensor of type "
                            + type
                            + " cannot be stored; allowed: FLOAT32, FLOAT64, INT64, INT8");
        }
        return session.attribute("Tensor", data);
    }

    /**
     * Adds a tensor attribute holding a copy of a parameter's array.
     *
     * @param parameter an initialized parameter
     * @return the expression that reads it
     */
    public String parameter(Parameter parameter) {
        if (parameter == null || !parameter.isInitialized()) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "parameter "
                            + (parameter == null ? "null" : parameter.getName())
                            + " is not initialized; initialize or load the model first");
        }
        return tensor(parameter.getArray());
    }

    /**
     * Returns a float expression for a value: dequantizes a quantized one.
     *
     * @param value the value
     * @return a TorchScript expression of a float tensor
     */
    public String asFloat(TsValue value) {
        return value.quantized()
                ? let("torch.dequantize(" + value.expression() + ")")
                : value.expression();
    }

    /**
     * Lowers a child of the block being lowered.
     *
     * @param child one of the block's children
     * @param inputs the values the child's {@code forward} receives
     * @return the values it returns
     * @throws UnsupportedExportException if the child or one of its descendants cannot be lowered
     */
    public List<TsValue> lowerChild(Block child, List<TsValue> inputs) {
        String segment = childSegments().get(child);
        if (segment == null) {
            throw new IllegalArgumentException(
                    "block '" + path + "': the block given is not one of its children");
        }
        return session.lower(child, path.isEmpty() ? segment : path + "." + segment, inputs);
    }

    /**
     * Writes a number as a TorchScript float literal (exact for every float).
     *
     * @param value a finite value
     * @return the literal
     */
    public static String literal(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("literal was " + value + ", must be finite");
        }
        return Double.toString(value);
    }

    /** Clean path segments of the children, as the preparer names them. */
    Map<Block, String> childSegments() {
        Map<String, String> seg = new LinkedHashMap<>();
        Map<String, Integer> counts = new HashMap<>();
        List<Pair<String, Block>> children = new ArrayList<>();
        for (Pair<String, Block> c : block.getChildren()) {
            children.add(c);
            String key = c.getKey();
            int i = 0;
            while (i < key.length() && Character.isDigit(key.charAt(i))) {
                i++;
            }
            String digits = key.substring(0, i);
            String name = key.substring(i);
            Block b = c.getValue();
            Class<?> k = originalClass(b);
            String s = name.isEmpty() || name.equals(k.getSimpleName()) ? digits : name;
            if (s.isEmpty()) {
                s = key;
            }
            seg.put(key, s);
            counts.merge(s, 1, Integer::sum);
        }
        seg.replaceAll((key, s) -> counts.get(s) > 1 ? key : s);
        Map<Block, String> out = new java.util.IdentityHashMap<>();
        for (Pair<String, Block> c : children) {
            out.put(c.getValue(), seg.get(c.getKey()));
        }
        return out;
    }

    /** The class a block had before prepare or convert replaced it (it names the path). */
    private static Class<?> originalClass(Block b) {
        if (b instanceof QuantTwin t) {
            return t.original().getClass();
        }
        if (b instanceof QuantizedLinear) {
            return Linear.class;
        }
        if (b instanceof QuantizedBertSelfAttention) {
            return BertSelfAttention.class;
        }
        return b.getClass();
    }

    TorchScriptExporter.Session session() {
        return session;
    }

    Block block() {
        return block;
    }
}
