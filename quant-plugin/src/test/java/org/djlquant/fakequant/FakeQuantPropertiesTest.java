package org.djlquant.fakequant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Properties of the fake quantization, per tensor (the clip form) and per channel / per group (the
 * {@code where} form), on random parameters and inputs built to hit the hard cases: exact {@code
 * .5} ties, the range ends {@code lo} and {@code hi}, one ulp inside and outside them, {@code -0},
 * tiny values that round to 0 and far outliers. The forward value must equal {@link
 * QuantMath#fakeQuantize} (the plain-Java reference) bit for bit, {@code +0} and {@code -0} told
 * apart; the gradient must be exactly 1 for {@code lo <= x <= hi} and exactly 0 outside, computed
 * from the definition in plain Java.
 */
class FakeQuantPropertiesTest {

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

    /** Random parameters: scale over 8 decades, zero point anywhere in the integer range. */
    private static QParams params(QSpec spec, Random r) {
        float s = (float) (Math.pow(10, r.nextDouble() * 8 - 6) * (1 + r.nextDouble()));
        long z =
                spec.scheme() == QScheme.SYMMETRIC
                        ? (spec.qmin() + spec.qmax() + 1) / 2
                        : spec.qmin() + (long) (r.nextDouble() * (spec.qmax() - spec.qmin() + 1));
        z = Math.max(spec.qmin(), Math.min(spec.qmax(), z));
        if (spec.scheme() == QScheme.SYMMETRIC && spec.qmin() < 0) {
            z = 0;
        }
        return QParams.perTensor(spec, s, z);
    }

    private static float[] hardInputs(QParams p, Random r) {
        float s = p.scale();
        long z = p.zeroPoint();
        float lo = (float) (p.spec().qmin() - z) * s;
        float hi = (float) (p.spec().qmax() - z) * s;
        float[] x = new float[256];
        int i = 0;
        for (float e : new float[] {lo, hi}) {
            x[i++] = e;
            x[i++] = Math.nextUp(e);
            x[i++] = Math.nextDown(e);
            x[i++] = e * 3;
        }
        x[i++] = -0.0f;
        x[i++] = 0.0f;
        x[i++] = -0.3f * s;
        x[i++] = 0.3f * s;
        x[i++] = Float.MIN_VALUE;
        x[i++] = -Float.MIN_VALUE;
        while (i < x.length) {
            long k =
                    p.spec().qmin()
                            - z
                            + (long) (r.nextDouble() * (p.spec().qmax() - p.spec().qmin()));
            switch (r.nextInt(4)) {
                case 0: // an exact tie k + 0.5 in units of s (through the reciprocal)
                    x[i++] = (k + 0.5f) / (1.0f / s);
                    break;
                case 1: // next to a tie
                    x[i++] = Math.nextUp((k + 0.5f) * s);
                    break;
                case 2: // anywhere in (a bit beyond) the range
                    x[i++] = (float) ((lo - s) + r.nextDouble() * (hi - lo + 2 * s));
                    break;
                default: // small magnitudes of both signs
                    x[i++] = (float) (r.nextGaussian() * s);
                    break;
            }
        }
        return x;
    }

    @Property(tries = 300)
    void perTensorValueIsBitExactWithTheReference(@ForAll("specs") QSpec spec, @ForAll long seed) {
        Random r = new Random(seed);
        QParams p = params(spec, r);
        float[] x = hardInputs(p, r);
        float[] ref = QuantMath.fakeQuantize(x, new long[] {x.length}, p);
        try (NDManager m = manager.newSubManager()) {
            float[] out = FakeQuant.apply(m.create(x), p).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(
                        Float.floatToRawIntBits(ref[i]),
                        Float.floatToRawIntBits(out[i]),
                        p + " x=" + x[i] + " ref=" + ref[i] + " out=" + out[i]);
            }
        }
    }

    @Property(tries = 100)
    void perTensorGradientIsOneInsideTheClosedRangeAndZeroOutside(
            @ForAll("specs") QSpec spec, @ForAll long seed) {
        Random r = new Random(seed);
        QParams p = params(spec, r);
        float[] x = hardInputs(p, r);
        float lo = (float) (spec.qmin() - p.zeroPoint()) * p.scale();
        float hi = (float) (spec.qmax() - p.zeroPoint()) * p.scale();
        try (NDManager m = manager.newSubManager()) {
            NDArray in = m.create(x);
            in.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                gc.backward(FakeQuant.apply(in, p).sum());
            }
            float[] g = in.getGradient().toFloatArray();
            for (int i = 0; i < x.length; i++) {
                float expected = x[i] >= lo && x[i] <= hi ? 1f : 0f;
                assertEquals(
                        Float.floatToRawIntBits(expected),
                        Float.floatToRawIntBits(g[i]),
                        "x=" + x[i] + " range [" + lo + ", " + hi + "] of " + p);
            }
        }
    }

    @Provide
    Arbitrary<QSpec> channelSpecs() {
        return Arbitraries.of(
                        Arrays.stream(QDataType.values())
                                .filter(QDataType::isInteger)
                                .toArray(QDataType[]::new))
                .flatMap(
                        t ->
                                Arbitraries.of(QScheme.class)
                                        .flatMap(
                                                s ->
                                                        Arbitraries.of(
                                                                new QSpec(
                                                                        t,
                                                                        s,
                                                                        Granularity.perChannel(0),
                                                                        false),
                                                                new QSpec(
                                                                        t,
                                                                        s,
                                                                        Granularity.perChannel(1),
                                                                        false),
                                                                new QSpec(
                                                                        t,
                                                                        s,
                                                                        Granularity.perGroup(1, 8),
                                                                        false))));
    }

    /** A [rows, 64] tensor whose every channel (or group) holds the hard cases of its params. */
    private static final class ChannelCase {
        final QParams params;
        final long[] shape;
        final float[] x;
        final float[] lo;
        final float[] hi;

        ChannelCase(QSpec spec, int rows, Random r) {
            shape = new long[] {rows, 64};
            Granularity g = spec.granularity();
            int n;
            long[] paramShape;
            if (g.kind() == Granularity.Kind.PER_GROUP) {
                n = rows * 64 / g.groupSize();
                paramShape = new long[] {rows, 64 / g.groupSize()};
            } else {
                n = (int) shape[g.axis()];
                paramShape = new long[] {n};
            }
            float[] scales = new float[n];
            long[] zeros = new long[n];
            float[][] hard = new float[n][];
            for (int k = 0; k < n; k++) {
                QParams pk = params(spec.withGranularity(Granularity.perTensor()), r);
                scales[k] = pk.scale();
                zeros[k] = pk.zeroPoint();
                hard[k] = hardInputs(pk, r);
            }
            params = new QParams(spec, scales, zeros, paramShape);
            x = new float[rows * 64];
            lo = new float[x.length];
            hi = new float[x.length];
            // axis 0 and groups take the ends and their neighbours first; columns (axis 1) hold
            // only `rows` values each and start at a random case
            int[] used = new int[n];
            if (g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 1) {
                for (int k = 0; k < n; k++) {
                    used[k] = r.nextInt(hard[k].length);
                }
            }
            for (int i = 0; i < x.length; i++) {
                int row = i / 64;
                int col = i % 64;
                int k;
                if (g.kind() == Granularity.Kind.PER_GROUP) {
                    k = row * (64 / g.groupSize()) + col / g.groupSize();
                } else {
                    k = g.axis() == 0 ? row : col;
                }
                x[i] = hard[k][used[k]++ % hard[k].length];
                lo[i] = (float) (spec.qmin() - zeros[k]) * scales[k];
                hi[i] = (float) (spec.qmax() - zeros[k]) * scales[k];
            }
        }
    }

    @Property(tries = 200)
    void perChannelAndPerGroupValueIsBitExactWithTheReference(
            @ForAll("channelSpecs") QSpec spec,
            @ForAll @IntRange(min = 1, max = 5) int rows,
            @ForAll long seed) {
        ChannelCase c = new ChannelCase(spec, rows, new Random(seed));
        float[] ref = QuantMath.fakeQuantize(c.x, c.shape, c.params);
        try (NDManager m = manager.newSubManager()) {
            float[] out =
                    FakeQuant.apply(m.create(c.x, new Shape(c.shape)), c.params).toFloatArray();
            for (int i = 0; i < c.x.length; i++) {
                assertEquals(
                        Float.floatToRawIntBits(ref[i]),
                        Float.floatToRawIntBits(out[i]),
                        c.params + " i=" + i + " x=" + c.x[i] + " ref=" + ref[i] + " out="
                                + out[i]);
            }
        }
    }

    @Property(tries = 100)
    void perChannelAndPerGroupGradientIsOneInsideTheClosedRangeAndZeroOutside(
            @ForAll("channelSpecs") QSpec spec,
            @ForAll @IntRange(min = 1, max = 5) int rows,
            @ForAll long seed) {
        ChannelCase c = new ChannelCase(spec, rows, new Random(seed));
        try (NDManager m = manager.newSubManager()) {
            NDArray in = m.create(c.x, new Shape(c.shape));
            in.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                gc.backward(FakeQuant.apply(in, c.params).sum());
            }
            float[] g = in.getGradient().toFloatArray();
            for (int i = 0; i < c.x.length; i++) {
                float expected = c.x[i] >= c.lo[i] && c.x[i] <= c.hi[i] ? 1f : 0f;
                assertEquals(
                        Float.floatToRawIntBits(expected),
                        Float.floatToRawIntBits(g[i]),
                        "x=" + c.x[i] + " range [" + c.lo[i] + ", " + c.hi[i] + "] of " + c.params);
            }
        }
    }
}
