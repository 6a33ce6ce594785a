package org.djlquant.scheme;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Properties of the reference math for every integer data type, scheme, reduced range and
 * granularity (per tensor, per channel, per group): round-trip error at most {@code s/2} inside the
 * representable range, idempotent fake quantization, monotone quantization.
 */
class QuantMathPropertiesTest {

    /** One generated case: a spec, per-channel ranges and data of shape [channels, n]. */
    record Case(QSpec spec, long[] shape, float[] min, float[] max, float[] x) {
        @Override
        public String toString() {
            return spec
                    + " shape="
                    + Arrays.toString(shape)
                    + " min="
                    + Arrays.toString(min)
                    + " max="
                    + Arrays.toString(max)
                    + " x="
                    + Arrays.toString(x);
        }
    }

    @Provide
    Arbitrary<Case> cases() {
        Arbitrary<QDataType> dtypes =
                Arbitraries.of(
                        Arrays.stream(QDataType.values())
                                .filter(QDataType::isInteger)
                                .toArray(QDataType[]::new));
        Arbitrary<QScheme> schemes = Arbitraries.of(QScheme.class);
        Arbitrary<Boolean> reduce = Arbitraries.of(false, true);
        Arbitrary<Integer> granularity = Arbitraries.of(0, 1, 2); // tensor, channel, group
        Arbitrary<Integer> channels = Arbitraries.integers().between(1, 4);
        Arbitrary<Long> seeds = Arbitraries.longs();
        return Combinators.combine(dtypes, schemes, reduce, granularity, channels, seeds)
                .as(QuantMathPropertiesTest::make);
    }

    private static Case make(QDataType t, QScheme s, boolean reduce, int gran, int c, long seed) {
        boolean rr = reduce && t.supportsReduceRange();
        java.util.Random r = new java.util.Random(seed);
        int n = 16;
        int group = 4 << r.nextInt(3); // 4, 8, 16
        Granularity g =
                gran == 0
                        ? Granularity.perTensor()
                        : gran == 1 ? Granularity.perChannel(0) : Granularity.perGroup(1, group);
        boolean perChannel = gran != 0;
        int rows = perChannel ? c : 1;
        int channels = gran == 2 ? rows * (n / group) : rows;
        QSpec spec = new QSpec(t, s, g, rr);
        float[] mn = new float[channels];
        float[] mx = new float[channels];
        for (int i = 0; i < channels; i++) {
            double mag = Math.pow(10, r.nextInt(9) - 4); // 1e-4 .. 1e4
            float a = (float) (r.nextGaussian() * mag);
            float b = (float) (r.nextGaussian() * mag);
            if (r.nextInt(10) == 0) {
                b = a; // constant channel
            }
            mn[i] = Math.min(a, b);
            mx[i] = Math.max(a, b);
        }
        long[] shape = perChannel ? new long[] {rows, n} : new long[] {n};
        QParams p = QuantMath.paramsFromMinMax(spec, mn, mx, g.paramShape(shape));
        Case c0 = new Case(spec, shape, mn, mx, new float[rows * n]);
        float[] x = c0.x();
        for (int i = 0; i < x.length; i++) {
            int k = paramIndex(c0, i);
            double lo = p.scaleAt(k) * (double) (spec.qmin() - p.zeroPointAt(k));
            double hi = p.scaleAt(k) * (double) (spec.qmax() - p.zeroPointAt(k));
            double u = r.nextInt(8) == 0 ? r.nextInt(2) : r.nextDouble();
            x[i] = (float) Math.max(lo, Math.min(hi, lo + u * (hi - lo)));
        }
        return c0;
    }

    private static QParams params(Case c) {
        return QuantMath.paramsFromMinMax(
                c.spec(), c.min(), c.max(), c.spec().granularity().paramShape(c.shape()));
    }

    /** Row-major parameter index of element i (groups are consecutive along the last axis). */
    private static int paramIndex(Case c, int i) {
        Granularity g = c.spec().granularity();
        switch (g.kind()) {
            case PER_TENSOR:
                return 0;
            case PER_CHANNEL:
                return (int) (i / c.shape()[1]);
            default:
                return i / g.groupSize();
        }
    }

    @Property(tries = 2000)
    void roundTripErrorIsAtMostHalfAScaleInsideTheRange(@ForAll("cases") Case c) {
        QParams p = params(c);
        float[] fq = QuantMath.fakeQuantize(c.x(), c.shape(), p);
        for (int i = 0; i < fq.length; i++) {
            float s = p.scaleAt(paramIndex(c, i));
            double err = Math.abs((double) fq[i] - c.x()[i]);
            // s/2 plus the float32 rounding of x * (1/s) (relative 2^-22 of |x/s| <= 256 levels)
            // and of (q - z) * s
            double bound = s / 2.0 * (1 + 1e-4) + 2 * Math.ulp(c.x()[i]);
            assertTrue(err <= bound, () -> "err " + err + " > " + bound + " at " + c);
        }
    }

    @Property(tries = 2000)
    void fakeQuantizeIsIdempotent(@ForAll("cases") Case c) {
        QParams p = params(c);
        float[] once = QuantMath.fakeQuantize(c.x(), c.shape(), p);
        float[] twice = QuantMath.fakeQuantize(once, c.shape(), p);
        assertArrayEquals(once, twice, 0f, c::toString);
    }

    @Property(tries = 2000)
    void quantizeIsMonotone(@ForAll("cases") Case c) {
        QParams p = params(c);
        // sort each run of elements sharing parameters (a group, a channel row, the tensor)
        Granularity g = c.spec().granularity();
        int len =
                g.kind() == Granularity.Kind.PER_GROUP
                        ? g.groupSize()
                        : g.kind() == Granularity.Kind.PER_CHANNEL
                                ? (int) c.shape()[1]
                                : c.x().length;
        float[] sorted = c.x().clone();
        for (int from = 0; from < sorted.length; from += len) {
            Arrays.sort(sorted, from, from + len);
        }
        long[] q = QuantMath.quantize(sorted, c.shape(), p);
        for (int i = 1; i < q.length; i++) {
            if (i % len != 0) {
                int at = i;
                assertTrue(q[at - 1] <= q[at], () -> "not monotone at " + at + " " + c);
            }
        }
    }

    @Property(tries = 2000)
    void quantizedValuesStayInTheIntegerRangeAndZeroIsExact(@ForAll("cases") Case c) {
        QParams p = params(c);
        long[] q = QuantMath.quantize(c.x(), c.shape(), p);
        for (long v : q) {
            assertTrue(v >= c.spec().qmin() && v <= c.spec().qmax(), c::toString);
        }
        float[] zeros = new float[c.x().length];
        float[] fz = QuantMath.fakeQuantize(zeros, c.shape(), p);
        for (int i = 0; i < fz.length; i++) {
            long z = p.zeroPointAt(paramIndex(c, i));
            if (z >= c.spec().qmin() && z <= c.spec().qmax()) {
                assertEquals(0f, fz[i], c::toString);
            }
        }
    }

    @Property(tries = 500)
    void dequantizeInvertsQuantizeOnTheGrid(@ForAll("cases") Case c) {
        QParams p = params(c);
        long[] q = QuantMath.quantize(c.x(), c.shape(), p);
        float[] d = QuantMath.dequantize(q, c.shape(), p);
        assertArrayEquals(q, QuantMath.quantize(d, c.shape(), p), c::toString);
    }
}
