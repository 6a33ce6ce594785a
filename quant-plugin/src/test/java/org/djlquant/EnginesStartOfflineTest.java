package org.djlquant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import ai.onnx.proto.OnnxMl;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both DJL engines start from Maven Central's native jars with no network and compute a matmul. */
class EnginesStartOfflineTest {

    private static final float[] A = {1, 2, 3, 4, 5, 6}; // 2x3
    private static final float[] B = {7, 8, 9, 10, 11, 12}; // 3x2
    // hand-computed: [1*7+2*9+3*11, 1*8+2*10+3*12; 4*7+5*9+6*11, 4*8+5*10+6*12]
    private static final float[] AB = {58, 64, 139, 154};

    @Test
    void runsOffline() {
        assertEquals("true", System.getProperty("ai.djl.offline"));
    }

    @Test
    void pytorchEngineStartsOfflineAndMultipliesMatrices() {
        Engine engine = Engine.getEngine("PyTorch");
        assertEquals("2.7.1", engine.getVersion());
        try (NDManager manager = engine.newBaseManager()) {
            NDArray a = manager.create(A, new Shape(2, 3));
            NDArray b = manager.create(B, new Shape(3, 2));
            assertArrayEquals(AB, a.matMul(b).toFloatArray());
        }
    }

    @Test
    void onnxRuntimeEngineStartsOfflineAndRunsAMatMulGraph(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("matmul.onnx");
        Files.write(file, matMulGraph().toByteArray());
        Engine engine = Engine.getEngine("OnnxRuntime");
        try (Model model = Model.newInstance("matmul", "OnnxRuntime")) {
            model.load(file);
            try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
                    NDManager manager = engine.newBaseManager()) {
                NDList out =
                        predictor.predict(
                                new NDList(
                                        manager.create(A, new Shape(2, 3)),
                                        manager.create(B, new Shape(3, 2))));
                assertArrayEquals(AB, out.singletonOrThrow().toFloatArray());
            }
        }
    }

    private static OnnxMl.ModelProto matMulGraph() {
        OnnxMl.GraphProto graph =
                OnnxMl.GraphProto.newBuilder()
                        .setName("matmul")
                        .addNode(
                                OnnxMl.NodeProto.newBuilder()
                                        .setOpType("MatMul")
                                        .addInput("a")
                                        .addInput("b")
                                        .addOutput("c"))
                        .addInput(floatInput("a", 2, 3))
                        .addInput(floatInput("b", 3, 2))
                        .addOutput(floatInput("c", 2, 2))
                        .build();
        return OnnxMl.ModelProto.newBuilder()
                .setIrVersion(7)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
                .setGraph(graph)
                .build();
    }

    private static OnnxMl.ValueInfoProto floatInput(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
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
