package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * INT8 linear layers against values derived by hand and against plain-Java references computed from
 * the same quantized weights. Runs on fbgemm, x86 and qnnpack (qnnpack on x86 checks correctness,
 * not ARM speed).
 */
class PackedLinearTest {

    // W = [[0.5, -1.0, 0.25], [1.0, 0.0, -0.5]], scales [0.25, 0.5] -> q = [[2, -4, 1], [2, 0, -1]]
    private static final float[] W = {0.5f, -1.0f, 0.25f, 1.0f, 0.0f, -0.5f};
    private static final long[] SHAPE = {2, 3};
    private static final float[] SCALES = {0.25f, 0.5f};
    private static final long[] ZPS = {0, 0};
    private static final float[] BIAS = {0.25f, -0.25f};

    private static QEngine initial;
    private NDManager manager;

    @BeforeAll
    static void remember() {
        initial = QEngine.current();
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    @BeforeEach
    void open() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private static void use(QEngine engine) {
        assumeTrue(QEngine.available().contains(engine), engine + " not in this build");
        QEngine.select(engine);
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void dynamicHandDerivedCase(QEngine engine) throws Exception {
        use(engine);
        // inputs take only the values 0 and 2, so min 0 -> zero point 0 and 2 maps exactly to
        // the top quantized level whatever the number of levels: no activation rounding error.
        // row 1: [2,0,2] . [0.5,-1,0.25] + 0.25 = 1.5 + 0.25 = 1.75; . [1,0,-0.5] - 0.25 = 0.75
        // row 2: [0,2,2] . [0.5,-1,0.25] + 0.25 = -1.5 + 0.25 = -1.25; . [1,0,-0.5] - 0.25 = -1.25
        try (PackedLinear linear = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS)) {
            assertEquals(engine, linear.getEngine());
            NDArray x = manager.create(new float[] {2, 0, 2, 0, 2, 2}, new Shape(2, 3));
            NDArray y = linear.forward(x);
            assertEquals(new Shape(2, 2), y.getShape());
            assertArrayEquals(new float[] {1.75f, 0.75f, -1.25f, -1.25f}, y.toFloatArray(), 1e-5f);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void staticHandDerivedCaseWithAndWithoutRelu(QEngine engine) throws Exception {
        use(engine);
        // input scale 0.5, zero point 10: x = [1, -2, 3] -> [12, 6, 16]; x = [-1, 0.5, 0] -> [8,
        // 11, 10], all exact. Integer sums (xq - 10) . q:
        // [2,-4,6].[2,-4,1] = 26 -> 26 * 0.5 * 0.25 = 3.25 (+0.25 = 3.5)
        // [2,-4,6].[2,0,-1] = -2 -> -2 * 0.5 * 0.5 = -0.5 (-0.25 = -0.75)
        // [-2,1,0].[2,-4,1] = -8 -> -1.0 (+0.25 = -0.75); [-2,1,0].[2,0,-1] = -4 -> -1.0 (-0.25
        // = -1.25). Output scale 0.25, zero point 64: all exact levels (78, 61, 61, 59).
        float[] x = {1, -2, 3, -1, 0.5f, 0};
        float[] expected = {3.5f, -0.75f, -0.75f, -1.25f};
        float[] expectedRelu = {3.5f, 0, 0, 0};
        try (PackedLinear linear =
                        PackedLinear.staticInt8(
                                W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, false);
                PackedLinear relu =
                        PackedLinear.staticInt8(
                                W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, true)) {
            NDArray in = manager.create(x, new Shape(2, 3));
            assertArrayEquals(expected, linear.forward(in).toFloatArray(), 1e-6f);
            assertArrayEquals(expectedRelu, relu.forward(in).toFloatArray(), 1e-6f);
            assertEquals(PackedLinear.Mode.STATIC_RELU, relu.getMode());
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void dynamicMatchesDequantizedReferenceWithinActivationQuantizationError(QEngine engine)
            throws Exception {
        use(engine);
        int out = 48;
        int in = 80;
        int rows = 6;
        Random random = new Random(42);
        Layer layer = Layer.random(out, in, random);
        float[] x = new float[rows * in];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (random.nextGaussian() * 1.5 + 0.3);
        }
        float[] reference = layer.reference(x, rows);
        // Dynamic quantization maps [min(x, 0), max(x, 0)] onto L levels (L = 127 with fbgemm's
        // reduce_range, 255 otherwise), scale s = range / L, and every input element is then off
        // by at most s / 2 (the range includes every element, so nothing is clipped). Output j
        // is therefore off by at most s / 2 * sum_k |Wdq[j][k]| (plus float rounding).
        float min = 0;
        float max = 0;
        for (float v : x) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        // fbgemm and x86 use reduce_range (127 levels), qnnpack and oneDNN 255 levels
        int levels = engine == QEngine.FBGEMM || engine == QEngine.X86 ? 127 : 255;
        double s = (max - min) / levels;
        try (PackedLinear linear =
                PackedLinear.dynamicInt8(
                        layer.weight,
                        new long[] {out, in},
                        layer.scales,
                        new long[out],
                        0,
                        layer.bias)) {
            float[] y = linear.forward(manager.create(x, new Shape(rows, in))).toFloatArray();
            double sumSquares = 0;
            double expectedSquares = 0;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    double bound = s / 2 * layer.absRowSum(j) + 1e-4;
                    double err = y[r * out + j] - reference[r * out + j];
                    assertTrue(
                            Math.abs(err) <= bound,
                            "row " + r + " out " + j + ": error " + err + " > bound " + bound);
                    sumSquares += err * err;
                    expectedSquares += s * s / 12 * layer.squaredRowSum(j);
                }
            }
            // uniform rounding errors have variance s^2 / 12, so the summed squared error is near
            // sum_j s^2 / 12 * sum_k Wdq[j][k]^2 (measured 0.99 with 7 bits, 1.14 with 8 bits);
            // weights rounded down instead of to nearest already give 3.6x
            assertTrue(
                    sumSquares <= 2 * expectedSquares,
                    "mean squared error " + sumSquares + " vs expected " + expectedSquares);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void staticWithFusedReluMatchesIntegerReferenceWithinOneOutputStep(QEngine engine)
            throws Exception {
        use(engine);
        int out = 40;
        int in = 64;
        int rows = 5;
        Random random = new Random(7);
        Layer layer = Layer.random(out, in, random);
        float inScale = 0.03125f;
        int inZp = 64;
        // inputs on the input grid with quantized values in [0, 127] (7 bits, no fbgemm
        // saturation): their quantization is exact
        float[] x = new float[rows * in];
        int[] xq = new int[rows * in];
        for (int i = 0; i < x.length; i++) {
            xq[i] = random.nextInt(128);
            x[i] = (xq[i] - inZp) * inScale;
        }
        double[] real = new double[rows * out];
        double lo = 0;
        double hi = 0;
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < out; j++) {
                long acc = 0;
                for (int k = 0; k < in; k++) {
                    acc += (long) (xq[r * in + k] - inZp) * layer.q[j * in + k];
                }
                real[r * out + j] = acc * (double) inScale * layer.scales[j] + layer.bias[j];
                lo = Math.min(lo, real[r * out + j]);
                hi = Math.max(hi, real[r * out + j]);
            }
        }
        float outScale = (float) ((hi - lo) / 255);
        long outZp = Math.round(-lo / outScale);
        try (PackedLinear linear =
                PackedLinear.staticInt8(
                        layer.weight,
                        new long[] {out, in},
                        layer.scales,
                        new long[out],
                        0,
                        layer.bias,
                        inScale,
                        inZp,
                        outScale,
                        outZp,
                        true)) {
            float[] y = linear.forward(manager.create(x, new Shape(rows, in))).toFloatArray();
            int exact = 0;
            for (int i = 0; i < y.length; i++) {
                long yq = Math.max(0, Math.min(255, Math.round(real[i] / outScale) + outZp));
                yq = Math.max(yq, outZp); // fused ReLU: nothing below the real zero
                double expected = (yq - outZp) * (double) outScale;
                double err = Math.abs(y[i] - expected);
                // the kernel requantizes in float: a value next to a rounding tie may land one
                // output step away
                assertTrue(err <= outScale * 1.001, "output " + i + ": error " + err);
                assertTrue(y[i] >= 0, "ReLU output " + i + " was " + y[i]);
                if (err < outScale * 1e-3) {
                    exact++;
                }
            }
            assertTrue(exact >= y.length * 9 / 10, exact + " of " + y.length + " exact");
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void chainedStaticLayersKeepActivationsQuantizedAndGiveTheHandDerivedValues(QEngine engine)
            throws Exception {
        use(engine);
        // layer 1 as in staticHandDerivedCaseWithAndWithoutRelu, ReLU fused: h = [3.5, 0], [0, 0]
        // on the grid (0.25, 64), i.e. h_q - 64 = [14, 0], [0, 0].
        // layer 2: W2 = [[1, -0.5], [0.25, 0.75]], scales 0.25 -> q = [[4, -2], [1, 3]], no bias:
        // row 1: 14 * 4 = 56 -> 56 * 0.25 * 0.25 = 3.5; 14 * 1 = 14 -> 0.875; row 2: 0, 0.
        // Output grid (0.125, 128): 3.5 -> 156, 0.875 -> 135, exact.
        float[] w2 = {1, -0.5f, 0.25f, 0.75f};
        try (PackedLinear l1 =
                        PackedLinear.staticInt8(
                                W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, true);
                PackedLinear l2 =
                        PackedLinear.staticInt8(
                                w2,
                                new long[] {2, 2},
                                new float[] {0.25f, 0.25f},
                                ZPS,
                                0,
                                null,
                                0.25f,
                                64,
                                0.125f,
                                128,
                                false);
                QuantizedActivation x =
                        QuantizedActivation.quantize(
                                manager.create(
                                        new float[] {1, -2, 3, -1, 0.5f, 0}, new Shape(2, 3)),
                                0.5f,
                                10);
                QuantizedActivation h = l1.forward(x);
                QuantizedActivation y = l2.forward(h)) {
            assertEquals(new Shape(2, 2), h.getShape());
            assertEquals(0.25, h.getScale());
            assertEquals(64, h.getZeroPoint());
            assertArrayEquals(
                    new float[] {3.5f, 0, 0, 0}, h.dequantize(manager).toFloatArray(), 1e-6f);
            assertArrayEquals(
                    new float[] {3.5f, 0.875f, 0, 0}, y.dequantize(manager).toFloatArray(), 1e-6f);
            assertEquals(128, y.getZeroPoint());
        }
    }

    @Test
    void quantizedInputIsRefusedByDynamicLayersAndAfterClose() throws Exception {
        try (PackedLinear dynamic = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS)) {
            QuantizedActivation x =
                    QuantizedActivation.quantize(
                            manager.create(new float[] {1, 2, 3}, new Shape(1, 3)), 0.5f, 10);
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> dynamic.forward(x));
            assertEquals(
                    "mode was DYNAMIC, a quantized input needs mode STATIC or STATIC_RELU",
                    e.getMessage());
            x.close();
            assertDoesNotThrow(x::close);
            IllegalStateException closed =
                    assertThrows(IllegalStateException.class, () -> x.dequantize(manager));
            assertEquals("QuantizedActivation is closed", closed.getMessage());
        }
        IllegalArgumentException zp =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                QuantizedActivation.quantize(
                                        manager.create(new float[] {1}, new Shape(1)), 0.5f, 256));
        assertEquals("zeroPoint was 256, must be in [0, 255]", zp.getMessage());
    }

    @Test
    void acceptsBatchedThreeDimensionalInputAndNoBias() throws Exception {
        try (PackedLinear linear = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, null)) {
            NDArray x = manager.create(new float[] {2, 0, 2, 0, 2, 2}, new Shape(2, 1, 3));
            NDArray y = linear.forward(x);
            assertEquals(new Shape(2, 1, 2), y.getShape());
            assertArrayEquals(new float[] {1.5f, 1.0f, -1.5f, -1.0f}, y.toFloatArray(), 1e-5f);
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void forwardFromAnotherThreadGivesTheSameResult(QEngine engine) throws Exception {
        use(engine);
        Random random = new Random(3);
        Layer layer = Layer.random(32, 48, random);
        float[] x = new float[4 * 48];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        try (PackedLinear linear =
                PackedLinear.dynamicInt8(
                        layer.weight,
                        new long[] {32, 48},
                        layer.scales,
                        new long[32],
                        0,
                        layer.bias)) {
            float[] expected = linear.forward(manager.create(x, new Shape(4, 48))).toFloatArray();
            java.util.concurrent.ExecutorService pool =
                    java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                java.util.List<java.util.concurrent.Future<float[]>> results =
                        new java.util.ArrayList<>();
                for (int t = 0; t < 32; t++) {
                    results.add(
                            pool.submit(
                                    () -> {
                                        try (NDManager m =
                                                Engine.getEngine("PyTorch").newBaseManager()) {
                                            return linear.forward(m.create(x, new Shape(4, 48)))
                                                    .toFloatArray();
                                        }
                                    }));
                }
                for (java.util.concurrent.Future<float[]> r : results) {
                    assertArrayEquals(expected, r.get());
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void concurrentForwardCallsGiveTheSingleThreadedResult(QEngine engine) throws Exception {
        use(engine);
        Random random = new Random(3);
        Layer layer = Layer.random(32, 48, random);
        float[] x = new float[4 * 48];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        try (PackedLinear linear =
                PackedLinear.dynamicInt8(
                        layer.weight,
                        new long[] {32, 48},
                        layer.scales,
                        new long[32],
                        0,
                        layer.bias)) {
            float[] expected = linear.forward(manager.create(x, new Shape(4, 48))).toFloatArray();
            java.util.concurrent.ExecutorService pool =
                    java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                java.util.List<java.util.concurrent.Future<float[]>> results =
                        new java.util.ArrayList<>();
                for (int t = 0; t < 32; t++) {
                    results.add(
                            pool.submit(
                                    () -> {
                                        try (NDManager m =
                                                Engine.getEngine("PyTorch").newBaseManager()) {
                                            return linear.forward(m.create(x, new Shape(4, 48)))
                                                    .toFloatArray();
                                        }
                                    }));
                }
                for (java.util.concurrent.Future<float[]> r : results) {
                    assertArrayEquals(expected, r.get());
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK", "ONEDNN"})
    void packedWeightsSurviveGarbageCollectionOfTheArraysTheyWereMadeFrom(QEngine engine)
            throws Exception {
        use(engine);
        // DJL makes tensors from Java arrays over direct buffers that the garbage collector frees;
        // packed weights must own copies (fbgemm keeps the bias, the quantizer keeps the scales)
        try (PackedLinear dynamic = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS);
                PackedLinear relu =
                        PackedLinear.staticInt8(
                                W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 10, 0.25f, 64, true)) {
            for (int round = 0; round < 3; round++) {
                System.gc();
                java.util.List<java.nio.ByteBuffer> reuse = new java.util.ArrayList<>();
                for (int i = 0; i < 64; i++) {
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(64);
                    while (b.hasRemaining()) {
                        b.put((byte) 0x7f); // 0x7f7f7f7f is 3.4e38 as a float
                    }
                    reuse.add(b);
                }
                NDArray x = manager.create(new float[] {2, 0, 2, 0, 2, 2}, new Shape(2, 3));
                assertArrayEquals(
                        new float[] {1.75f, 0.75f, -1.25f, -1.25f},
                        dynamic.forward(x).toFloatArray(),
                        1e-5f);
                NDArray s = manager.create(new float[] {1, -2, 3, -1, 0.5f, 0}, new Shape(2, 3));
                assertArrayEquals(
                        new float[] {3.5f, 0, 0, 0}, relu.forward(s).toFloatArray(), 1e-6f);
            }
        }
    }

    @Test
    void layerKeepsTheKernelsOfTheEngineItWasPackedForWhenTheEngineChanges() throws Exception {
        use(QEngine.QNNPACK);
        try (PackedLinear linear = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS)) {
            QEngine.select(QEngine.available().contains(QEngine.X86) ? QEngine.X86 : initial);
            assertEquals(QEngine.QNNPACK, linear.getEngine());
            NDArray x = manager.create(new float[] {2, 0, 2, 0, 2, 2}, new Shape(2, 3));
            assertArrayEquals(
                    new float[] {1.75f, 0.75f, -1.25f, -1.25f},
                    linear.forward(x).toFloatArray(),
                    1e-5f);
        }
    }

    @Test
    void closingTwiceIsHarmlessAndForwardAfterCloseIsRefused() throws Exception {
        PackedLinear linear = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS);
        linear.close();
        assertDoesNotThrow(linear::close);
        NDArray x = manager.create(new float[] {1, 2, 3}, new Shape(1, 3));
        IllegalStateException e =
                assertThrows(IllegalStateException.class, () -> linear.forward(x));
        assertEquals("PackedLinear is closed", e.getMessage());
    }

    @Test
    void wrongInputWidthIsRefusedBeforeReachingLibtorch() throws Exception {
        try (PackedLinear linear = PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 0, BIAS)) {
            NDArray x = manager.create(new float[] {1, 2, 3, 4}, new Shape(1, 4));
            IllegalArgumentException e =
                    assertThrows(IllegalArgumentException.class, () -> linear.forward(x));
            assertEquals("x was (1, 4), must be [..., 3]", e.getMessage());
        }
    }

    @Test
    void invalidWeightQuantizationIsRefusedWithTheValueAndTheAllowedOnes() {
        IllegalArgumentException axis =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PackedLinear.dynamicInt8(W, SHAPE, SCALES, ZPS, 1, BIAS));
        assertEquals(
                "axis was 1, must be 0 (per output channel of the [out, in] weight)",
                axis.getMessage());
        IllegalArgumentException scale =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PackedLinear.dynamicInt8(
                                        W, SHAPE, new float[] {0.25f, 0}, ZPS, 0, BIAS));
        assertEquals("scales[1] was 0.0, must be finite and > 0", scale.getMessage());
        IllegalArgumentException zp =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PackedLinear.staticInt8(
                                        W, SHAPE, SCALES, ZPS, 0, BIAS, 0.5f, 300, 0.25f, 64,
                                        false));
        assertEquals("inputZeroPoint was 300, must be in [0, 255]", zp.getMessage());
    }

    @Test
    void weightQuantizationRoundsHalfToEvenAndClamps() {
        // 0.375 / 0.25 = 1.5 -> 2; 0.625 / 0.25 = 2.5 -> 2; 100 / 0.25 = 400 -> 127;
        // -100 / 0.25 -> -128
        byte[] q =
                PackedLinear.quantizeWeight(
                        new float[] {0.375f, 0.625f, 100, -100},
                        new long[] {1, 4},
                        new float[] {0.25f},
                        new long[] {0},
                        0);
        assertArrayEquals(new byte[] {2, 2, 127, -128}, q);
    }

    /** A random layer with symmetric per-channel weights quantized independently here. */
    private static final class Layer {
        final float[] weight;
        final float[] scales;
        final float[] bias;
        final int[] q;
        final int out;
        final int in;

        private Layer(int out, int in, Random random) {
            this.out = out;
            this.in = in;
            weight = new float[out * in];
            scales = new float[out];
            bias = new float[out];
            q = new int[out * in];
            for (int j = 0; j < out; j++) {
                float amax = 0;
                for (int k = 0; k < in; k++) {
                    weight[j * in + k] = (float) (random.nextGaussian() * 0.2);
                    amax = Math.max(amax, Math.abs(weight[j * in + k]));
                }
                scales[j] = amax / 127;
                bias[j] = (float) random.nextGaussian() * 0.1f;
                for (int k = 0; k < in; k++) {
                    double v = Math.rint(weight[j * in + k] / (double) scales[j]);
                    q[j * in + k] = (int) Math.max(-127, Math.min(127, v));
                }
            }
        }

        static Layer random(int out, int in, Random random) {
            return new Layer(out, in, random);
        }

        /** y = x Wdq^T + b in double, Wdq = q * scale. */
        float[] reference(float[] x, int rows) {
            float[] y = new float[rows * out];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    double acc = bias[j];
                    for (int k = 0; k < in; k++) {
                        acc += (double) q[j * in + k] * scales[j] * x[r * in + k];
                    }
                    y[r * out + j] = (float) acc;
                }
            }
            return y;
        }

        double absRowSum(int j) {
            double sum = 0;
            for (int k = 0; k < in; k++) {
                sum += Math.abs(q[j * in + k] * (double) scales[j]);
            }
            return sum;
        }

        double squaredRowSum(int j) {
            double sum = 0;
            for (int k = 0; k < in; k++) {
                double w = q[j * in + k] * (double) scales[j];
                sum += w * w;
            }
            return sum;
        }
    }
}
