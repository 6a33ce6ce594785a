package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbs;
import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.scheme.QDataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Weight-only INT4 exported whole: the archive holds 4-bit values two to a byte in a portable order
 * plus float32 scales and zero offsets, and packs them for the loading CPU in {@code __setstate__};
 * loaded by plain DJL {@code Criteria} it must equal the in-place converted model (the same {@code
 * aten::_weight_int4pack_mm_for_cpu} on weights packed by the same op from the same integers, with
 * the same casts: required within 1e-6 of the largest output, i.e. equal up to a different thread
 * split of the same sums; observed exactly equal), for FLOAT32 and BFLOAT16 compute. The FLOAT32
 * archive is also checked against the fake-quant simulation (a DJL float matmul over the
 * dequantized weights; float32 summation order only: 2e-5 of the largest output, as for INT8).
 */
class WeightOnlyInt4ExportTest {

    private static final int GROUP = 32;

    private static QConfigMapping int4() {
        return QConfigMapping.global(QConfig.weightOnlyInt4(GROUP, BackendTarget.FBGEMM));
    }

    /** FFN 768 -> 3072 -> ReLU -> 768 with seeded weights, prepared for INT4 weight-only. */
    private static SequentialBlock ffn(NDManager m) {
        SequentialBlock net =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(3072).build())
                        .add(ExportableBlocks.relu())
                        .add(Linear.builder().setUnits(768).build());
        net.initialize(m, DataType.FLOAT32, new Shape(1, 768));
        ExportFixtures.fill(net, 31);
        Preparer.prepare(net, int4());
        return net;
    }

    private static NDList gaussian(NDManager m, long seed, long... shape) {
        Random r = new Random(seed);
        float[] v = new float[(int) new Shape(shape).size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return new NDList(m.create(v, new Shape(shape)));
    }

    @Test
    void ffnInt4ArchiveLoadsInPlainDjlAndEqualsTheInPlaceModelInBothComputeDtypes(@TempDir Path dir)
            throws Exception {
        for (Compute compute : Compute.values()) {
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                SequentialBlock net = ffn(m);
                String name = "ffn_int4_" + compute.name().toLowerCase(java.util.Locale.ROOT);
                QuantizationManifest manifest =
                        TorchScriptExporter.builder()
                                .setBlock(net)
                                .optWeightOnlyCompute(compute)
                                .build()
                                .export(dir, name);
                assertEquals(2, manifest.layers().size(), manifest.toJson());
                for (QuantizationManifest.Layer l : manifest.layers()) {
                    assertEquals(QMode.WEIGHT_ONLY, l.mode());
                    assertEquals(QDataType.INT4, l.weightDtype());
                    assertEquals("per-group(axis=1, groupSize=32)", l.weightGranularity());
                    assertTrue(
                            l.kernel().contains("aten::_weight_int4pack_mm_for_cpu"), l.kernel());
                    assertEquals(compute == Compute.BFLOAT16, l.kernel().contains("bfloat16"));
                }
                // 3072 x 768 weights: half a byte each, plus float32 scale and zero per 32
                QuantizationManifest.Layer first = manifest.layers().get(0);
                assertEquals(3072L * 768 / 2 + 8L * 3072 * 768 / 32, first.storedWeightBytes());
                assertEquals(4L * 3072 * 768, first.float32WeightBytes());
                long size = Files.size(dir.resolve(name + ".pt"));
                // both layers: 2 x (1,179,648 + 589,824) bytes + biases + code; FP32 is 18.9 MB
                assertTrue(size < 3_600_000, "archive size " + size);

                NDList x = gaussian(m, 5, 2, 8, 768);
                float[] sim = ExportFixtures.simulate(net, m, x);
                float[] exported = ExportFixtures.runExported(dir, name, x);
                Converter.convert(net, m, QEngine.current(), compute);
                float[] inPlace = ExportFixtures.run(net, m, x).head().toFloatArray();
                double scale = maxAbs(sim);
                double vsInPlace = maxAbsDiff(exported, inPlace);
                double vsSim = maxAbsDiff(exported, sim);
                System.out.println(
                        "INT4 "
                                + compute
                                + " FFN export: max|exported - in place| = "
                                + vsInPlace
                                + ", max|exported - simulation| = "
                                + vsSim
                                + " (max|y| "
                                + scale
                                + ", archive "
                                + size
                                + " bytes)");
                assertTrue(vsInPlace <= 1e-6 * scale, compute + " vs in place " + vsInPlace);
                if (compute == Compute.FLOAT32) {
                    assertTrue(vsSim <= 2e-5 * scale, "vs simulation " + vsSim);
                } else {
                    // bfloat16 input, scales, zeros and output: a few 2^-8 relative roundings
                    assertTrue(vsSim <= 3e-2 * scale, "bf16 vs simulation " + vsSim);
                    assertTrue(vsSim > 0, "bf16 compute must differ from the float simulation");
                }
            }
        }
    }

    @Test
    void twoLayerBertWithInt4LinearsEqualsTheInPlaceModel(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // hidden 64 and intermediate 128: multiples of 16 (N) and of the group (K)
            BertModelBlock bert =
                    new BertModelBlock(new BertConfig(40, 64, 2, 4, 128, 12, 2, 1e-12f, -10000f));
            bert.initialize(m, DataType.FLOAT32, new Shape(2, 7), new Shape(2, 7), new Shape(2, 7));
            ExportFixtures.fill(bert, 23);
            Preparer.prepare(bert, int4());
            QuantizationManifest manifest =
                    TorchScriptExporter.builder().setBlock(bert).build().export(dir, "bert_int4");
            // 2 layers x (query, key, value, attention output, intermediate, output)
            assertEquals(12, manifest.layers().size(), manifest.toJson());
            for (QuantizationManifest.Layer l : manifest.layers()) {
                assertEquals(QDataType.INT4, l.weightDtype(), l.path());
                assertTrue(l.kernel().contains("_weight_int4pack_mm_for_cpu"), l.kernel());
            }
            NDList inputs = ExportFixtures.bertInputs(m, 77, 3, 7);
            float[] sim = ExportFixtures.simulate(bert, m, inputs);
            float[] exported = ExportFixtures.runExported(dir, "bert_int4", inputs);
            Converter.convert(bert, m, QEngine.current());
            float[] inPlace = ExportFixtures.run(bert, m, inputs).head().toFloatArray();
            double vsInPlace = maxAbsDiff(exported, inPlace);
            double vsSim = maxAbsDiff(exported, sim);
            System.out.println(
                    "INT4 BERT export: max|exported - in place| = "
                            + vsInPlace
                            + ", max|exported - simulation| = "
                            + vsSim);
            // LayerNorm outputs are O(1): the same kernels and float ops in the same order
            assertTrue(vsInPlace <= 1e-5, "vs in place " + vsInPlace);
            assertTrue(vsSim <= 1e-4, "vs simulation " + vsSim);
        }
    }

    @Test
    void loadedInt4ArchiveSavesBackToTheSamePortableWeights(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(32).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 64));
            ExportFixtures.fill(net, 3);
            Preparer.prepare(net, int4());
            TorchScriptExporter.builder().setBlock(net).build().export(dir, "small");
            NDList x = gaussian(m, 9, 4, 64);
            float[] first = ExportFixtures.runExported(dir, "small", x);
            // libtorch saves a loaded module through its __getstate__
            Path saved = dir.resolve("resaved");
            Files.createDirectories(saved);
            Criteria<NDList, NDList> criteria =
                    Criteria.builder()
                            .setTypes(NDList.class, NDList.class)
                            .optEngine("PyTorch")
                            .optModelPath(dir)
                            .optModelName("small")
                            .build();
            try (ZooModel<NDList, NDList> model = criteria.loadModel();
                    OutputStream out = Files.newOutputStream(saved.resolve("small.pt"))) {
                JniUtils.writeModule((PtSymbolBlock) model.getBlock(), out, false);
            }
            float[] again = ExportFixtures.runExported(saved, "small", x);
            assertEquals(0.0, maxAbsDiff(first, again), "re-saved archive computes differently");
            // the 32 x 64 weight: 1024 bytes of nibbles, identical after the round trip
            byte[] before = storageOfSize(dir.resolve("small.pt"), 1024);
            byte[] after = storageOfSize(saved.resolve("small.pt"), 1024);
            assertArrayEquals(before, after);
        }
    }

    /** The one tensor storage ({@code <name>/data/<n>}) of the given size in an archive. */
    private static byte[] storageOfSize(Path archive, int size) throws IOException {
        byte[] found = null;
        try (ZipFile zip = new ZipFile(archive.toFile())) {
            for (ZipEntry e : Collections.list(zip.entries())) {
                if (e.getName().matches("[^/]+/data/\\d+") && e.getSize() == size) {
                    assertEquals(null, found, "two storages of " + size + " bytes");
                    try (InputStream in = zip.getInputStream(e)) {
                        found = in.readAllBytes();
                    }
                }
            }
        }
        assertTrue(found != null, "no storage of " + size + " bytes in " + archive);
        return found;
    }
}
