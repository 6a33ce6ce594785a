package org.djlquant.observer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The histogram observer bins large batches from a deterministic strided subsample (min/max from
 * the whole tensor). These tests pin the stride rule by hand and check that the subsample changes
 * the chosen parameters by sampling noise only, measured against the same observer binning every
 * element.
 */
class HistogramSubsampleTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    @Test
    void strideIsTheSmallestCoprimeStepThatKeepsSamplesUnderTheCap() {
        // 786432 = 2^18 * 3: ceil(786432 / 65536) = 12 shares 2 and 3, 13 is coprime
        assertEquals(13, HistogramObserver.stride(786_432, 65_536));
        // 3145728 = 2^20 * 3: 48 shares factors, 49 = 7^2 is coprime
        assertEquals(49, HistogramObserver.stride(3_145_728, 65_536));
        // 100 = 2^2 * 5^2: 10 shares both, 11 is coprime
        assertEquals(11, HistogramObserver.stride(100, 10));
        // 1001 = 7 * 11 * 13, cap 1000: ceil = 2, coprime
        assertEquals(2, HistogramObserver.stride(1001, 1000));
    }

    @Test
    void subsampleVisitsEveryChannelOfTheLastAxis() {
        // [64, 768], element (r, c) = c: a stride of 12 (768 = 12 * 64) would only ever see
        // channels 0, 12, 24, ...; the coprime stride 13 must see all 768
        int rows = 64;
        int channels = 768;
        float[] v = new float[rows * channels];
        for (int i = 0; i < v.length; i++) {
            v[i] = i % channels;
        }
        try (NDArray x = manager.create(v, new Shape(rows, channels))) {
            float[] s = HistogramObserver.sample(x, x.size(), 4096);
            assertEquals(13, HistogramObserver.stride(v.length, 4096));
            assertEquals((v.length + 12) / 13, s.length);
            Set<Float> seen = new HashSet<>();
            for (int i = 0; i < s.length; i++) {
                assertEquals(v[i * 13], s[i], 0f, "sample " + i);
                seen.add(s[i]);
            }
            assertEquals(channels, seen.size(), "channels seen");
            float[] all = HistogramObserver.sample(x, x.size(), v.length);
            assertEquals(v.length, all.length, "at or under the cap every element is binned");
        }
    }

    @Test
    void subsampledHistogramKeepsEveryBatchsMassAndTheExactRange() {
        Observer o =
                Observers.histogram(QSpec.int8AffinePerTensor(), HistogramMethod.MSE, 128, 99, 1000)
                        .get();
        Random r = new Random(3);
        float[] big = new float[50_000];
        for (int i = 0; i < big.length; i++) {
            big[i] = (float) r.nextGaussian();
        }
        big[12_345] = 40f; // not on the stride: only the native maximum can see it
        assertTrue(12_345 % HistogramObserver.stride(big.length, 1000) != 0);
        try (NDArray x = manager.create(big, new Shape(50, 1000));
                NDArray y = manager.create(new float[] {-1, 0, 1})) {
            o.observe(x);
            o.observe(y);
        }
        double total = 0;
        for (float c : o.saveState().get("histogram")) {
            total += c;
        }
        assertEquals(50_003, total, 0.05, "each batch counts with its element count");
        assertEquals(40f, o.observedRange()[1][0], 0f);
        assertEquals(40f, o.saveState().get("histogramRange")[1], 0f);
    }

    @Test
    void subsampledParamsQuantizeAsWellAsTheFullHistogramOnALargeActivation() {
        // BERT-like activation [8, 128, 768]: Gaussian with a few outlier channels (as in
        // transformer hidden states), two batches; the default cap bins 60,496 of 786,432 values
        int b = 8;
        int t = 128;
        int h = 768;
        Random r = new Random(17);
        float[][] batches = new float[2][b * t * h];
        for (float[] x : batches) {
            for (int i = 0; i < x.length; i++) {
                int c = i % h;
                double sd = c == 77 || c == 300 ? 8 : 1;
                x[i] = (float) (r.nextGaussian() * sd + (c == 300 ? 3 : 0));
            }
        }
        long[] shape = {b, t, h};
        for (QSpec spec :
                new QSpec[] {QSpec.uint8AffinePerTensor(), QSpec.int8SymmetricPerTensor()}) {
            // ENTROPY bins every element by default (its KL search reacts to a subsample's empty
            // tail bins: a 14% narrower range and 1.6x the error on this data, measured)
            for (HistogramMethod m :
                    new HistogramMethod[] {HistogramMethod.PERCENTILE, HistogramMethod.MSE}) {
                Observer sub = Observers.histogram(spec, m).get();
                Observer full =
                        Observers.histogram(
                                        spec,
                                        m,
                                        Observers.DEFAULT_BINS,
                                        Observers.DEFAULT_PERCENTILE,
                                        Long.MAX_VALUE)
                                .get();
                for (float[] x : batches) {
                    try (NDArray a = manager.create(x, new Shape(shape))) {
                        sub.observe(a);
                        full.observe(a);
                    }
                }
                QParams ps = sub.computeParams();
                QParams pf = full.computeParams();
                double es = HistogramPyTorchComparisonTest.mse(batches, shape, ps);
                double ef = HistogramPyTorchComparisonTest.mse(batches, shape, pf);
                String msg =
                        spec + " " + m + ": sub " + ps + " mse " + es + ", full " + pf + " " + ef;
                System.out.println(msg);
                assertTrue(es <= ef * 1.05, msg);
                double ratio = ps.scale() / pf.scale();
                assertTrue(ratio > 0.9 && ratio < 1.1, msg);
            }
        }
    }

    @Test
    void entropyBinsEveryElementByDefaultAndTheOthersAreCapped() {
        QSpec u8 = QSpec.uint8AffinePerTensor();
        assertTrue(
                !Observers.histogram(u8, HistogramMethod.ENTROPY)
                        .get()
                        .toString()
                        .contains("maxSamples"));
        assertTrue(
                Observers.histogram(u8, HistogramMethod.MSE)
                        .get()
                        .toString()
                        .contains("maxSamples=65536"));
        assertTrue(
                Observers.histogram(u8, HistogramMethod.PERCENTILE)
                        .get()
                        .toString()
                        .contains("maxSamples=65536"));
    }

    @Test
    void capBelowTheBinCountIsRefused() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                Observers.histogram(
                                        QSpec.uint8AffinePerTensor(),
                                        HistogramMethod.MSE,
                                        2048,
                                        99.9,
                                        100));
        assertTrue(e.getMessage().contains("maxSamples was 100, must be >= bins (2048)"));
    }

    @Test
    void smallBatchesAreBinnedWholeSoTheCapChangesNothing() {
        Random r = new Random(5);
        float[] v = new float[4096];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        Observer capped =
                Observers.histogram(QSpec.uint8AffinePerTensor(), HistogramMethod.MSE).get();
        Observer whole =
                Observers.histogram(
                                QSpec.uint8AffinePerTensor(),
                                HistogramMethod.MSE,
                                Observers.DEFAULT_BINS,
                                Observers.DEFAULT_PERCENTILE,
                                Long.MAX_VALUE)
                        .get();
        try (NDArray x = manager.create(v, new Shape(64, 64))) {
            capped.observe(x);
            whole.observe(x);
        }
        assertEquals(whole.computeParams(), capped.computeParams());
        assertEquals(whole.saveState(), capped.saveState());
    }
}
