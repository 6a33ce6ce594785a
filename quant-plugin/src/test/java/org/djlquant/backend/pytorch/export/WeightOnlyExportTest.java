package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.Random;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A prepared weight-only INT8 FFN exported whole: int8 weights and {@code
 * aten::_weight_int8pack_mm} in the archive, loaded by plain DJL, equal to the in-place converted
 * block (same kernel, same int8 values and scales, same float32 arithmetic: required equal to 1e-6
 * relative, observed exactly equal) and to the simulation (float32 summation order only: 2e-5 of
 * the largest output, as in {@code WeightOnlyConvertTest}).
 */
class WeightOnlyExportTest {

    @Test
    void weightOnlyInt8ExportLoadsInPlainDjlAndEqualsTheInPlaceBlock(@TempDir Path dir)
            throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(17);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(96).build())
                            .add(ExportableBlocks.relu())
                            .add(Linear.builder().setUnits(16).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 48));
            Preparer.prepare(
                    net, QConfigMapping.global(QConfig.weightOnlyInt8(BackendTarget.FBGEMM)));
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(net).build().export(dir, "wo");
            assertEquals(2, manifest.layers().size(), manifest.toJson());
            for (QuantizationManifest.Layer l : manifest.layers()) {
                assertEquals(QMode.WEIGHT_ONLY, l.mode());
                assertEquals("aten::_weight_int8pack_mm", l.kernel());
            }
            QuantizationManifest.Layer first = manifest.layers().get(0);
            assertEquals(96L * 48 + 4L * 96, first.storedWeightBytes());
            assertEquals(4L * 96 * 48, first.float32WeightBytes());

            Random r = new Random(4);
            float[] v = new float[2 * 3 * 48];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            NDList x = new NDList(m.create(v, new Shape(2, 3, 48)));
            float[] sim = ExportFixtures.simulate(net, m, x);
            float[] exported = ExportFixtures.runExported(dir, "wo", x);
            Converter.convert(net, m, QEngine.current());
            float[] inPlace =
                    net.forward(new ParameterStore(m, false), x, false).head().toFloatArray();
            double scale = ExportFixtures.maxAbs(sim);
            double vsInPlace = 0;
            double vsSim = 0;
            for (int i = 0; i < sim.length; i++) {
                vsInPlace = Math.max(vsInPlace, Math.abs(exported[i] - inPlace[i]));
                vsSim = Math.max(vsSim, Math.abs(exported[i] - sim[i]));
            }
            System.out.println(
                    "weight-only INT8 export: max|exported - in place| = "
                            + vsInPlace
                            + ", max|exported - simulation| = "
                            + vsSim
                            + " (max|y| "
                            + scale
                            + ")");
            assertTrue(vsInPlace <= 1e-6 * scale, "vs in place " + vsInPlace);
            assertTrue(vsSim <= 2e-5 * scale, "vs simulation " + vsSim);
        }
    }

    @Test
    void weightOnlyInt8Bfloat16ExportEqualsTheInPlaceBfloat16Block(@TempDir Path dir)
            throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(18);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(96).build())
                            .add(ExportableBlocks.relu())
                            .add(Linear.builder().setUnits(16).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 48));
            Preparer.prepare(
                    net, QConfigMapping.global(QConfig.weightOnlyInt8(BackendTarget.FBGEMM)));
            QuantizationManifest manifest =
                    TorchScriptExporter.builder()
                            .setBlock(net)
                            .optWeightOnlyCompute(WeightOnlyPackedLinear.Compute.BFLOAT16)
                            .build()
                            .export(dir, "wo_bf16");
            for (QuantizationManifest.Layer l : manifest.layers()) {
                assertEquals("aten::_weight_int8pack_mm (bfloat16)", l.kernel());
            }
            Random r = new Random(5);
            float[] v = new float[2 * 3 * 48];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            NDList x = new NDList(m.create(v, new Shape(2, 3, 48)));
            float[] sim = ExportFixtures.simulate(net, m, x);
            float[] exported = ExportFixtures.runExported(dir, "wo_bf16", x);
            Converter.convert(net, m, QEngine.current(), WeightOnlyPackedLinear.Compute.BFLOAT16);
            float[] inPlace =
                    net.forward(new ParameterStore(m, false), x, false).head().toFloatArray();
            double scale = ExportFixtures.maxAbs(sim);
            double vsInPlace = ExportFixtures.maxAbsDiff(exported, inPlace);
            double vsSim = ExportFixtures.maxAbsDiff(exported, sim);
            System.out.println(
                    "weight-only INT8 bf16 export: max|exported - in place| = "
                            + vsInPlace
                            + ", max|exported - simulation| = "
                            + vsSim);
            // the same casts and kernel as in place; bfloat16 roundings vs the float simulation
            assertTrue(vsInPlace <= 1e-6 * scale, "vs in place " + vsInPlace);
            assertTrue(vsSim > 0 && vsSim <= 3e-2 * scale, "vs simulation " + vsSim);
        }
    }
}
