package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.translate.NoopTranslator;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.TorchScriptArchive;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Standalone INT8 linear models written in Java and loaded by plain DJL ({@code Model.load}). */
class Int8LinearArchiveTest {

    // same hand-derived layer as PackedLinearTest: q = [[2, -4, 1], [2, 0, -1]], scales [0.25, 0.5]
    private static final float[] W = {0.5f, -1.0f, 0.25f, 1.0f, 0.0f, -0.5f};
    private static final long[] SHAPE = {2, 3};
    private static final float[] SCALES = {0.25f, 0.5f};
    private static final long[] ZPS = {0, 0};
    private static final float[] BIAS = {0.25f, -0.25f};

    private static QEngine initial;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static float[] run(Path dir, String name, float[] x, long rows) throws Exception {
        try (Model model = Model.newInstance(name, "PyTorch")) {
            model.load(dir);
            try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
                    NDManager manager = model.getNDManager().newSubManager()) {
                NDList out = predictor.predict(new NDList(manager.create(x, new Shape(rows, 3))));
                assertEquals(new Shape(rows, 2), out.singletonOrThrow().getShape());
                return out.singletonOrThrow().toFloatArray();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void dynamicModelLoadsInPlainDjlAndComputesTheHandDerivedValues(
            QEngine engine, @TempDir Path dir) throws Exception {
        assumeTrue(QEngine.available().contains(engine));
        QEngine.select(engine); // weights are packed at load, for this engine
        byte[] archive =
                Int8LinearArchive.dynamicInt8(
                        W, SHAPE, SCALES, ZPS, 0, BIAS, engine != QEngine.QNNPACK);
        Path file = Int8LinearArchive.save(archive, dir, "dyn");
        assertEquals(dir.resolve("dyn.pt"), file);
        // inputs only 0 and 2: exact at any activation grid (see PackedLinearTest)
        float[] y = run(dir, "dyn", new float[] {2, 0, 2, 0, 2, 2}, 2);
        assertArrayEquals(new float[] {1.75f, 0.75f, -1.25f, -1.25f}, y, 1e-5f);
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void staticReluModelLoadsInPlainDjlAndComputesTheHandDerivedValues(
            QEngine engine, @TempDir Path dir) throws Exception {
        assumeTrue(QEngine.available().contains(engine));
        QEngine.select(engine);
        byte[] relu =
                Int8LinearArchive.staticInt8(
                        W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, true);
        byte[] plain =
                Int8LinearArchive.staticInt8(
                        W, SHAPE, SCALES, ZPS, 0, null, 0.5f, 10, 0.25f, 64, false);
        Int8LinearArchive.save(relu, dir.resolve("a"), "relu");
        Int8LinearArchive.save(plain, dir.resolve("b"), "plain");
        float[] x = {1, -2, 3, -1, 0.5f, 0};
        // integer sums as in PackedLinearTest: 3.25, -0.5, -1.0, -1.0 before bias
        assertArrayEquals(new float[] {3.5f, 0, 0, 0}, run(dir.resolve("a"), "relu", x, 2), 1e-6f);
        assertArrayEquals(
                new float[] {3.25f, -0.5f, -1.0f, -1.0f},
                run(dir.resolve("b"), "plain", x, 2),
                1e-6f);
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"X86", "QNNPACK"})
    void exportedModelsComputeExactlyWhatPackedLinearComputes(QEngine engine, @TempDir Path dir)
            throws Exception {
        assumeTrue(QEngine.available().contains(engine));
        QEngine.select(engine);
        int out = 24;
        int in = 40;
        java.util.Random random = new java.util.Random(11);
        float[] w = new float[out * in];
        float[] scales = new float[out];
        float[] bias = new float[out];
        for (int o = 0; o < out; o++) {
            float amax = 0;
            for (int i = 0; i < in; i++) {
                w[o * in + i] = (float) random.nextGaussian();
                amax = Math.max(amax, Math.abs(w[o * in + i]));
            }
            scales[o] = amax / 127;
            bias[o] = (float) random.nextGaussian();
        }
        float[] x = new float[3 * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        long[] shape = {out, in};
        long[] zps = new long[out];
        boolean reduceRange = engine != QEngine.QNNPACK;
        Int8LinearArchive.save(
                Int8LinearArchive.dynamicInt8(w, shape, scales, zps, 0, bias, reduceRange),
                dir.resolve("d"),
                "d");
        Int8LinearArchive.save(
                Int8LinearArchive.staticInt8(
                        w, shape, scales, zps, 0, bias, 0.03f, 60, 0.05f, 128, true),
                dir.resolve("s"),
                "s");
        // same quantized weights and kernels: the two paths agree to the last bit
        for (String name : new String[] {"d", "s"}) {
            try (Model model = Model.newInstance(name, "PyTorch");
                    PackedLinear linear =
                            name.equals("d")
                                    ? PackedLinear.dynamicInt8(w, shape, scales, zps, 0, bias)
                                    : PackedLinear.staticInt8(
                                            w, shape, scales, zps, 0, bias, 0.03f, 60, 0.05f, 128,
                                            true)) {
                model.load(dir.resolve(name));
                try (Predictor<NDList, NDList> predictor =
                                model.newPredictor(new NoopTranslator());
                        NDManager manager = model.getNDManager().newSubManager()) {
                    float[] exported =
                            predictor
                                    .predict(new NDList(manager.create(x, new Shape(3, in))))
                                    .singletonOrThrow()
                                    .toFloatArray();
                    float[] packed =
                            linear.forward(manager.create(x, new Shape(3, in))).toFloatArray();
                    assertArrayEquals(packed, exported, name);
                }
            }
        }
    }

    @Test
    void libtorchSavesTheLoadedModelThroughGetstateAndLoadsItAgain() throws Exception {
        byte[] archive =
                Int8LinearArchive.staticInt8(
                        W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, false);
        try (PtNDManager manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager()) {
            PtSymbolBlock loaded = TorchScriptArchive.load(archive, manager);
            ByteArrayOutputStream saved = new ByteArrayOutputStream();
            JniUtils.writeModule(loaded, saved, false); // runs __getstate__
            PtSymbolBlock again = TorchScriptArchive.load(saved.toByteArray(), manager);
            NDList out =
                    again.forward(
                            null,
                            new NDList(
                                    manager.create(
                                            new float[] {1, -2, 3, -1, 0.5f, 0}, new Shape(2, 3))),
                            false);
            assertArrayEquals(
                    new float[] {3.5f, -0.75f, -0.75f, -1.25f},
                    out.singletonOrThrow().toFloatArray(),
                    1e-6f);
        }
    }

    @Test
    void dynamicArchiveIsTheGoldenArchive() throws Exception {
        // written by this class when libtorch 2.7.1 was verified to load it: a format change
        // shows up here and must be checked against libtorch again
        byte[] golden;
        try (java.io.InputStream in =
                Int8LinearArchiveTest.class.getResourceAsStream("dynamic_int8_linear.pt")) {
            org.junit.jupiter.api.Assertions.assertNotNull(in, "golden file missing");
            golden = in.readAllBytes();
        }
        assertArrayEquals(
                golden, Int8LinearArchive.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS, true));
    }

    @Test
    void truncatedModelFileIsRefusedByDjlWithoutCrashing(@TempDir Path dir) throws Exception {
        byte[] archive = Int8LinearArchive.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS, true);
        Files.write(dir.resolve("cut.pt"), java.util.Arrays.copyOf(archive, archive.length / 2));
        try (Model model = Model.newInstance("cut", "PyTorch")) {
            assertThrows(ai.djl.engine.EngineException.class, () -> model.load(dir));
        }
    }

    @Test
    void modelNameMustBeAnIdentifier(@TempDir Path dir) {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> Int8LinearArchive.save(new byte[0], dir, "../x"));
        assertEquals("modelName was '../x', must match [A-Za-z_][A-Za-z0-9_]*", e.getMessage());
    }

    @Test
    void unwritableFolderGivesTheCheckedException(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("plain-file");
        Files.write(file, new byte[] {1});
        assertThrows(
                QuantizationException.class,
                () -> Int8LinearArchive.save(new byte[] {1}, file, "m"));
    }
}
