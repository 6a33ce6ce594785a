package org.djlquant.io.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.translate.NoopTranslator;
import ai.onnx.proto.OnnxMl;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Small graphs written in the test: tiny BERTs checked against ONNX Runtime, and refusals. */
class OnnxImporterTest {

    private static final int BATCH = 3;
    private static final int TOKENS = 7;
    private static final int[] LENGTHS = {7, 4, 1};

    @Test
    void exporterStyleTinyBertMatchesOnnxRuntime(@TempDir Path dir) throws Exception {
        assertMatchesOnnxRuntime(TinyBertGraph.exporterStyle(), dir, 1);
    }

    @Test
    void fusedLayerNormTwoLayerTinyBertWithFloatDataWeightsMatchesOnnxRuntime(@TempDir Path dir)
            throws Exception {
        assertMatchesOnnxRuntime(TinyBertGraph.fusedStyle(), dir, 2);
    }

    private static void assertMatchesOnnxRuntime(OnnxMl.ModelProto proto, Path dir, int layers)
            throws Exception {
        Files.write(dir.resolve("tiny.onnx"), proto.toByteArray());
        ImportedModel imported = OnnxImporter.importModel(dir.resolve("tiny.onnx"));
        assertEquals(
                new BertConfig(
                        TinyBertGraph.VOCAB,
                        TinyBertGraph.HIDDEN,
                        layers,
                        TinyBertGraph.HEADS,
                        TinyBertGraph.INTERMEDIATE,
                        TinyBertGraph.POSITIONS,
                        2,
                        1e-12f,
                        TinyBertGraph.expectedMaskValue(proto)),
                imported.getConfig());
        long[][] inputs = inputs();
        float[] expected;
        try (Model ort = Model.newInstance("tiny-ort", "OnnxRuntime")) {
            ort.load(dir, "tiny");
            expected = run(ort, inputs);
        }
        float[] actual;
        try (Model djl = imported.newModel("tiny-djl", "PyTorch")) {
            actual = run(djl, inputs);
        }
        assertEquals(expected.length, actual.length);
        int hidden = TinyBertGraph.HIDDEN;
        for (int b = 0; b < BATCH; b++) {
            for (int t = 0; t < LENGTHS[b]; t++) {
                for (int h = 0; h < hidden; h++) {
                    int i = (b * TOKENS + t) * hidden + h;
                    assertEquals(expected[i], actual[i], 1e-4, "row " + b + " token " + t);
                }
            }
        }
    }

    @Test
    void everyProjectionIsADjlLinearReachableByPath() throws Exception {
        ImportedModel imported = importBytes(TinyBertGraph.fusedStyle().toByteArray());
        Map<String, Block> paths = ImportedModel.blockPaths(imported.getBlock());
        assertInstanceOf(BertModelBlock.class, paths.get(""));
        assertInstanceOf(LayerNorm.class, paths.get("embeddings.norm"));
        for (String layer : List.of("encoder.01", "encoder.02")) {
            assertInstanceOf(BertSelfAttention.class, paths.get(layer + ".attention"));
            for (String linear :
                    List.of(
                            "attention.query",
                            "attention.key",
                            "attention.value",
                            "attention.output",
                            "intermediate",
                            "output")) {
                assertInstanceOf(Linear.class, paths.get(layer + "." + linear), linear);
            }
            assertInstanceOf(LayerNorm.class, paths.get(layer + ".attentionNorm"));
            assertInstanceOf(LayerNorm.class, paths.get(layer + ".outputNorm"));
        }
        long linears = paths.values().stream().filter(b -> b instanceof Linear).count();
        assertEquals(12, linears);
        assertTrue(
                imported.treeString().contains("encoder.02.attention.query  Linear"),
                imported.treeString());
        assertEquals(
                List.of("input_ids", "attention_mask", "token_type_ids"), imported.getInputNames());
        assertEquals(17, imported.getOpsetVersion());
    }

    @Test
    void savedParametersLoadIntoAFreshBlockAndGiveIdenticalOutputs(@TempDir Path dir)
            throws Exception {
        ImportedModel imported = importBytes(TinyBertGraph.exporterStyle().toByteArray());
        long[][] inputs = inputs();
        float[] before;
        try (Model model = imported.newModel("tiny", "PyTorch")) {
            before = run(model, inputs);
            model.save(dir, "tiny");
        }
        try (Model model = Model.newInstance("tiny", "PyTorch")) {
            model.setBlock(new BertModelBlock(imported.getConfig()));
            model.load(dir, "tiny");
            assertArrayEquals(before, run(model, inputs));
        }
    }

    @Test
    void importedWeightsInitialiseOnlyOneModel() throws Exception {
        ImportedModel imported = importBytes(TinyBertGraph.exporterStyle().toByteArray());
        try (Model model = imported.newModel("tiny", "PyTorch")) {
            assertEquals(imported.getBlock(), model.getBlock());
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () -> imported.newModel("again", "PyTorch"));
            assertTrue(e.getMessage().contains("already"), e.getMessage());
        }
    }

    @Test
    void unknownEngineIsRefusedListingTheAvailableOnes() throws Exception {
        ImportedModel imported = importBytes(TinyBertGraph.exporterStyle().toByteArray());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> imported.newModel("x", "TensorRT"));
        assertTrue(
                e.getMessage().contains("TensorRT") && e.getMessage().contains("PyTorch"),
                e.getMessage());
    }

    @Test
    void truncatedFileIsRefusedAsCorrupt(@TempDir Path dir) throws Exception {
        byte[] bytes = TinyBertGraph.exporterStyle().toByteArray();
        Path file = dir.resolve("truncated.onnx");
        Files.write(file, Arrays.copyOf(bytes, bytes.length / 2));
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> OnnxImporter.importModel(file));
        assertFalse(e instanceof UnsupportedGraphException);
        assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());
    }

    @Test
    void missingFileIsAnIoFailure(@TempDir Path dir) {
        QuantizationException e =
                assertThrows(
                        QuantizationException.class,
                        () -> OnnxImporter.importModel(dir.resolve("absent.onnx")));
        assertTrue(e.getMessage().contains("absent.onnx"), e.getMessage());
    }

    @Test
    void convolutionGraphIsRefusedListingItsUnmappedNodes() {
        OnnxMl.GraphProto.Builder g =
                OnnxMl.GraphProto.newBuilder()
                        .setName("cnn")
                        .addInput(
                                TinyBertGraph.valueInfo(
                                        "image", OnnxMl.TensorProto.DataType.FLOAT, 1, 1, 8, 8))
                        .addOutput(
                                TinyBertGraph.valueInfo(
                                        "out", OnnxMl.TensorProto.DataType.FLOAT, 1, 2, 6, 6))
                        .addInitializer(
                                OnnxMl.TensorProto.newBuilder()
                                        .setName("kernel")
                                        .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                                        .addAllDims(List.of(2L, 1L, 3L, 3L))
                                        .addAllFloatData(Collections.nCopies(18, 0.1f)))
                        .addNode(
                                OnnxMl.NodeProto.newBuilder()
                                        .setName("conv1")
                                        .setOpType("Conv")
                                        .addInput("image")
                                        .addInput("kernel")
                                        .addOutput("c"))
                        .addNode(
                                OnnxMl.NodeProto.newBuilder()
                                        .setName("relu1")
                                        .setOpType("Relu")
                                        .addInput("c")
                                        .addOutput("out"));
        byte[] bytes =
                OnnxMl.ModelProto.newBuilder()
                        .setIrVersion(8)
                        .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
                        .setGraph(g)
                        .build()
                        .toByteArray();
        UnsupportedGraphException e =
                assertThrows(UnsupportedGraphException.class, () -> importBytes(bytes));
        assertEquals(List.of("conv1 (Conv)", "relu1 (Relu)"), e.getUnmappedNodes());
        assertTrue(e.getMessage().contains("conv1 (Conv)"), e.getMessage());
        assertTrue(e.getMessage().contains("input_ids"), e.getMessage());
    }

    @Test
    void tanhApproximatedGeluIsRefusedListingTheTanhNodes() {
        UnsupportedGraphException e =
                assertThrows(
                        UnsupportedGraphException.class,
                        () -> importBytes(TinyBertGraph.withTanhGelu().toByteArray()));
        assertTrue(e.getMessage().contains("GELU"), e.getMessage());
        assertTrue(
                e.getUnmappedNodes().stream().anyMatch(n -> n.endsWith("(Tanh)")),
                e.getUnmappedNodes().toString());
    }

    @Test
    void graphWithoutTokenTypeInputIsRefusedNamingIt() {
        OnnxMl.ModelProto proto = TinyBertGraph.exporterStyle();
        OnnxMl.GraphProto.Builder g = proto.getGraph().toBuilder();
        g.removeInput(2);
        byte[] bytes = proto.toBuilder().setGraph(g).build().toByteArray();
        UnsupportedGraphException e =
                assertThrows(UnsupportedGraphException.class, () -> importBytes(bytes));
        assertTrue(e.getMessage().contains("'token_type_ids' is missing"), e.getMessage());
    }

    @Test
    void opsetBelowElevenIsRefused() {
        OnnxMl.ModelProto proto = TinyBertGraph.exporterStyle();
        byte[] bytes =
                proto.toBuilder()
                        .setOpsetImport(0, OnnxMl.OperatorSetIdProto.newBuilder().setVersion(9))
                        .build()
                        .toByteArray();
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> importBytes(bytes));
        assertTrue(e.getMessage().contains("opset 9"), e.getMessage());
    }

    private static ImportedModel importBytes(byte[] bytes) throws QuantizationException {
        return OnnxImporter.importModel(new ByteArrayInputStream(bytes));
    }

    /** ids, mask, token types for a [3, 7] batch whose rows have 7, 4 and 1 real tokens. */
    private static long[][] inputs() {
        Random random = new Random(3);
        long[] ids = new long[BATCH * TOKENS];
        long[] mask = new long[BATCH * TOKENS];
        long[] types = new long[BATCH * TOKENS];
        for (int b = 0; b < BATCH; b++) {
            for (int t = 0; t < TOKENS; t++) {
                int i = b * TOKENS + t;
                boolean real = t < LENGTHS[b];
                ids[i] = real ? 1 + random.nextInt(TinyBertGraph.VOCAB - 1) : 0;
                mask[i] = real ? 1 : 0;
                types[i] = real && t > 2 ? 1 : 0;
            }
        }
        return new long[][] {ids, mask, types};
    }

    private static float[] run(Model model, long[][] inputs) throws Exception {
        Shape shape = new Shape(BATCH, TOKENS);
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
                NDManager manager = model.getNDManager().newSubManager()) {
            NDList list = new NDList();
            String[] names = {"input_ids", "attention_mask", "token_type_ids"};
            for (int i = 0; i < 3; i++) {
                NDArray a = manager.create(inputs[i], shape);
                a.setName(names[i]);
                list.add(a);
            }
            return predictor.predict(list).get(0).toFloatArray();
        }
    }
}
