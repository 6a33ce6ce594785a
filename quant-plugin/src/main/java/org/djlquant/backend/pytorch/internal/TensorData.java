package org.djlquant.backend.pytorch.internal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A dense, contiguous CPU tensor to be written into a TorchScript archive: element type, shape and
 * the raw little-endian bytes of its storage.
 *
 * <p>Immutable: the factories copy their input and {@link #data()} returns a copy.
 */
public final class TensorData {

    /** Element types, with the storage class name that libtorch's unpickler maps to each. */
    public enum DType {
        /** 32-bit float. */
        FLOAT32("FloatStorage", 4),
        /** 64-bit float. */
        FLOAT64("DoubleStorage", 8),
        /** 64-bit signed integer. */
        INT64("LongStorage", 8),
        /** 32-bit signed integer. */
        INT32("IntStorage", 4),
        /** 8-bit signed integer. */
        INT8("CharStorage", 1),
        /** 8-bit unsigned integer. */
        UINT8("ByteStorage", 1);

        private final String storageName;
        private final int bytes;

        DType(String storageName, int bytes) {
            this.storageName = storageName;
            this.bytes = bytes;
        }

        /**
         * Returns the name of the {@code torch.<Name>Storage} global for this type.
         *
         * @return the storage class name
         */
        public String storageName() {
            return storageName;
        }

        /**
         * Returns the size of one element.
         *
         * @return bytes per element
         */
        public int bytes() {
            return bytes;
        }
    }

    private final DType dtype;
    private final long[] shape;
    private final byte[] data;

    private TensorData(DType dtype, long[] shape, byte[] data) {
        long numel = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(
                        "shape was " + Arrays.toString(shape) + ", dimensions must be >= 0");
            }
            numel *= d;
        }
        if (numel * dtype.bytes() != data.length) {
            throw new IllegalArgumentException(
                    "shape "
                            + Arrays.toString(shape)
                            + " needs "
                            + numel
                            + " elements, "
                            + data.length / dtype.bytes()
                            + " were given");
        }
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
    }

    /**
     * Creates a float32 tensor.
     *
     * @param values the elements in row-major order
     * @param shape the shape
     * @return the tensor
     */
    public static TensorData ofFloats(float[] values, long... shape) {
        ByteBuffer b = buffer(values.length * 4);
        b.asFloatBuffer().put(values);
        return new TensorData(DType.FLOAT32, shape, b.array());
    }

    /**
     * Creates a float64 tensor.
     *
     * @param values the elements in row-major order
     * @param shape the shape
     * @return the tensor
     */
    public static TensorData ofDoubles(double[] values, long... shape) {
        ByteBuffer b = buffer(values.length * 8);
        b.asDoubleBuffer().put(values);
        return new TensorData(DType.FLOAT64, shape, b.array());
    }

    /**
     * Creates an int64 tensor.
     *
     * @param values the elements in row-major order
     * @param shape the shape
     * @return the tensor
     */
    public static TensorData ofLongs(long[] values, long... shape) {
        ByteBuffer b = buffer(values.length * 8);
        b.asLongBuffer().put(values);
        return new TensorData(DType.INT64, shape, b.array());
    }

    /**
     * Creates an int8 tensor.
     *
     * @param values the elements in row-major order
     * @param shape the shape
     * @return the tensor
     */
    public static TensorData ofInt8(byte[] values, long... shape) {
        return new TensorData(DType.INT8, shape, values.clone());
    }

    /**
     * Creates a uint8 tensor.
     *
     * @param values the elements in row-major order, read as unsigned bytes
     * @param shape the shape
     * @return the tensor
     */
    public static TensorData ofUint8(byte[] values, long... shape) {
        return new TensorData(DType.UINT8, shape, values.clone());
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Returns the element type.
     *
     * @return the type
     */
    public DType dtype() {
        return dtype;
    }

    /**
     * Returns the shape.
     *
     * @return a copy of the shape
     */
    public long[] shape() {
        return shape.clone();
    }

    /**
     * Returns the number of elements.
     *
     * @return the product of the shape
     */
    public long numel() {
        return data.length / dtype.bytes();
    }

    /**
     * Returns the row-major strides of a contiguous tensor of this shape.
     *
     * @return strides in elements
     */
    public long[] contiguousStrides() {
        long[] strides = new long[shape.length];
        long stride = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= Math.max(shape[i], 1);
        }
        return strides;
    }

    /**
     * Returns the storage bytes, little-endian.
     *
     * @return a copy of the bytes
     */
    public byte[] data() {
        return data.clone();
    }
}
