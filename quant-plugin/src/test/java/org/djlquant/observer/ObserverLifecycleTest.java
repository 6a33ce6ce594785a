package org.djlquant.observer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Observer lifecycle, hand-derived statistics and state persistence. */
class ObserverLifecycleTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static void feed(Observer o, float[] v, long... shape) {
        try (NDArray x = manager.create(v, new Shape(shape))) {
            o.observe(x);
            assertTrue(x.toFloatArray().length == v.length, "input stays open");
        }
    }

    private static List<Supplier<Observer>> all() {
        QSpec t = QSpec.uint8AffinePerTensor();
        QSpec c = QSpec.int8SymmetricPerChannel(0);
        return List.of(
                Observers.minMax(t),
                Observers.movingAverageMinMax(t, 0.5f),
                Observers.perChannelMinMax(c),
                Observers.perChannelMovingAverageMinMax(c, 0.5f),
                Observers.perChannelMinMax(QSpec.int4SymmetricPerGroup(1, 2)),
                Observers.histogram(t, HistogramMethod.PERCENTILE),
                Observers.histogram(t, HistogramMethod.ENTROPY),
                Observers.histogram(t, HistogramMethod.MSE, 64, 99.9));
    }

    @Test
    void minMaxKeepsRunningExtremes() {
        Observer o = Observers.minMax(QSpec.uint8AffinePerTensor()).get();
        assertFalse(o.hasData());
        feed(o, new float[] {-1, 2}, 2);
        feed(o, new float[] {0.5f, 3}, 2);
        assertArrayEquals(new float[] {-1}, o.observedRange()[0]);
        assertArrayEquals(new float[] {3}, o.observedRange()[1]);
        o.reset();
        assertFalse(o.hasData());
        assertThrows(IllegalStateException.class, o::computeParams);
    }

    @Test
    void movingAverageStartsAtTheFirstBatchThenMovesByMomentum() {
        Observer o = Observers.movingAverageMinMax(QSpec.uint8AffinePerTensor(), 0.5f).get();
        feed(o, new float[] {-1, 1}, 2);
        feed(o, new float[] {-3, 5}, 2);
        // -1 + 0.5 (-3 - -1) = -2; 1 + 0.5 (5 - 1) = 3
        assertArrayEquals(new float[] {-2}, o.observedRange()[0]);
        assertArrayEquals(new float[] {3}, o.observedRange()[1]);
    }

    @Test
    void perChannelAndPerGroupObserversKeepOneRangePerPosition() {
        Observer c = Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(1)).get();
        feed(c, new float[] {1, -2, 3, 4}, 2, 2); // [[1, -2], [3, 4]]
        assertArrayEquals(new float[] {1, -2}, c.observedRange()[0]);
        assertArrayEquals(new float[] {3, 4}, c.observedRange()[1]);
        Observer g = Observers.perChannelMinMax(QSpec.int4SymmetricPerGroup(1, 2)).get();
        feed(g, new float[] {1, -2, 3, 4}, 1, 4);
        QParams p = g.computeParams();
        assertArrayEquals(new long[] {1, 2}, p.paramShape());
        // max|x| / 7.5 per group
        assertArrayEquals(new float[] {2f / 7.5f, 4f / 7.5f}, p.scales());
    }

    @Test
    void everyObserverSavesAndLoadsItsStateThroughJson() {
        Random r = new Random(3);
        for (Supplier<Observer> f : all()) {
            Observer a = f.get();
            for (int b = 0; b < 3; b++) {
                float[] v = new float[16];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (r.nextGaussian() * (b + 1));
                }
                feed(a, v, 4, 4);
            }
            ObserverState s = a.saveState();
            ObserverState back = ObserverState.fromJson(s.toJson());
            assertEquals(s, back, a.toString());
            Observer c = f.get();
            assertNotSame(a, c, "factories make fresh observers");
            assertFalse(c.hasData());
            c.loadState(back);
            assertEquals(a.computeParams(), c.computeParams(), a.toString());
            assertArrayEquals(a.observedRange()[0], c.observedRange()[0]);
            Observer empty = f.get();
            empty.loadState(f.get().saveState());
            assertFalse(empty.hasData());
        }
    }

    @Test
    void histogramMemoryStaysBoundedAsTheRangeGrows() {
        Observer o =
                Observers.histogram(QSpec.int8AffinePerTensor(), HistogramMethod.MSE, 128, 99)
                        .get();
        for (int b = 1; b <= 50; b++) {
            feed(o, new float[] {-b, 0, b * 0.5f, b}, 4);
        }
        ObserverState s = o.saveState();
        assertEquals(128, s.get("histogram").length);
        double total = 0;
        for (float c : s.get("histogram")) {
            total += c;
        }
        assertEquals(200, total, 1e-3, "re-binning keeps every count");
        assertArrayEquals(new float[] {-50}, o.observedRange()[0]);
        assertArrayEquals(new float[] {50}, o.observedRange()[1]);
    }

    @Test
    void percentileClipsTheOutliersAndHundredPercentKeepsAll() {
        // 999 values evenly in [0, 1) and one outlier at 100
        float[] v = new float[1000];
        for (int i = 0; i < 999; i++) {
            v[i] = i / 999f;
        }
        v[999] = 100f;
        Observer p99 =
                Observers.histogram(
                                QSpec.uint8AffinePerTensor(), HistogramMethod.PERCENTILE, 2048, 99)
                        .get();
        feed(p99, v, 1000);
        float hi = p99.computeParams().scale() * 255;
        assertTrue(hi < 1.2f, "99th percentile range ends near 1, was " + hi);
        Observer all =
                Observers.histogram(
                                QSpec.uint8AffinePerTensor(), HistogramMethod.PERCENTILE, 2048, 100)
                        .get();
        feed(all, v, 1000);
        assertEquals(100f / 255f, all.computeParams().scale(), 1e-6f);
    }

    @Test
    void percentileAndEntropyClipAFarOutlierOfAGaussian() {
        Random r = new Random(11);
        float[] v = new float[20000];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        v[0] = 60f; // one far outlier
        for (HistogramMethod m :
                new HistogramMethod[] {HistogramMethod.PERCENTILE, HistogramMethod.ENTROPY}) {
            Observer o = Observers.histogram(QSpec.int8SymmetricPerTensor(), m).get();
            feed(o, v, v.length);
            float t = o.computeParams().scale() * 127.5f;
            assertTrue(t < 30f && t > 2f, m + " threshold was " + t + ", expected well below 60");
        }
    }

    @Test
    void mseClipsAGaussianForFourBitsNearTheKnownOptimum() {
        // For a unit Gaussian quantized to 16 levels the MSE-optimal clipping is about 2.5 sigma
        // (Banner et al., ACIQ, 2019); 8 bits keep much more of the range.
        Random r = new Random(5);
        float[] v = new float[50000];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        QSpec int4 =
                new QSpec(
                        org.djlquant.scheme.QDataType.INT4,
                        org.djlquant.scheme.QScheme.SYMMETRIC,
                        org.djlquant.scheme.Granularity.perTensor(),
                        false);
        Observer o = Observers.histogram(int4, HistogramMethod.MSE).get();
        feed(o, v, v.length);
        float t = o.computeParams().scale() * 7.5f;
        assertTrue(t > 2.0f && t < 3.2f, "INT4 clipping threshold was " + t);
        Observer o8 =
                Observers.histogram(QSpec.int8SymmetricPerTensor(), HistogramMethod.MSE).get();
        feed(o8, v, v.length);
        float t8 = o8.computeParams().scale() * 127.5f;
        assertTrue(t8 > t, "INT8 threshold " + t8 + " should exceed INT4's " + t);
    }
}
