package org.djlquant.io.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.initializer.Initializer;

/**
 * Initializer that hands a parameter the weights read from the ONNX file, once; it forgets the Java
 * copy afterwards so the weights are not held twice.
 */
final class ArrayInitializer implements Initializer {

    private final String name;
    private final Shape shape;
    private float[] data;

    ArrayInitializer(String name, Shape shape, float[] data) {
        if (shape.size() != data.length) {
            throw new IllegalArgumentException(
                    name
                            + " has "
                            + data.length
                            + " values, shape "
                            + shape
                            + " needs "
                            + shape.size());
        }
        this.name = name;
        this.shape = shape;
        this.data = data;
    }

    /** {@inheritDoc} */
    @Override
    public synchronized NDArray initialize(NDManager manager, Shape shape, DataType dataType) {
        if (!this.shape.equals(shape)) {
            throw new IllegalStateException(
                    "parameter "
                            + name
                            + " asks for shape "
                            + shape
                            + ", the ONNX weight is "
                            + this.shape);
        }
        if (data == null) {
            throw new IllegalStateException(
                    "weights of " + name + " were already used; import the model again");
        }
        NDArray array = manager.create(data, shape).toType(dataType, false);
        data = null;
        return array;
    }
}
