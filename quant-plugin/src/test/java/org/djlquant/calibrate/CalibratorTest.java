package org.djlquant.calibrate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.NonFiniteActivationException;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.ShapeMismatchException;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.Twins;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;

class CalibratorTest {

    static QConfig staticMinMax() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                .build();
    }

    static Model preparedModel(int in) {
        Model model = Model.newInstance("mlp", "PyTorch");
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(8).build());
        net.add(Activation::relu);
        net.add(Linear.builder().setUnits(4).build());
        model.setBlock(net);
        net.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, in));
        Preparer.prepare(model, QConfigMapping.global(staticMinMax()));
        return model;
    }

    static List<NDList> batches(NDManager m, int n, int in) {
        List<NDList> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new NDList(m.create(new float[] {i, -i, 0.5f * i, 1, 2, 3}, new Shape(2, in))));
        }
        return out;
    }

    @Test
    void calibratesFromAnIterableAndRecordsTheTrueInputRange() {
        try (Model model = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            Calibrator c = Calibrator.builder().setModel(model).optProgress(null).build();
            CalibrationSummary s = c.calibrate(batches(m, 5, 3));
            assertEquals(5, s.batches());
            assertEquals(2, s.layers());
            // inputs of the first layer: values i, -i, 0.5 i, 1, 2, 3 for i = 0..4
            float[][] range =
                    Twins.find(model.getBlock())
                            .get(0)
                            .control()
                            .observers()
                            .get(TwinControl.INPUT)
                            .observedRange();
            assertArrayEquals(new float[] {-4f}, range[0], 0f);
            assertArrayEquals(new float[] {4f}, range[1], 0f);
            assertEquals(2, Twins.computeParams(model.getBlock()).size());
        }
    }

    @Test
    void observerStatesSaveAndLoadIntoAModelPreparedTheSameWay() {
        try (Model a = preparedModel(3);
                Model b = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            Calibrator.builder().setModel(a).optProgress(null).build().calibrate(batches(m, 4, 3));
            String json = Twins.saveObserverStates(a.getBlock());
            Twins.loadObserverStates(b.getBlock(), json);
            assertEquals(
                    Twins.computeParams(a.getBlock()).get("03Linear").get(TwinControl.INPUT),
                    Twins.computeParams(b.getBlock()).get("03Linear").get(TwinControl.INPUT));
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> Twins.loadObserverStates(b.getBlock(), "{\"09Linear\": {}}"));
            assertTrue(e.getMessage().contains("09Linear"), e.getMessage());
            assertTrue(e.getMessage().contains("01Linear"), e.getMessage());
        }
    }

    @Test
    void calibratesFromADjlDataset() throws Exception {
        try (Model model = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray data = m.randomUniform(-1, 1, new Shape(10, 3));
            ArrayDataset ds =
                    new ArrayDataset.Builder()
                            .setData(data)
                            .optLabels(m.zeros(new Shape(10)))
                            .setSampling(4, false)
                            .build();
            CalibrationSummary s =
                    Calibrator.builder().setModel(model).optProgress(null).build().calibrate(ds);
            assertEquals(3, s.batches());
        }
    }

    /** The user's own translator: float[] in, float[] out. */
    static final class UserTranslator implements Translator<float[], float[]> {
        @Override
        public NDList processInput(TranslatorContext ctx, float[] input) {
            return new NDList(ctx.getNDManager().create(input));
        }

        @Override
        public float[] processOutput(TranslatorContext ctx, NDList list) {
            return list.head().toFloatArray();
        }
    }

    @Test
    void liveTrafficIsObservedThroughTheUsersOwnTranslator() throws Exception {
        try (Model model = preparedModel(3)) {
            Twins.setObserving(model.getBlock(), false);
            CalibratingTranslator<float[], float[]> t =
                    new CalibratingTranslator<>(new UserTranslator());
            try (Predictor<float[], float[]> p = model.newPredictor(t)) {
                float[] y = p.predict(new float[] {1, 2, 3});
                assertEquals(4, y.length);
                p.predict(new float[] {-7, 2, 3});
            }
            assertEquals(2, t.observedInputs());
            t.stop();
            float[][] range =
                    Twins.find(model.getBlock())
                            .get(0)
                            .control()
                            .observers()
                            .get(TwinControl.INPUT)
                            .observedRange();
            assertArrayEquals(new float[] {-7f}, range[0], 0f);
            assertFalse(Twins.find(model.getBlock()).get(0).control().isObserving());
        }
    }

    @Test
    void nanInABatchStopsCalibrationNamingLayerAndBatch() {
        try (Model model = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<NDList> data = batches(m, 5, 3);
            data.set(
                    3,
                    new NDList(m.create(new float[] {1, Float.NaN, 0, 1, 2, 3}, new Shape(2, 3))));
            NonFiniteActivationException e =
                    assertThrows(
                            NonFiniteActivationException.class,
                            () ->
                                    Calibrator.builder()
                                            .setModel(model)
                                            .optProgress(null)
                                            .build()
                                            .calibrate(data));
            assertEquals(3, e.batchIndex());
            assertEquals("01Linear", e.path());
            assertTrue(e.getMessage().contains("batch 3"), e.getMessage());
            assertTrue(e.getMessage().contains("01Linear"), e.getMessage());
        }
    }

    @Test
    void zeroBatchesIsAnError() {
        try (Model model = preparedModel(3)) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    Calibrator.builder()
                                            .setModel(model)
                                            .optProgress(null)
                                            .build()
                                            .calibrate(List.of()));
            assertTrue(e.getMessage().contains("0 batches"), e.getMessage());
        }
    }

    @Test
    void computingParamsBeforeCalibratingIsAnErrorThatSaysSo() {
        try (Model model = preparedModel(3)) {
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () -> Twins.computeParams(model.getBlock()));
            assertTrue(e.getMessage().contains("01Linear"), e.getMessage());
            assertTrue(e.getMessage().contains("calibrate first"), e.getMessage());
        }
    }

    @Test
    void mismatchedShapeNamesLayerGivenAndAllowed() {
        try (Model model = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<NDList> data = batches(m, 2, 3);
            data.add(new NDList(m.ones(new Shape(2, 5))));
            ShapeMismatchException e =
                    assertThrows(
                            ShapeMismatchException.class,
                            () ->
                                    Calibrator.builder()
                                            .setModel(model)
                                            .optProgress(null)
                                            .build()
                                            .calibrate(data));
            assertEquals("01Linear", e.path());
            assertTrue(e.getMessage().contains("(2, 5)"), e.getMessage());
            assertTrue(e.getMessage().contains("3)"), e.getMessage());
            assertTrue(e.getMessage().contains("batch 2"), e.getMessage());
        }
    }

    /**
     * 10,000 small batches do not grow native memory. Two measurements: (1) exact: the number of
     * live NDArrays under the model's manager is the same before and after; (2) resident memory:
     * after a 10,000-batch warm-up (so the Java heap reaches its steady size), VmRSS from
     * /proc/self/status minus the committed Java heap grows by less than 16 MiB over another 10,000
     * batches. The same forwards without per-batch managers leave 20,000 extra arrays (about 62 MiB
     * of resident memory on the development machine).
     */
    @Test
    void nativeMemoryDoesNotGrowOver10000Batches() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(
                Files.isReadable(Paths.get("/proc/self/status")), "needs /proc (Linux)");
        try (Model model = preparedModel(3);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            Calibrator c = Calibrator.builder().setModel(model).optProgress(null).build();
            int arraysBefore = model.getNDManager().getManagedArrays().size();
            c.calibrate(generated(m, 10_000));
            assertEquals(arraysBefore, model.getNDManager().getManagedArrays().size());
            long[] before = residentAndHeap();
            CalibrationSummary s = c.calibrate(generated(m, 10_000));
            long[] after = residentAndHeap();
            assertEquals(10_000, s.batches());
            assertEquals(arraysBefore, model.getNDManager().getManagedArrays().size());
            assertEquals(0, m.getManagedArrays().size());
            long growth = (after[0] - after[1]) - (before[0] - before[1]);
            System.err.printf(
                    "calibration memory: RSS %d -> %d MiB, committed heap %d -> %d MiB,"
                            + " native growth %d KiB, %d ms for 10,000 batches%n",
                    before[0] >> 20,
                    after[0] >> 20,
                    before[1] >> 20,
                    after[1] >> 20,
                    growth >> 10,
                    s.millis());
            assertTrue(growth < 16L << 20, "native memory grew by " + (growth >> 10) + " KiB");
        }
    }

    /** Batches created lazily in the caller's manager; the calibrator owns and closes them. */
    private static Iterable<NDList> generated(NDManager m, int n) {
        return () ->
                new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < n;
                    }

                    @Override
                    public NDList next() {
                        i++;
                        return new NDList(m.randomUniform(-1, 1, new Shape(4, 3)));
                    }
                };
    }

    private static long[] residentAndHeap() throws IOException {
        System.gc();
        long heap = Runtime.getRuntime().totalMemory();
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                long kb = Long.parseLong(line.replaceAll("[^0-9]", ""));
                return new long[] {kb * 1024, heap};
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
