package org.djlquant.policy.apply;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.io.DataOutputStream;
import java.lang.reflect.Field;
import java.util.Objects;
import org.djlquant.backend.pytorch.HalfPrecisionOps;
import org.djlquant.nn.StandIn;

/**
 * A {@code Linear} layer that really runs in half precision on the engine: its weight and bias are
 * stored as FLOAT16 or BFLOAT16 arrays, each forward casts the input to that type, calls the
 * engine's {@code linear} in that type and casts the result back to FP32, so the rest of the model
 * keeps running in FP32. It is a {@code Linear}, so it fits wherever the parent declares a {@code
 * Linear} field, and can be swapped in with {@link org.djlquant.nn.BlockSwap}.
 *
 * <p>The half-precision weight and bias live inside libtorch ({@link HalfPrecisionOps.Layer}): DJL
 * 0.36.0 cannot hold a BFLOAT16 NDArray (its {@code toType(BFLOAT16)} aborts the JVM). It holds no
 * {@link Parameter}s: it is for inference (no gradient), and saving its parameters throws (save the
 * FP32 model before applying a policy). {@link #close()} frees the half-precision tensors and is
 * idempotent. Thread-safe for concurrent forwards once built (the tensors are only read).
 */
public final class HalfPrecisionLinear extends Linear implements StandIn, AutoCloseable {

    private final Linear original;
    private final String path;
    private final DataType dataType;
    private final HalfPrecisionOps.Layer layer;

    private HalfPrecisionLinear(Linear original, String path, DataType dataType) {
        super(new Units(original));
        this.original = original;
        this.path = path;
        this.dataType = dataType;
        Parameter w = (Parameter) read(original, "weight");
        Parameter b = (Parameter) read(original, "bias");
        if (w == null || !w.isInitialized()) {
            throw new IllegalStateException(
                    "layer "
                            + path
                            + ": its weight is not initialized; initialize the model first");
        }
        this.layer =
                HalfPrecisionOps.Layer.of(
                        w.getArray(),
                        b == null ? null : b.getArray(),
                        dataType == DataType.BFLOAT16
                                ? HalfPrecisionOps.BFLOAT16
                                : HalfPrecisionOps.FLOAT16);
        parameters.clear();
    }

    /**
     * Makes the half-precision copy of a linear layer (the original is not changed).
     *
     * @param original an initialized linear layer
     * @param path its block path, for messages
     * @param dataType {@link DataType#FLOAT16} or {@link DataType#BFLOAT16}
     * @return the layer; close it (or the model's manager) to free its arrays
     * @throws IllegalArgumentException naming the layer if the data type is not a half type
     * @throws IllegalStateException naming the layer if the original is not initialized
     */
    public static HalfPrecisionLinear of(Linear original, String path, DataType dataType) {
        Objects.requireNonNull(original, "original");
        Objects.requireNonNull(path, "path");
        if (dataType != DataType.FLOAT16 && dataType != DataType.BFLOAT16) {
            throw new IllegalArgumentException(
                    "layer "
                            + path
                            + ": data type was "
                            + dataType
                            + ", must be one of [FLOAT16, BFLOAT16]");
        }
        return new HalfPrecisionLinear(original, path, dataType);
    }

    /**
     * Returns the FP32 layer this one was made from.
     *
     * @return the original layer
     */
    @Override
    public Linear original() {
        return original;
    }

    /**
     * Returns the block path given at creation.
     *
     * @return the path
     */
    public String path() {
        return path;
    }

    /**
     * Returns the data type the layer computes and stores weights in.
     *
     * @return FLOAT16 or BFLOAT16
     */
    public DataType dataType() {
        return dataType;
    }

    /**
     * Returns the bytes of the stored weight and bias.
     *
     * @return 2 bytes per stored element
     */
    public long bytes() {
        return layer.bytes();
    }

    /** {@inheritDoc} */
    @Override
    protected NDList forwardInternal(
            ParameterStore parameterStore,
            NDList inputs,
            boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        if (x.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException(
                    "layer " + path + ": input type was " + x.getDataType() + ", must be FLOAT32");
        }
        try {
            return new NDList(layer.forward(x));
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new IllegalArgumentException("layer " + path + ": " + e.getMessage(), e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public boolean isInitialized() {
        return true;
    }

    /**
     * Refuses: a half-precision layer has no FP32 parameters to save.
     *
     * @param os ignored
     * @throws UnsupportedOperationException always, naming the layer
     */
    @Override
    public void saveParameters(DataOutputStream os) {
        throw new UnsupportedOperationException(
                "layer "
                        + path
                        + " runs in "
                        + dataType
                        + " and holds no FP32 parameters; save the model before applying a"
                        + " policy, or restore it first");
    }

    /** Frees the half-precision arrays; later forwards throw. Closing twice is harmless. */
    @Override
    public void close() {
        layer.close();
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "HalfPrecisionLinear(" + dataType + ", " + path + ")";
    }

    static Object read(Block target, String name) {
        try {
            Field f = Linear.class.getDeclaredField(name);
            f.setAccessible(true);
            return f.get(target);
        } catch (NoSuchFieldException | IllegalAccessException e) {
            throw new IllegalStateException(
                    "DJL Linear has no readable field '"
                            + name
                            + "'; this djl-quant build supports DJL 0.36.0",
                    e);
        }
    }

    /** Gives access to Linear's protected builder. */
    private static final class Units extends Linear.Builder {
        Units(Linear original) {
            setUnits((Long) read(original, "units"));
            optBias(read(original, "bias") != null);
        }
    }
}
