package org.djlquant.benchmarks;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Builds the FP32 FFN {@code relu(x W1^T + b1) W2^T + b2} as an ONNX graph (MatMul, Add, Relu). */
final class OnnxFfn {

    private OnnxFfn() {}

    /**
     * Builds the graph with input {@code x} {@code [batch, seq, in]} and output {@code y}.
     *
     * @param w1 {@code [hidden, in]} row-major
     * @param b1 {@code [hidden]}
     * @param w2 {@code [in, hidden]} row-major
     * @param b2 {@code [in]}
     * @return the model
     */
    static OnnxMl.ModelProto graph(float[] w1, float[] b1, float[] w2, float[] b2) {
        int hidden = b1.length;
        int in = b2.length;
        OnnxMl.GraphProto graph =
                OnnxMl.GraphProto.newBuilder()
                        .setName("ffn")
                        .addInitializer(tensor("w1t", transpose(w1, hidden, in), in, hidden))
                        .addInitializer(tensor("b1", b1, hidden))
                        .addInitializer(tensor("w2t", transpose(w2, in, hidden), hidden, in))
                        .addInitializer(tensor("b2", b2, in))
                        .addNode(node("MatMul", "x", "w1t", "h0"))
                        .addNode(node("Add", "h0", "b1", "h1"))
                        .addNode(
                                OnnxMl.NodeProto.newBuilder()
                                        .setOpType("Relu")
                                        .addInput("h1")
                                        .addOutput("h2"))
                        .addNode(node("MatMul", "h2", "w2t", "y0"))
                        .addNode(node("Add", "y0", "b2", "y"))
                        .addInput(value("x", -1, -1, in))
                        .addOutput(value("y", -1, -1, in))
                        .build();
        return OnnxMl.ModelProto.newBuilder()
                .setIrVersion(7)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
                .setGraph(graph)
                .build();
    }

    private static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }

    private static OnnxMl.NodeProto node(String op, String a, String b, String out) {
        return OnnxMl.NodeProto.newBuilder()
                .setOpType(op)
                .addInput(a)
                .addInput(b)
                .addOutput(out)
                .build();
    }

    private static OnnxMl.TensorProto tensor(String name, float[] values, long... dims) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        OnnxMl.TensorProto.Builder t =
                OnnxMl.TensorProto.newBuilder()
                        .setName(name)
                        .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                        .setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    private static OnnxMl.ValueInfoProto value(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) {
            OnnxMl.TensorShapeProto.Dimension.Builder dim =
                    OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d < 0) {
                dim.setDimParam("d" + shape.getDimCount());
            } else {
                dim.setDimValue(d);
            }
            shape.addDim(dim);
        }
        return OnnxMl.ValueInfoProto.newBuilder()
                .setName(name)
                .setType(
                        OnnxMl.TypeProto.newBuilder()
                                .setTensorType(
                                        OnnxMl.TypeProto.Tensor.newBuilder()
                                                .setElemType(
                                                        OnnxMl.TensorProto.DataType.FLOAT
                                                                .getNumber())
                                                .setShape(shape)))
                .build();
    }
}
