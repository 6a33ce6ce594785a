package org.djlquant.nn.transformer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import java.lang.reflect.Field;
import org.junit.jupiter.api.Test;

/** Structure and contracts of the BERT blocks that later stages rely on. */
class BertBlocksTest {

    private static final BertConfig CONFIG = new BertConfig(20, 8, 2, 2, 12, 10, 2, 1e-12f, -1e4f);

    @Test
    void configRefusesAHeadCountThatDoesNotDivideTheHiddenSize() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new BertConfig(20, 8, 1, 3, 12, 10, 2, 1e-12f, -1e4f));
        assertEquals("headCount was 3, must divide hiddenSize 8 without remainder", e.getMessage());
    }

    @Test
    void childSwappedInItsFieldAndTheChildrenListIsTheOneForwardCalls() throws Exception {
        try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
            BertModelBlock model = new BertModelBlock(CONFIG);
            model.setInitializer(new NormalInitializer(0.2f), p -> true);
            Shape ids = new Shape(2, 5);
            model.initialize(manager, DataType.FLOAT32, ids, ids, ids);
            NDList inputs =
                    new NDList(
                            manager.create(new long[] {3, 5, 7, 9, 11, 13, 15, 17, 19, 2}, ids),
                            manager.create(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, ids),
                            manager.zeros(ids, DataType.INT64));
            float[] before = forward(model, manager, inputs);

            BertLayer layer = (BertLayer) ((BertEncoder) model.getEncoder()).getLayers().get(1);
            BertSelfAttention attention = (BertSelfAttention) layer.getAttention();
            Counting twin = new Counting(attention.getQuery());
            swap(attention, "query", "01query", twin);

            assertSame(twin, attention.getQuery());
            assertArrayEquals(before, forward(model, manager, inputs), 0f);
            assertEquals(1, twin.calls);
        }
    }

    @Test
    void gradientsReachEveryProjectionAndTheEmbeddings() {
        try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
            BertModelBlock model = new BertModelBlock(CONFIG);
            model.setInitializer(new NormalInitializer(0.2f), p -> true);
            Shape ids = new Shape(2, 5);
            model.initialize(manager, DataType.FLOAT32, ids, ids, ids);
            NDList inputs =
                    new NDList(
                            manager.create(new long[] {3, 5, 7, 9, 11, 13, 15, 17, 19, 2}, ids),
                            manager.create(new long[] {1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, ids),
                            manager.zeros(ids, DataType.INT64));
            try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDList out = model.forward(new ParameterStore(manager, false), inputs, true);
                collector.backward(out.head().mul(out.head()).sum());
            }
            int checked = 0;
            for (var pair : model.getParameters()) {
                if (pair.getKey().contains("query")
                        || pair.getKey().contains("word")
                        || pair.getKey().contains("intermediate")) {
                    NDArray grad = pair.getValue().getArray().getGradient();
                    assertTrue(grad.abs().sum().getFloat() > 0, pair.getKey() + " has no gradient");
                    checked++;
                }
            }
            assertEquals(2 * 2 * 2 + 1, checked);
        }
    }

    private static float[] forward(Block block, NDManager manager, NDList inputs) {
        NDList out = block.forward(new ParameterStore(manager, false), inputs, false);
        assertEquals(new Shape(2, 5, 8), out.head().getShape());
        return out.head().toFloatArray();
    }

    /** What a prepare stage does: replace the child in the parent's field and children list. */
    private static void swap(AbstractBlock parent, String field, String key, Block twin)
            throws ReflectiveOperationException {
        Field f = parent.getClass().getDeclaredField(field);
        f.setAccessible(true);
        f.set(parent, twin);
        Field c = AbstractBlock.class.getDeclaredField("children");
        c.setAccessible(true);
        BlockList children = (BlockList) c.get(parent);
        int index = children.indexOf(key);
        assertTrue(index >= 0, key + " not in " + children.keys());
        children.remove(index);
        children.add(index, key, twin);
    }

    /** A twin that delegates to the original and counts its calls. */
    private static final class Counting extends AbstractBlock {
        private final Block inner;
        private int calls;

        Counting(Block inner) {
            this.inner = inner;
        }

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> p) {
            calls++;
            return inner.forward(ps, inputs, training);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inner.getOutputShapes(inputShapes);
        }
    }
}
