package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.Preparer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Golden archives written by this version (format 1) and committed under {@code
 * src/test/resources/golden/export-v1}: they must keep loading and computing the committed outputs
 * (the fake-quant simulation's outputs at the time they were written), and the writer must keep
 * producing the same bytes for the same model. Regenerate (only on purpose, e.g. after a manifest
 * or library version change) with {@code -Ddjlq.regenerateGolden=true -Dtest=GoldenArchiveTest}.
 */
class GoldenArchiveTest {

    private static final String DIR = "golden/export-v1/";
    private static final Gson GSON = new GsonBuilder().create();

    private static QEngine initial;

    /** Inputs and the expected output of one golden model. */
    record Case(
            List<long[]> shapes,
            List<float[]> floatInputs,
            List<long[]> longInputs,
            float[] expected) {}

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in =
                GoldenArchiveTest.class.getClassLoader().getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IllegalStateException(DIR + name + " is not on the test classpath");
            }
            return in.readAllBytes();
        }
    }

    private static NDList inputs(NDManager m, Case c) {
        NDList list = new NDList();
        for (int i = 0; i < c.shapes().size(); i++) {
            Shape s = new Shape(c.shapes().get(i));
            list.add(
                    c.floatInputs() != null
                            ? m.create(c.floatInputs().get(i), s)
                            : m.create(c.longInputs().get(i), s));
        }
        return list;
    }

    private static Case ffnCase(NDManager m, Block ffn) {
        NDArray x = ExportFixtures.batches(m, 4242, 1, 6, ExportFixtures.FFN_IN).get(0);
        float[] expected = ExportFixtures.simulate(ffn, m, new NDList(x));
        return new Case(
                List.of(x.getShape().getShape()), List.of(x.toFloatArray()), null, expected);
    }

    private static Case bertCase(NDManager m, Block bert) {
        NDList in = ExportFixtures.bertInputs(m, 4343, 2, 6);
        float[] expected = ExportFixtures.simulate(bert, m, in);
        List<long[]> shapes = new ArrayList<>();
        List<long[]> values = new ArrayList<>();
        for (NDArray a : in) {
            shapes.add(a.getShape().getShape());
            values.add(a.toLongArray());
        }
        return new Case(shapes, null, values, expected);
    }

    /**
     * A small weight-only INT4 FFN (64 -> 32 -> ReLU -> 16, groups of 32): the smallest shapes
     * libtorch's INT4 kernel takes.
     */
    static Block int4Ffn(NDManager m) {
        SequentialBlock net =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(32).build())
                        .add(ExportableBlocks.relu())
                        .add(Linear.builder().setUnits(16).build());
        net.initialize(m, DataType.FLOAT32, new Shape(1, 64));
        ExportFixtures.fill(net, 41);
        Preparer.prepare(
                net, QConfigMapping.global(QConfig.weightOnlyInt4(32, BackendTarget.FBGEMM)));
        return net;
    }

    private static Case int4Case(NDManager m, Block ffn) {
        NDArray x = ExportFixtures.batches(m, 4444, 1, 5, 64).get(0);
        float[] expected = ExportFixtures.simulate(ffn, m, new NDList(x));
        return new Case(
                List.of(x.getShape().getShape()), List.of(x.toFloatArray()), null, expected);
    }

    @Test
    void regenerate() throws Exception {
        assumeTrue(Boolean.getBoolean("djlq.regenerateGolden"), "generator, run on purpose");
        Path out = Path.of("src/test/resources", DIR);
        Files.createDirectories(out);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Block ffn = ExportFixtures.calibratedFfn(m);
            Files.write(out.resolve("ffn.pt"), export(ffn));
            Files.writeString(out.resolve("ffn.json"), GSON.toJson(ffnCase(m, ffn)));
            Block bert = ExportFixtures.calibratedTinyBert(m, true);
            Files.write(out.resolve("bert.pt"), export(bert));
            Files.writeString(out.resolve("bert.json"), GSON.toJson(bertCase(m, bert)));
            Block int4 = int4Ffn(m);
            Files.write(out.resolve("ffn_int4.pt"), export(int4));
            Files.writeString(out.resolve("ffn_int4.json"), GSON.toJson(int4Case(m, int4)));
        }
    }

    private static byte[] export(Block block) throws Exception {
        return TorchScriptExporter.builder().setBlock(block).build().export().bytes();
    }

    private static void assertGoldenLoads(String name, Path dir) throws Exception {
        Files.write(dir.resolve(name + ".pt"), resource(name + ".pt"));
        QuantizationManifest manifest = QuantizedArtifacts.readManifest(dir.resolve(name + ".pt"));
        assertEquals(1, manifest.formatVersion());
        Case c =
                GSON.fromJson(
                        new String(resource(name + ".json"), StandardCharsets.UTF_8), Case.class);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] actual = ExportFixtures.runExported(dir, name, inputs(m, c));
            // the committed values are the simulation's; the archive matched them within float
            // reordering (see FfnExportTest) when written
            assertArrayEquals(c.expected(), actual, 1.5e-5f);
        }
    }

    @Test
    void goldenFfnArchiveStillLoadsAndComputesTheCommittedOutputs(@TempDir Path dir)
            throws Exception {
        assertGoldenLoads("ffn", dir);
    }

    @Test
    void goldenTinyBertArchiveStillLoadsAndComputesTheCommittedOutputs(@TempDir Path dir)
            throws Exception {
        assertGoldenLoads("bert", dir);
    }

    @Test
    void goldenWeightOnlyInt4ArchiveStillPacksOnLoadAndComputesTheCommittedOutputs(
            @TempDir Path dir) throws Exception {
        assertGoldenLoads("ffn_int4", dir);
    }

    @Test
    void olderGoldenArchivesWithFloatOutputStaticKernelsStillLoad(@TempDir Path dir)
            throws Exception {
        // written before static twins observed their outputs (static layers then ran fbgemm's
        // float-output INT8 kernel); kept to prove saved models keep working
        assertGoldenLoads("ffn_fp32out", dir);
        assertGoldenLoads("bert_fp32out", dir);
    }

    @Test
    void writerStillProducesByteIdenticalArchives() throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertArrayEquals(resource("ffn.pt"), export(ExportFixtures.calibratedFfn(m)));
            assertArrayEquals(
                    resource("bert.pt"), export(ExportFixtures.calibratedTinyBert(m, true)));
            assertArrayEquals(resource("ffn_int4.pt"), export(int4Ffn(m)));
        }
    }
}
