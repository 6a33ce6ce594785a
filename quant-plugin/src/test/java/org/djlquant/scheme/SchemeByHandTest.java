package org.djlquant.scheme;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Hand-derived expectations for data types, specs and parameters. */
class SchemeByHandTest {

    @Test
    void integerRangesAndReducedRangesAreTheDocumentedOnes() {
        long[][] expected = {
            // qmin, qmax, reduced qmin, reduced qmax (0,0 where not allowed)
            {-128, 127, -64, 63}, // INT8
            {0, 255, 0, 127}, // UINT8
            {-8, 7, -4, 3}, // INT4
            {0, 15, 0, 7}, // UINT4
            {-2, 1, 0, 0}, // INT2
            {0, 1, 0, 0}, // BINARY
            {-1, 1, 0, 0}, // TERNARY
        };
        QDataType[] types = {
            QDataType.INT8,
            QDataType.UINT8,
            QDataType.INT4,
            QDataType.UINT4,
            QDataType.INT2,
            QDataType.BINARY,
            QDataType.TERNARY
        };
        for (int i = 0; i < types.length; i++) {
            QDataType t = types[i];
            assertEquals(expected[i][0], t.qmin(false), t.name());
            assertEquals(expected[i][1], t.qmax(false), t.name());
            if (t.supportsReduceRange()) {
                assertEquals(expected[i][2], t.qmin(true), t.name());
                assertEquals(expected[i][3], t.qmax(true), t.name());
            }
        }
        assertEquals(2, QDataType.TERNARY.bits());
        assertEquals(1, QDataType.BINARY.bits());
        assertEquals(16, QDataType.BF16.bits());
        assertTrue(!QDataType.FP32.isInteger() && QDataType.INT4.isSigned());
        assertEquals(QDataType.BF16, QDataType.parse(" bf16 "));
        // float ranges: FP16 max 65504, BF16 max 0x7F7F0000, FP32 max
        assertEquals(65504.0, QDataType.FP16.maxFinite());
        assertEquals(Float.intBitsToFloat(0x7F7F0000), (float) QDataType.BF16.maxFinite());
        assertEquals(Float.MAX_VALUE, QDataType.FP32.maxFinite());
        assertEquals(127.0, QDataType.INT8.maxFinite());
        assertEquals(1.0 / 1024, QDataType.FP16.machineEpsilon());
        assertEquals(1.0 / 128, QDataType.BF16.machineEpsilon());
        assertEquals(Math.ulp(1f), QDataType.FP32.machineEpsilon());
    }

    @Test
    void int8SymmetricDividesByHalfTheIntegerSpanAsPyTorch() {
        // max(|-1|, |2|) / ((127 - -128) / 2) = 2 / 127.5
        QParams p = QuantMath.paramsFromMinMax(QSpec.int8SymmetricPerTensor(), -1f, 2f);
        assertEquals(2f / 127.5f, p.scale());
        assertEquals(0, p.zeroPoint());
        // the textbook 2^(b-1) - 1 = 127 divisor would give a different scale
        assertNotEquals(2f / 127f, p.scale());
        // UINT8 symmetric: zero point 128
        QSpec u8sym = new QSpec(QDataType.UINT8, QScheme.SYMMETRIC, Granularity.perTensor(), false);
        assertEquals(128, QuantMath.paramsFromMinMax(u8sym, -1f, 2f).zeroPoint());
    }

    @Test
    void affineParamsIncludeZeroAndRoundTheZeroPoint() {
        // s = (3 - -1) / 255; z = 0 - round(-1 / s) = round(63.75) = 64
        QParams p = QuantMath.paramsFromMinMax(QSpec.uint8AffinePerTensor(), -1f, 3f);
        assertEquals(4f / 255f, p.scale());
        assertEquals(64, p.zeroPoint());
        // all positive [2, 4] widens to [0, 4]: s = 4 / 255, z = 0
        QParams pos = QuantMath.paramsFromMinMax(QSpec.uint8AffinePerTensor(), 2f, 4f);
        assertEquals(4f / 255f, pos.scale());
        assertEquals(0, pos.zeroPoint());
        // all negative [-4, -2] widens to [-4, 0]: z = qmax
        QParams neg = QuantMath.paramsFromMinMax(QSpec.int8AffinePerTensor(), -4f, -2f);
        assertEquals(127, neg.zeroPoint());
    }

    @Test
    void constantAndAllZeroTensorsNeverGiveScaleZero() {
        for (QSpec spec :
                new QSpec[] {
                    QSpec.uint8AffinePerTensor(),
                    QSpec.int8SymmetricPerTensor(),
                    QSpec.int8AffinePerTensor()
                }) {
            QParams zero = QuantMath.paramsFromMinMax(spec, 0f, 0f);
            assertEquals(QuantMath.EPS, zero.scale(), spec.toString());
            assertEquals(Math.ulp(1f), QuantMath.EPS);
            float[] fq = QuantMath.fakeQuantize(new float[] {0f, 0f}, new long[] {2}, zero);
            assertArrayEquals(new float[] {0f, 0f}, fq);
            QParams c = QuantMath.paramsFromMinMax(spec, 1e-9f, 1e-9f);
            assertTrue(c.scale() >= QuantMath.EPS);
        }
    }

    @Test
    void quantizeRoundsHalfToEvenAndClamps() {
        QParams p = QParams.perTensor(QSpec.int8AffinePerTensor(), 1f, 0);
        long[] q =
                QuantMath.quantize(
                        new float[] {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300f, -300f},
                        new long[] {7},
                        p);
        assertArrayEquals(new long[] {0, 2, 2, 0, -2, 127, -128}, q);
    }

    @Test
    void perGroupParamsHaveTheGroupedShape() {
        QSpec spec = QSpec.int4SymmetricPerGroup(1, 4);
        // weight [2, 8], groups of 4 along axis 1 -> params [2, 2]
        float[] w = {1, -2, 3, -7.5f, 0.5f, 0.25f, -0.125f, 0, 15, 15, 15, 15, -1, 1, -1, 1};
        assertArrayEquals(new long[] {2, 2}, spec.granularity().paramShape(new long[] {2, 8}));
        float[] mn = {-7.5f, -0.125f, 15, -1};
        float[] mx = {3, 0.5f, 15, 1};
        QParams p = QuantMath.paramsFromMinMax(spec, mn, mx, new long[] {2, 2});
        // INT4 symmetric: s = max|x| / ((7 - -8) / 2) = max|x| / 7.5
        assertArrayEquals(new float[] {1f, 0.5f / 7.5f, 2f, 1f / 7.5f}, p.scales());
        long[] q = QuantMath.quantize(w, new long[] {2, 8}, p);
        // -7.5 / 1 -> -8 (half to even); 15 / 2 = 7.5 -> 8 -> clamped to 7
        assertEquals(-8, q[3]);
        assertEquals(7, q[8]);
        assertEquals(3, q[2]);
    }

    @Test
    void paramsAreValuesComparedByContent() {
        QParams a = QParams.perTensor(QSpec.uint8AffinePerTensor(), 0.5f, 3);
        QParams b = QParams.perTensor(QSpec.uint8AffinePerTensor(), 0.5f, 3);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertTrue(a.toString().contains("scales=[0.5]"), a.toString());
        float[] s = a.scales();
        s[0] = 9f;
        assertEquals(0.5f, a.scale(), "arrays are copied out");
        assertEquals(QSpec.uint8AffinePerTensor(), QSpec.uint8AffinePerTensor());
    }
}
