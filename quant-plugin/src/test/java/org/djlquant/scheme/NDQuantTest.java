package org.djlquant.scheme;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * NDArray operations agree bit for bit with the float[] reference and manage memory as documented.
 */
class NDQuantTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    static Stream<Arguments> layouts() {
        return Stream.of(
                Arguments.of(new long[] {5, 7}, Granularity.perTensor()),
                Arguments.of(new long[] {5, 7}, Granularity.perChannel(0)),
                Arguments.of(new long[] {5, 7}, Granularity.perChannel(1)),
                Arguments.of(new long[] {2, 3, 4}, Granularity.perChannel(1)),
                Arguments.of(new long[] {2, 3, 4}, Granularity.perChannel(2)),
                Arguments.of(new long[] {4, 16}, Granularity.perGroup(1, 4)),
                Arguments.of(new long[] {3, 8}, Granularity.perGroup(1, 8)),
                Arguments.of(new long[] {6, 5}, Granularity.perGroup(0, 3)),
                Arguments.of(new long[] {2, 6, 3}, Granularity.perGroup(1, 2)));
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void ndArrayOpsMatchTheFloatReferenceBitForBit(long[] shape, Granularity g) {
        Random r = new Random(42);
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        for (QDataType t : QDataType.values()) {
            if (!t.isInteger()) {
                continue;
            }
            for (QScheme s : QScheme.values()) {
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (float) (r.nextGaussian() * 3 + (i % 3));
                }
                QSpec spec = new QSpec(t, s, g, false);
                try (NDArray a = manager.create(x, new Shape(shape))) {
                    float[][] mm = NDQuant.minMax(a, g);
                    QParams p = QuantMath.paramsFromMinMax(spec, mm[0], mm[1], g.paramShape(shape));
                    // widen inputs beyond the range to exercise clamping
                    float[] wide = x.clone();
                    for (int i = 0; i < n; i += 5) {
                        wide[i] *= 1.5f;
                    }
                    try (NDArray w = manager.create(wide, new Shape(shape));
                            NDArray q = NDQuant.quantize(w, p);
                            NDArray fq = NDQuant.fakeQuantize(w, p);
                            NDArray dq = NDQuant.dequantize(q, p)) {
                        long[] qRef = QuantMath.quantize(wide, shape, p);
                        assertArrayEquals(qRef, PyTorchReferenceTest.toLongs(q.toFloatArray()));
                        PyTorchReferenceTest.assertBitsEqual(
                                QuantMath.fakeQuantize(wide, shape, p), fq.toFloatArray());
                        PyTorchReferenceTest.assertBitsEqual(
                                QuantMath.dequantize(qRef, shape, p), dq.toFloatArray());
                        assertEquals(new Shape(shape), fq.getShape());
                        assertEquals(DataType.FLOAT32, q.getDataType());
                    }
                }
            }
        }
    }

    @Test
    void minMaxFollowsTheGranularity() {
        // [[1, -2, 3, 4], [5, 6, -7, 8]] by hand
        float[] x = {1, -2, 3, 4, 5, 6, -7, 8};
        try (NDArray a = manager.create(x, new Shape(2, 4))) {
            float[][] t = NDQuant.minMax(a, Granularity.perTensor());
            assertArrayEquals(new float[] {-7}, t[0]);
            assertArrayEquals(new float[] {8}, t[1]);
            float[][] c0 = NDQuant.minMax(a, Granularity.perChannel(0));
            assertArrayEquals(new float[] {-2, -7}, c0[0]);
            assertArrayEquals(new float[] {4, 8}, c0[1]);
            float[][] c1 = NDQuant.minMax(a, Granularity.perChannel(1));
            assertArrayEquals(new float[] {1, -2, -7, 4}, c1[0]);
            assertArrayEquals(new float[] {5, 6, 3, 8}, c1[1]);
            float[][] g = NDQuant.minMax(a, Granularity.perGroup(1, 2));
            assertArrayEquals(new float[] {-2, 3, 5, -7}, g[0]);
            assertArrayEquals(new float[] {1, 4, 6, 8}, g[1]);
        }
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void minMaxMatchesAPlainJavaLoopAlsoOnTensorsThatRecordGradients(long[] shape, Granularity g) {
        Random r = new Random(5);
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        long[] ps = g.paramShape(shape);
        int np = 1;
        for (long d : ps) {
            np *= (int) d;
        }
        // reference: each element's parameter index from its coordinates, in plain Java
        float[] mn = new float[np];
        float[] mx = new float[np];
        java.util.Arrays.fill(mn, Float.POSITIVE_INFINITY);
        java.util.Arrays.fill(mx, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < n; i++) {
            int rest = i;
            int[] coord = new int[shape.length];
            for (int d = shape.length - 1; d >= 0; d--) {
                coord[d] = rest % (int) shape[d];
                rest /= (int) shape[d];
            }
            int k = 0;
            switch (g.kind()) {
                case PER_TENSOR:
                    break;
                case PER_CHANNEL:
                    k = coord[g.axis()];
                    break;
                default:
                    // params [.., n / group, ..]: the group index replaces the axis coordinate
                    for (int d = 0; d < shape.length; d++) {
                        int c = d == g.axis() ? coord[d] / g.groupSize() : coord[d];
                        k = k * (int) ps[d] + c;
                    }
                    break;
            }
            mn[k] = Math.min(mn[k], x[i]);
            mx[k] = Math.max(mx[k], x[i]);
        }
        try (NDManager sub = manager.newSubManager()) {
            NDArray a = sub.create(x, new Shape(shape));
            a.setRequiresGradient(true);
            float[][] got;
            try (ai.djl.training.GradientCollector gc =
                    Engine.getEngine("PyTorch").newGradientCollector()) {
                got = NDQuant.minMax(a.mul(1f), g);
            }
            assertArrayEquals(mn, got[0], 0f, g.toString());
            assertArrayEquals(mx, got[1], 0f, g.toString());
        }
    }

    @Test
    void minMaxRefusesNaNAndInfinity() {
        try (NDArray a = manager.create(new float[] {1, Float.NaN, 3}, new Shape(3));
                NDArray b =
                        manager.create(new float[] {1, Float.NEGATIVE_INFINITY}, new Shape(2))) {
            assertThrows(
                    NonFiniteValueException.class,
                    () -> NDQuant.minMax(a, Granularity.perTensor()));
            assertThrows(
                    NonFiniteValueException.class,
                    () -> NDQuant.minMax(b, Granularity.perChannel(0)));
        }
    }

    @Test
    void resultsAreNewArraysOfTheInputsManagerAndInputsAreUntouched() {
        float[] x = {-1f, 0.26f, 0.74f, 2f};
        QParams p = QuantMath.paramsFromMinMax(QSpec.uint8AffinePerTensor(), -1f, 2f);
        try (NDManager sub = manager.newSubManager();
                NDArray a = sub.create(x)) {
            NDArray fq = NDQuant.fakeQuantize(a, p);
            assertNotSame(a, fq);
            assertTrue(fq.getManager() == sub, "returned array belongs to the input's manager");
            assertArrayEquals(x, a.toFloatArray(), 0f);
            fq.close();
            fq.close(); // closing twice is harmless
        }
    }

    @Test
    void integerInputsAreDequantizedAfterConversionToFloat() {
        QParams p = QParams.perTensor(QSpec.uint8AffinePerTensor(), 0.5f, 10);
        try (NDArray q = manager.create(new int[] {0, 10, 11, 255});
                NDArray d = NDQuant.dequantize(q, p)) {
            // (q - 10) * 0.5 by hand
            assertArrayEquals(new float[] {-5f, 0f, 0.5f, 122.5f}, d.toFloatArray(), 0f);
        }
    }
}
