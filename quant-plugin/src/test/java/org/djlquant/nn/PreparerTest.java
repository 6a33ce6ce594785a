package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.nn.transformer.TransformerEncoderBlock;
import ai.djl.training.ParameterStore;
import ai.djl.translate.NoopTranslator;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreparerTest {

    static QConfig staticMinMax() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                .build();
    }

    static SequentialBlock mlp() {
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(16).build());
        net.add(Activation::relu);
        SequentialBlock inner = new SequentialBlock();
        inner.add(Linear.builder().setUnits(8).build());
        net.add(inner);
        net.add(
                new ParallelBlock(
                        list -> new NDList(list.get(0).head().add(list.get(1).head())),
                        List.of(
                                Linear.builder().setUnits(4).build(),
                                Linear.builder().setUnits(4).optBias(false).build())));
        return net;
    }

    static NDArray run(Block block, NDManager m, NDArray x) {
        return block.forward(new ParameterStore(m, false), new NDList(x), false).head();
    }

    @Test
    void preparedWithObserversAndFakeQuantOffEqualsOriginalExactly() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = mlp();
            net.initialize(m, DataType.FLOAT32, new Shape(3, 10));
            NDArray x = m.randomNormal(new Shape(3, 10));
            float[] before = run(net, m, x).toFloatArray();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            assertEquals(4, report.twins().size(), report.toTable());
            Twins.setObserving(net, false);
            Twins.setFakeQuant(net, false);
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
            // observing does not change values either
            Twins.setObserving(net, true);
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
            // fake quantization does
            Twins.setFakeQuant(net, true);
            float[] fq = run(net, m, x).toFloatArray();
            assertTrue(maxAbsDiff(before, fq) > 0);
            assertTrue(maxAbsDiff(before, fq) < 0.2, "fake-quant error " + maxAbsDiff(before, fq));
        }
    }

    @Test
    void twinsShareTheOriginalParameterObjects() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = mlp();
            net.initialize(m, DataType.FLOAT32, new Shape(3, 10));
            List<Parameter> before = net.getParameters().values();
            List<String> names = net.getParameters().keys();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            List<Parameter> after = net.getParameters().values();
            assertEquals(names, net.getParameters().keys());
            assertEquals(before.size(), after.size());
            for (int i = 0; i < before.size(); i++) {
                assertSame(before.get(i), after.get(i));
            }
            QuantTwin first = report.twin("01");
            assertInstanceOf(ObservedLinear.class, first);
            assertSame(
                    first.original().getDirectParameters().get("weight"),
                    first.getDirectParameters().get("weight"));
        }
    }

    @Test
    void parameterFilesRoundTripBetweenPreparedAndUnpreparedModels(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                Model prepared = Model.newInstance("net", "PyTorch");
                Model plain = Model.newInstance("net", "PyTorch");
                Model prepared2 = Model.newInstance("net", "PyTorch")) {
            NDArray x = m.randomNormal(new Shape(3, 10));
            prepared.setBlock(mlp());
            prepared.getBlock()
                    .initialize(prepared.getNDManager(), DataType.FLOAT32, new Shape(3, 10));
            Preparer.prepare(prepared, QConfigMapping.global(staticMinMax()));
            Twins.setObserving(prepared.getBlock(), false);
            float[] expected = predict(prepared, x);
            prepared.save(dir.resolve("a"), "net");

            plain.setBlock(mlp());
            // DJL: a block loaded without initialize has no input names, so it cannot be saved
            plain.getBlock().initialize(plain.getNDManager(), DataType.FLOAT32, new Shape(3, 10));
            plain.load(dir.resolve("a"), "net");
            assertArrayEquals(expected, predict(plain, x), 0f);
            plain.save(dir.resolve("b"), "net");

            prepared2.setBlock(mlp());
            Preparer.prepare(prepared2, QConfigMapping.global(staticMinMax()));
            prepared2.load(dir.resolve("b"), "net");
            Twins.setObserving(prepared2.getBlock(), false);
            assertArrayEquals(expected, predict(prepared2, x), 0f);
        }
    }

    static float[] predict(Model model, NDArray x) throws Exception {
        try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator())) {
            return p.predict(new NDList(x)).head().toFloatArray();
        }
    }

    /** A user block that keeps its children in private fields and a list, as DJL's own do. */
    static final class UserBlock extends ai.djl.nn.AbstractBlock {
        private final Linear first;
        private final List<Block> rest;

        UserBlock() {
            first = addChildBlock("first", Linear.builder().setUnits(6).build());
            rest =
                    new java.util.ArrayList<>(
                            List.of(addChildBlock("second", Linear.builder().setUnits(3).build())));
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                ai.djl.util.PairList<String, Object> params) {
            NDList h = first.forward(ps, inputs, training);
            return rest.get(0).forward(ps, h, training);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {new Shape(inputShapes[0].get(0), 3)};
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType type, Shape... shapes) {
            first.initialize(manager, type, shapes);
            rest.get(0).initialize(manager, type, new Shape(shapes[0].get(0), 6));
        }
    }

    @Test
    void replacesChildrenHeldInPrivateFieldsAndLists() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock().add(new UserBlock());
            net.initialize(m, DataType.FLOAT32, new Shape(2, 5));
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            run(net, m, m.randomNormal(new Shape(2, 5)));
            QuantTwin first = report.twin("01UserBlock.01first");
            QuantTwin second = report.twin("01.second");
            assertTrue(first.control().observers().get(TwinControl.INPUT).hasData());
            assertTrue(second.control().observers().get(TwinControl.INPUT).hasData());
        }
    }

    @Test
    void lambdaBlocksAreReportedOpaqueNotSkipped() {
        SequentialBlock net = mlp();
        PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
        PrepareReport.Entry e = report.entry("02");
        assertEquals(PrepareReport.Status.OPAQUE, e.status());
        assertEquals("LambdaBlock", e.blockClass());
        com.google.gson.JsonObject json =
                com.google.gson.JsonParser.parseString(report.toJson()).getAsJsonObject();
        assertEquals(report.entries().size(), json.getAsJsonArray("entries").size());
        assertTrue(report.toTable().contains("OPAQUE"));
    }

    @Test
    void pathPatternThatMatchesNothingIsAWarning() {
        QConfigMapping mapping =
                QConfigMapping.builder()
                        .optGlobal(staticMinMax())
                        .optPathGlob("encoder.*.query", null)
                        .build();
        PrepareReport report = Preparer.prepare(mlp(), mapping);
        assertEquals(1, report.warnings().size());
        assertTrue(report.warnings().get(0).contains("encoder.*.query"), report.warnings().get(0));
    }

    @Test
    void nullConfigByPathKeepsLayerFloat() {
        QConfigMapping mapping =
                QConfigMapping.builder()
                        .optGlobal(staticMinMax())
                        .optPathGlob("03.*", null)
                        .optPathRegex("04SequentialBlock\\.0?1.*", null)
                        .build();
        SequentialBlock net = mlp();
        PrepareReport report = Preparer.prepare(net, mapping);
        assertEquals(PrepareReport.Status.FLOAT, report.entry("03.01").status());
        assertEquals(PrepareReport.Status.WRAPPED, report.entry("01").status());
        assertEquals(1, report.warnings().size(), report.warnings().toString());
    }

    @Test
    void configForAClassThatCannotBeWrappedIsAnError() {
        QConfigMapping mapping =
                QConfigMapping.builder().optClassConfig(BatchNorm.class, staticMinMax()).build();
        UnsupportedBlockException e =
                assertThrows(
                        UnsupportedBlockException.class, () -> Preparer.prepare(mlp(), mapping));
        assertTrue(e.getMessage().contains("BatchNorm"), e.getMessage());
        assertTrue(e.getMessage().contains("Linear"), e.getMessage());
    }

    @Test
    void pathRuleMatchingOnlyUnwrappableBlocksIsAnErrorNamingThePath() {
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(4).build());
        net.add(LayerNorm.builder().build());
        QConfigMapping mapping =
                QConfigMapping.builder().optPathGlob("02LayerNorm", staticMinMax()).build();
        UnsupportedBlockException e =
                assertThrows(UnsupportedBlockException.class, () -> Preparer.prepare(net, mapping));
        assertEquals("02LayerNorm", e.path());
        assertTrue(e.getMessage().contains("LayerNorm"), e.getMessage());
        // nothing was replaced
        assertInstanceOf(Linear.class, net.getChildren().get(0).getValue());
        assertTrue(!(net.getChildren().get(0).getValue() instanceof QuantTwin));
    }

    @Test
    void convolutionIsWrappedAndExactWhenSwitchedOff() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock();
            net.add(Conv2d.builder().setKernelShape(new Shape(3, 3)).setFilters(4).build());
            net.add(ai.djl.nn.Blocks.batchFlattenBlock());
            net.add(Linear.builder().setUnits(2).build());
            net.initialize(m, DataType.FLOAT32, new Shape(2, 1, 6, 6));
            NDArray x = m.randomNormal(new Shape(2, 1, 6, 6));
            float[] before = run(net, m, x).toFloatArray();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            assertInstanceOf(ObservedConv2d.class, report.twin("01"));
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
            ShapeMismatchException e =
                    assertThrows(
                            ShapeMismatchException.class,
                            () -> run(net, m, m.ones(new Shape(2, 3, 6, 6))));
            assertTrue(e.getMessage().contains("01Conv2d"), e.getMessage());
            assertTrue(e.getMessage().contains("(2, 3, 6, 6)"), e.getMessage());
            assertTrue(e.getMessage().contains("1 channels"), e.getMessage());
        }
    }

    @Test
    void attentionTwinObservesBothMatmulInputsAndMatchesTheOriginal() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ScaledDotProductAttentionBlock att =
                    ScaledDotProductAttentionBlock.builder()
                            .setEmbeddingSize(8)
                            .setHeadCount(2)
                            .optAttentionProbsDropoutProb(0f)
                            .build();
            SequentialBlock net = new SequentialBlock().add(att);
            net.initialize(m, DataType.FLOAT32, new Shape(2, 5, 8));
            NDArray x = m.randomNormal(new Shape(2, 5, 8));
            float[] before = run(net, m, x).toFloatArray();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            QuantTwin twin = report.twin("01ScaledDotProductAttentionBlock");
            assertInstanceOf(ObservedAttention.class, twin);
            assertInstanceOf(ObservedLinear.class, att.getKeyProjection());
            assertEquals(5, report.twins().size(), report.toTable());
            // observing only: the twin's own attention must equal DJL's
            float[] observed = run(net, m, x).toFloatArray();
            assertArrayEquals(before, observed, 1e-6f);
            assertTrue(twin.control().observers().get(TwinControl.PROBS).hasData());
            ObservedLinear q = (ObservedLinear) att.getQueryProjection();
            assertTrue(q.control().observers().get(TwinControl.OUTPUT).hasData());
            Twins.setObserving(net, false);
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
        }
    }

    @Test
    void attentionInsideTransformerEncoderIsObservedThroughAnEncoderStandIn() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            TransformerEncoderBlock enc =
                    new TransformerEncoderBlock(8, 2, 16, 0f, Activation::relu);
            SequentialBlock net = new SequentialBlock().add(enc);
            net.initialize(m, DataType.FLOAT32, new Shape(2, 5, 8));
            NDArray x = m.randomNormal(new Shape(2, 5, 8));
            float[] before = run(net, m, x).toFloatArray();
            List<String> names = net.getParameters().keys();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            // 4 projections + 2 feed-forward linears + the attention (P observer)
            assertEquals(7, report.twins().size(), report.toTable());
            assertTrue(report.warnings().isEmpty(), report.toTable());
            assertInstanceOf(ObservedTransformerEncoder.class, net.getChildren().get(0).getValue());
            assertEquals(names, net.getParameters().keys());
            assertEquals(
                    PrepareReport.Status.WRAPPED,
                    report.entry("01.selfAttention.queryProjection").status());
            assertEquals(PrepareReport.Status.OPAQUE, report.entry("01.outputBlock.02").status());
            // observing: the stand-in computes the encoder itself, same values as DJL's
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 1e-5f);
            QuantTwin att = report.twin("01.selfAttention");
            assertTrue(att.control().observers().get(TwinControl.PROBS).hasData());
            Twins.setObserving(net, false);
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
        }
    }

    @Test
    void walksDjlBertBlockAndStaysExactWhenSwitchedOff() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ai.djl.nn.transformer.BertBlock bert =
                    ai.djl.nn.transformer.BertBlock.builder()
                            .setTokenDictionarySize(30)
                            .optTypeDictionarySize(2)
                            .optEmbeddingSize(8)
                            .optTransformerBlockCount(2)
                            .optAttentionHeadCount(2)
                            .optHiddenSize(16)
                            .optMaxSequenceLength(6)
                            .build();
            Shape s = new Shape(2, 6);
            bert.initialize(m, DataType.FLOAT32, s, s, s);
            NDList in =
                    new NDList(
                            m.randomInteger(0, 30, s, DataType.INT32),
                            m.zeros(s, DataType.INT32),
                            m.ones(s, DataType.INT32));
            ParameterStore ps = new ParameterStore(m, false);
            float[] before = bert.forward(ps, in, false).head().toFloatArray();
            byte[] fileBefore = parameterBytes(bert);
            QConfigMapping mapping =
                    QConfigMapping.builder()
                            .optGlobal(staticMinMax())
                            .optPathGlob("transformer_1.selfAttention.valueProjection", null)
                            .build();
            PrepareReport report = Preparer.prepare(bert, mapping);
            // 2 layers x (4 projections + 2 feed-forward + attention) + pooling, minus the value
            // projection left float by the path rule
            assertEquals(14, report.twins().size(), report.toTable());
            assertEquals(
                    PrepareReport.Status.FLOAT,
                    report.entry("transformer_1.selfAttention.valueProjection").status());
            assertEquals(
                    PrepareReport.Status.WRAPPED,
                    report.entry("05transformer_0.01selfAttention.02queryProjection").status());
            assertEquals(PrepareReport.Status.WRAPPED, report.entry("poolingProjection").status());
            assertEquals(
                    PrepareReport.Status.FLOAT,
                    report.entry("transformer_0.attentionNorm").status());
            assertEquals(
                    PrepareReport.Status.OPAQUE,
                    report.entry("transformer_0.outputBlock.02").status());
            assertTrue(report.warnings().isEmpty(), report.toTable());
            // the prepared tree writes the very same parameter bytes
            assertArrayEquals(fileBefore, parameterBytes(bert));
            Twins.setObserving(bert, false);
            assertArrayEquals(before, bert.forward(ps, in, false).head().toFloatArray(), 0f);
            Twins.setObserving(bert, true);
            bert.forward(ps, in, false);
            Twins.setFakeQuant(bert, true);
            float[] fq = bert.forward(ps, in, false).head().toFloatArray();
            assertTrue(maxAbsDiff(before, fq) > 0);
        }
    }

    /** Someone else's attention block, with its own projections as named children. */
    static final class MyAttention extends ai.djl.nn.AbstractBlock {
        final Linear query;
        final Linear key;

        MyAttention() {
            query = addChildBlock("query", Linear.builder().setUnits(4).build());
            key = addChildBlock("key", Linear.builder().setUnits(4).build());
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                ai.djl.util.PairList<String, Object> params) {
            NDArray q = query.forward(ps, inputs, training).head();
            NDArray k = key.forward(ps, inputs, training).head();
            return new NDList(q.matMul(k.transpose()));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            long n = inputShapes[0].get(0);
            return new Shape[] {new Shape(n, n)};
        }

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType type, Shape... shapes) {
            query.initialize(manager, type, shapes);
            key.initialize(manager, type, shapes);
        }
    }

    @Test
    void anotherAttentionBlockCanRegisterItsOwnRewriter() {
        RewriterRegistry.register(
                new BlockRewriter() {
                    @Override
                    public Class<? extends Block> blockClass() {
                        return MyAttention.class;
                    }

                    @Override
                    public Block rewrite(RewriteContext context) {
                        context.wrapLinear("01query", true);
                        context.wrapLinear("02key", true);
                        return context.block();
                    }
                });
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            MyAttention att = new MyAttention();
            SequentialBlock net = new SequentialBlock().add(att);
            net.initialize(m, DataType.FLOAT32, new Shape(3, 5));
            QConfigMapping mapping =
                    QConfigMapping.builder()
                            .optClassConfig(MyAttention.class, staticMinMax())
                            .build();
            PrepareReport report = Preparer.prepare(net, mapping);
            assertEquals(PrepareReport.Status.WRAPPED, report.entry("01.query").status());
            assertInstanceOf(ObservedLinear.class, att.query);
            run(net, m, m.randomNormal(new Shape(3, 5)));
            ObservedLinear key = (ObservedLinear) att.key;
            assertTrue(key.control().observers().get(TwinControl.OUTPUT).hasData());
            assertTrue(RewriterRegistry.wrappableClasses().contains("MyAttention"));
        }
    }

    @Test
    void conv1dIsWrappedAndAFieldTypedConv1dIsNamedWhenItCannotHoldTheTwin() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock();
            net.add(
                    ai.djl.nn.convolutional.Conv1d.builder()
                            .setKernelShape(new Shape(3))
                            .setFilters(4)
                            .build());
            net.initialize(m, DataType.FLOAT32, new Shape(2, 2, 9));
            NDArray x = m.randomNormal(new Shape(2, 2, 9));
            float[] before = run(net, m, x).toFloatArray();
            PrepareReport report = Preparer.prepare(net, QConfigMapping.global(staticMinMax()));
            assertInstanceOf(ObservedConv1d.class, report.twin("01"));
            assertArrayEquals(before, run(net, m, x).toFloatArray(), 0f);
            Twins.setFakeQuant(net, true);
            assertTrue(maxAbsDiff(before, run(net, m, x).toFloatArray()) > 0);
        }
        Holder holder = new Holder();
        UnsupportedBlockException e =
                assertThrows(
                        UnsupportedBlockException.class,
                        () -> Preparer.prepare(holder, QConfigMapping.global(staticMinMax())));
        assertTrue(e.getMessage().contains("Holder.conv"), e.getMessage());
        assertTrue(e.getMessage().contains("Conv1d"), e.getMessage());
    }

    /** Holds a Conv1d in a field typed Conv1d, which DJL does not let a twin subclass. */
    static final class Holder extends ai.djl.nn.AbstractBlock {
        @SuppressWarnings("unused")
        private final ai.djl.nn.convolutional.Conv1d conv =
                addChildBlock(
                        "conv",
                        ai.djl.nn.convolutional.Conv1d.builder()
                                .setKernelShape(new Shape(3))
                                .setFilters(4)
                                .build());

        @Override
        protected NDList forwardInternal(
                ParameterStore ps,
                NDList inputs,
                boolean training,
                ai.djl.util.PairList<String, Object> params) {
            return inputs;
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    @Test
    void preparedModelRunsWithTheUsersOwnTranslator() throws Exception {
        try (Model model = Model.newInstance("net", "PyTorch")) {
            model.setBlock(mlp());
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 10));
            ai.djl.translate.Translator<float[], float[]> user =
                    new ai.djl.translate.Translator<>() {
                        @Override
                        public NDList processInput(
                                ai.djl.translate.TranslatorContext ctx, float[] input) {
                            return new NDList(ctx.getNDManager().create(input));
                        }

                        @Override
                        public float[] processOutput(
                                ai.djl.translate.TranslatorContext ctx, NDList list) {
                            return list.head().toFloatArray();
                        }
                    };
            float[] in = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
            float[] before;
            try (Predictor<float[], float[]> p = model.newPredictor(user)) {
                before = p.predict(in);
            }
            Preparer.prepare(model, QConfigMapping.global(staticMinMax()));
            try (Predictor<float[], float[]> p = model.newPredictor(user)) {
                assertArrayEquals(before, p.predict(in), 0f);
            }
        }
    }

    static byte[] parameterBytes(Block block) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            block.saveParameters(out);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    static float maxAbsDiff(float[] a, float[] b) {
        float d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }
}
