package org.djlquant.observer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Properties of min/max observers on random batches, for every integer type and scheme: the
 * parameters they compute fake-quantize every observed value with error at most {@code s / 2}; a
 * per-channel observer agrees with per-tensor observers run on each channel slice.
 */
class ObserverPropertiesTest {

    private static NDManager manager;

    @BeforeContainer
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterContainer
    static void stop() {
        manager.close();
    }

    @Provide
    Arbitrary<QSpec> specs() {
        return Arbitraries.of(
                        Arrays.stream(QDataType.values())
                                .filter(QDataType::isInteger)
                                .toArray(QDataType[]::new))
                .flatMap(
                        t ->
                                Arbitraries.of(QScheme.class)
                                        .map(s -> new QSpec(t, s, Granularity.perTensor(), false)));
    }

    private static float[][] batches(long seed, int count, int size) {
        Random r = new Random(seed);
        double mag = Math.pow(10, r.nextInt(7) - 3);
        double shift = r.nextGaussian() * mag;
        float[][] b = new float[count][size];
        for (float[] v : b) {
            for (int i = 0; i < size; i++) {
                v[i] = (float) (shift + r.nextGaussian() * mag);
            }
        }
        return b;
    }

    @Property(tries = 300)
    void minMaxParamsFakeQuantizeEveryObservedValueWithinHalfAScale(
            @ForAll("specs") QSpec spec, @ForAll long seed) {
        Observer o = Observers.minMax(spec).get();
        float[][] b = batches(seed, 3, 32);
        for (float[] v : b) {
            try (NDArray x = manager.create(v, new Shape(4, 8))) {
                o.observe(x);
            }
        }
        QParams p = o.computeParams();
        for (float[] v : b) {
            float[] fq = QuantMath.fakeQuantize(v, new long[] {4, 8}, p);
            for (int i = 0; i < v.length; i++) {
                double err = Math.abs((double) fq[i] - v[i]);
                double bound = p.scale() / 2.0 * (1 + 1e-4) + 2 * Math.ulp(v[i]);
                int at = i;
                assertTrue(
                        err <= bound,
                        () -> spec + ": value " + v[at] + " error " + err + " > " + bound);
            }
        }
    }

    @Property(tries = 100)
    void perChannelObserverAgreesWithPerTensorObserversOnEachChannel(
            @ForAll("specs") QSpec spec, @ForAll long seed) {
        QSpec pc = spec.withGranularity(Granularity.perChannel(1));
        Observer c = Observers.perChannelMovingAverageMinMax(pc, 0.25f).get();
        Observer[] t = new Observer[3];
        for (int k = 0; k < 3; k++) {
            t[k] = Observers.movingAverageMinMax(spec, 0.25f).get();
        }
        for (float[] v : batches(seed, 3, 12)) {
            try (NDArray x = manager.create(v, new Shape(4, 3))) {
                c.observe(x);
                for (int k = 0; k < 3; k++) {
                    try (NDArray col = x.get(":, " + k)) {
                        t[k].observe(col);
                    }
                }
            }
        }
        QParams p = c.computeParams();
        for (int k = 0; k < 3; k++) {
            QParams pt = t[k].computeParams();
            assertEquals(pt.scale(), p.scaleAt(k), spec.toString());
            assertEquals(pt.zeroPoint(), p.zeroPointAt(k), spec.toString());
            assertArrayEquals(t[k].observedRange()[0], new float[] {c.observedRange()[0][k]});
        }
    }
}
