package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import java.nio.file.Path;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.Twins;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dynamic Linear → ReLU → Linear: the converter fuses the ReLU into the first layer ({@code
 * quantized::linear_relu_dynamic}, no separate pass over the float intermediate), in place and in
 * the exported archive, and both equal the simulation (which computes each dynamic layer as fbgemm
 * does, then the ReLU) exactly.
 */
class DynamicReluFusionTest {

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
    void dynamicLinearReluLinearRunsTheFusedKernelAndEqualsTheSimulation(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(96).build())
                            .add(Activation.reluBlock())
                            .add(Linear.builder().setUnits(24).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 48));
            ExportFixtures.fill(net, 61);
            Preparer.prepare(net, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            NDArray x = ExportFixtures.batches(m, 62, 1, 4, 10, 48).get(0);
            float[] fp32;
            Twins.setFakeQuant(net, false);
            fp32 = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));

            ConvertReport report = Converter.convert(net, m, QEngine.X86);
            assertEquals(1, report.fusedReluCount());
            QuantizedLinear first =
                    assertInstanceOf(QuantizedLinear.class, net.getChildren().get(0).getValue());
            assertTrue(first.isReluFused());
            LambdaBlock identity =
                    assertInstanceOf(LambdaBlock.class, net.getChildren().get(1).getValue());
            assertTrue(identity.getName().startsWith("ReLU fused into"), identity.getName());
            float[] inPlace = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();

            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(net).build().export(dir, "dynrelu");
            assertEquals("quantized::linear_relu_dynamic", manifest.layers().get(0).kernel());
            assertEquals("quantized::linear_dynamic", manifest.layers().get(1).kernel());
            float[] exported = ExportFixtures.runExported(dir, "dynrelu", new NDList(x));

            System.out.println(
                    "dynamic Linear-ReLU-Linear: max |in place - simulation| = "
                            + ExportFixtures.maxAbsDiff(inPlace, sim)
                            + ", max |exported - in place| = "
                            + ExportFixtures.maxAbsDiff(exported, inPlace)
                            + ", max |in place - FP32| = "
                            + ExportFixtures.maxAbsDiff(inPlace, fp32));
            assertEquals(0.0, ExportFixtures.maxAbsDiff(inPlace, sim), "in place vs simulation");
            assertEquals(0.0, ExportFixtures.maxAbsDiff(exported, inPlace), "exported vs in place");
            // and it is a quantized result, not the float one
            assertTrue(ExportFixtures.maxAbsDiff(inPlace, fp32) > 1e-4);
        }
    }
}
