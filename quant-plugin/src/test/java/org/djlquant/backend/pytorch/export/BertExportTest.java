package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbs;
import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our BERT blocks, BertSelfAttention alone, and a float CNN with pooling and parallel branches,
 * exported and loaded with plain DJL.
 */
class BertExportTest {

    private static QEngine initial;

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    @Test
    void tinyBertWithStaticAndDynamicLayersMatchesTheSimulation(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert = ExportFixtures.calibratedTinyBert(m, true);
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(bert).build().export(dir, "bert");
            // 2 layers x (q, k, v, attention output, intermediate, output)
            assertEquals(12, manifest.layers().size(), manifest.toJson());
            assertEquals("encoder.01.attention.query", manifest.layers().get(0).path());
            NDList inputs = ExportFixtures.bertInputs(m, 999, 3, 7);
            float[] sim = ExportFixtures.simulate(bert, m, inputs);
            float[] real = ExportFixtures.runExported(dir, "bert", inputs);
            double diff = maxAbsDiff(sim, real);
            System.out.println("tiny BERT export vs simulation, max |diff| = " + diff);
            // LayerNorm outputs are O(1); float reordering in matmul/softmax/LayerNorm and the
            // INT8 sums evaluated in another order stay below 1e-4 (observed ~1e-6)
            assertTrue(diff <= 1e-4, "max |diff| " + diff);
        }
    }

    @Test
    void bertSelfAttentionAloneWithAdditiveMaskMatchesTheSimulation(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // wrapped: the preparer swaps the attention block for its observed twin
            SequentialBlock attention = new SequentialBlock().add(new BertSelfAttention(16, 4));
            attention.initialize(m, DataType.FLOAT32, new Shape(2, 5, 16), new Shape(2, 1, 1, 5));
            ExportFixtures.fill(attention, 3);
            Preparer.prepare(attention, QConfigMapping.global(ExportFixtures.staticX86()));
            NDArray mask = m.create(new float[] {0, 0, 0, 0, 0, 0, 0, 0, -10000, -10000});
            mask = mask.reshape(2, 1, 1, 5);
            for (NDArray x : ExportFixtures.batches(m, 5, 4, 2, 5, 16)) {
                ExportFixtures.run(attention, m, new NDList(x, mask));
            }
            Twins.setObserving(attention, false);
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(attention).build().export(dir, "attn");
            assertEquals(4, manifest.layers().size(), manifest.toJson());
            NDArray x = ExportFixtures.batches(m, 6, 1, 2, 5, 16).get(0);
            float[] sim = ExportFixtures.simulate(attention, m, new NDList(x, mask));
            float[] real = ExportFixtures.runExported(dir, "attn", new NDList(x, mask));
            double diff = maxAbsDiff(sim, real);
            assertTrue(diff <= 1e-5 * Math.max(1, maxAbs(sim)), "max |diff| " + diff);
        }
    }

    @Test
    void floatCnnWithPoolingFlattenDropoutAndParallelBranchesMatchesDjl(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Block head =
                    ExportableBlocks.concat(
                            1,
                            List.of(
                                    Linear.builder().setUnits(5).build(),
                                    ExportableBlocks.add(
                                            List.of(
                                                    Linear.builder().setUnits(3).build(),
                                                    Linear.builder().setUnits(3).build()))));
            SequentialBlock net =
                    new SequentialBlock()
                            .add(
                                    Conv2d.builder()
                                            .setKernelShape(new Shape(3, 3))
                                            .setFilters(4)
                                            .optPadding(new Shape(1, 1))
                                            .build())
                            .add(ExportableBlocks.relu())
                            .add(ExportableBlocks.maxPool2d(2, 2, 0))
                            .add(
                                    Conv2d.builder()
                                            .setKernelShape(new Shape(3, 3))
                                            .setFilters(6)
                                            .optStride(new Shape(1, 1))
                                            .build())
                            .add(ExportableBlocks.avgPool2d(2, 1, 1))
                            .add(Dropout.builder().optRate(0.5f).build())
                            .add(ExportableBlocks.flatten())
                            .add(head);
            net.initialize(m, DataType.FLOAT32, new Shape(2, 1, 10, 10));
            ExportFixtures.fill(net, 9);
            TorchScriptExporter.builder().setBlock(net).build().export(dir, "cnn");
            NDArray x = ExportFixtures.batches(m, 8, 1, 2, 1, 10, 10).get(0);
            float[] expected = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();
            float[] real = ExportFixtures.runExported(dir, "cnn", new NDList(x));
            assertEquals(2 * 8, expected.length);
            // the same libtorch float kernels on the same inputs in the same order
            assertArrayEquals(expected, real, 1e-5f);
        }
    }
}
