package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.OpLibrary;

/**
 * A {@code quint8} per-tensor quantized activation that lives in libtorch, between static INT8
 * layers: {@code q = clamp(rint(x / scale) + zeroPoint, 0, 255)}.
 *
 * <p>DJL cannot represent quantized tensors as {@code NDArray}s (their data type reads as {@code
 * UNKNOWN}), so this class holds the tensor as a native {@code IValue} and keeps its shape and
 * quantization parameters in Java. Chaining {@link PackedLinear#forward(QuantizedActivation)} calls
 * keeps activations in INT8 between layers, saving a dequantize and a quantize per layer.
 *
 * <p>Lifecycle: {@link #close()} frees the tensor and is idempotent. Thread-safety: immutable; do
 * not close while another thread uses it.
 */
public final class QuantizedActivation implements AutoCloseable {

    private final IValue tensor;
    private final OpLibrary ops;
    private final Shape shape;
    private final double scale;
    private final long zeroPoint;
    private final AtomicBoolean closed = new AtomicBoolean();

    QuantizedActivation(IValue tensor, OpLibrary ops, Shape shape, double scale, long zeroPoint) {
        this.tensor = tensor;
        this.ops = ops;
        this.shape = shape;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /**
     * Quantizes a float array.
     *
     * @param x a float32 array of DJL's PyTorch engine; not modified and not closed
     * @param scale the scale, finite and {@code > 0}
     * @param zeroPoint the zero point in {@code [0, 255]}
     * @return the quantized activation; the caller closes it
     * @throws IllegalArgumentException if {@code x} is not a PyTorch float32 array or a parameter
     *     is out of range
     * @throws QuantizationException if the op library cannot be loaded
     */
    public static QuantizedActivation quantize(NDArray x, float scale, long zeroPoint)
            throws QuantizationException {
        PtNDArray px = PackedLinear.checkFloat("x", x);
        PackedLinear.checkScale("scale", scale);
        PackedLinear.checkZeroPoint("zeroPoint", zeroPoint, 0, 255);
        OpLibrary ops = OpLibrary.get();
        try (IValue xv = IValue.from(px);
                IValue sv = IValue.from((double) scale);
                IValue zv = IValue.from(zeroPoint)) {
            IValue q = ops.run("quantize", xv, sv, zv);
            return new QuantizedActivation(q, ops, x.getShape(), scale, zeroPoint);
        }
    }

    /**
     * Returns {@code (q - zeroPoint) * scale} as a float array.
     *
     * @param manager a manager of DJL's PyTorch engine
     * @return a new float32 array of this shape, attached to {@code manager}: the caller closes it
     *     (or that manager)
     * @throws IllegalArgumentException if {@code manager} is not of the PyTorch engine
     * @throws IllegalStateException if this activation is closed
     */
    public NDArray dequantize(NDManager manager) {
        if (!(manager instanceof PtNDManager)) {
            throw new IllegalArgumentException(
                    "manager was of engine "
                            + (manager == null ? "null" : manager.getEngine().getEngineName())
                            + ", must be of engine PyTorch");
        }
        try (IValue y = ops.run("dequantize", handle())) {
            return y.toTensor((PtNDManager) manager);
        }
    }

    /**
     * Returns the shape.
     *
     * @return the shape
     */
    public Shape getShape() {
        return shape;
    }

    /**
     * Returns the scale.
     *
     * @return the scale
     */
    public double getScale() {
        return scale;
    }

    /**
     * Returns the zero point.
     *
     * @return the zero point in {@code [0, 255]}
     */
    public long getZeroPoint() {
        return zeroPoint;
    }

    /**
     * Returns the data type of the values, {@link DataType#UINT8} semantics ({@code quint8}).
     *
     * @return {@link DataType#UINT8}
     */
    public DataType getDataType() {
        return DataType.UINT8;
    }

    IValue handle() {
        if (closed.get()) {
            throw new IllegalStateException("QuantizedActivation is closed");
        }
        return tensor;
    }

    /** Frees the tensor. Idempotent: later calls do nothing. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            tensor.close();
        }
    }
}
