package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.junit.jupiter.api.Test;

/** A rewriter found through META-INF/services (see src/test/resources). */
class ServiceLoadedRewriterTest {

    /** A block with one Linear child. */
    public static final class Greeter extends AbstractBlock {
        private final Linear inner = addChildBlock("inner", Linear.builder().setUnits(2).build());

        @Override
        protected NDList forwardInternal(
                ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> p) {
            return inner.forward(ps, inputs, training);
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inner.getOutputShapes(inputShapes);
        }
    }

    /** Registered as a service provider. */
    public static final class GreeterRewriter implements BlockRewriter {
        /** Needed by ServiceLoader. */
        public GreeterRewriter() {}

        @Override
        public Class<? extends Block> blockClass() {
            return Greeter.class;
        }

        @Override
        public Block rewrite(RewriteContext context) {
            context.wrapLinear("01inner", false);
            return context.block();
        }
    }

    @Test
    void rewriterRegisteredAsAServiceIsUsed() {
        assertTrue(RewriterRegistry.wrappableClasses().contains("Greeter"));
        Greeter g = new Greeter();
        PrepareReport r =
                Preparer.prepare(
                        new SequentialBlock().add(g),
                        QConfigMapping.builder()
                                .optClassConfig(
                                        Greeter.class, QConfig.dynamicInt8(BackendTarget.FBGEMM))
                                .build());
        assertEquals(PrepareReport.Status.WRAPPED, r.entry("01.inner").status());
        assertInstanceOf(ObservedLinear.class, g.getChildren().get(0).getValue());
    }
}
