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
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Static INT8 conv2d against a hand-derived case and against a plain-Java integer reference
 * (quantize input, integer convolution, requantize) computed here from the same weights, on fbgemm,
 * x86 and qnnpack (qnnpack on x86 proves correctness, not ARM speed). The reference is allowed one
 * output quantization step where the kernel's float requantization multiplier rounds a tie the
 * other way.
 */
class PackedConv2dTest {

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
            names = {"FBGEMM", "X86", "QNNPACK"})
    void handDerivedOneChannelCase(QEngine engine) throws Exception {
        use(engine);
        // x (1x1x3x3) = [[1,2,0],[0,1,2],[2,0,1]], input scale 1, zp 0: integers as given.
        // w (1x1x2x2) = [[1,-1],[0.5,0]], scale 0.5 -> q [[2,-2],[1,0]], bias 0.5 (one step of
        // sIn * sW = 0.5: qnnpack quantizes the bias to int32 at that scale, fbgemm adds it as a
        // float; both exact here). Windows: [1,2,0,1] -> 2-4+0 = -2 -> -1.0 + 0.5 = -0.5;
        // [2,0,1,2] -> 4-0+1 = 5 -> 2.5 + 0.5 = 3.0; [0,1,2,0] -> 0-2+2 = 0 -> 0.5;
        // [1,2,0,1] -> -0.5. Output scale 0.25, zp 64: exact levels.
        float[] x = {1, 2, 0, 0, 1, 2, 2, 0, 1};
        float[] w = {1, -1, 0.5f, 0};
        try (PackedConv2d conv = build(w, new float[] {0.5f}, false);
                PackedConv2d relu = build(w, new float[] {0.5f}, true)) {
            assertEquals(engine, conv.getEngine());
            NDArray in = manager.create(x, new Shape(1, 1, 3, 3));
            NDArray y = conv.forward(in);
            assertEquals(new Shape(1, 1, 2, 2), y.getShape());
            assertArrayEquals(new float[] {-0.5f, 3.0f, 0.5f, -0.5f}, y.toFloatArray(), 1e-6f);
            assertArrayEquals(
                    new float[] {0, 3.0f, 0.5f, 0}, relu.forward(in).toFloatArray(), 1e-6f);
        }
    }

    private static PackedConv2d build(float[] w, float[] scales, boolean relu) throws Exception {
        return PackedConv2d.builder()
                .setWeight(w, new long[] {1, 1, 2, 2})
                .setWeightParams(scales, new long[] {0})
                .optBias(new float[] {0.5f})
                .setInputParams(1f, 0)
                .setOutputParams(0.25f, 64)
                .optFuseRelu(relu)
                .build();
    }

    /** A conv configuration for the randomized comparisons. */
    private record Case(
            int n,
            int in,
            int out,
            int h,
            int w,
            int k,
            int stride,
            int pad,
            int groups,
            boolean perChannel,
            boolean relu) {}

    @ParameterizedTest
    @EnumSource(
            value = QEngine.class,
            names = {"FBGEMM", "X86", "QNNPACK"})
    void matchesIntegerReferenceWithinOneOutputStep(QEngine engine) throws Exception {
        use(engine);
        Case[] cases = {
            new Case(2, 3, 8, 9, 9, 3, 1, 0, 1, false, false),
            new Case(2, 3, 8, 9, 9, 3, 1, 0, 1, true, false),
            new Case(1, 4, 6, 10, 7, 3, 2, 1, 2, true, true),
            new Case(2, 8, 8, 6, 6, 3, 1, 1, 8, false, true),
            new Case(1, 2, 4, 7, 7, 5, 2, 2, 1, true, false)
        };
        for (Case c : cases) {
            if (engine == QEngine.QNNPACK && c.perChannel) {
                continue; // the capability table declares per-tensor static weights for qnnpack
            }
            check(c, engine);
        }
    }

    private void check(Case c, QEngine engine) throws Exception {
        Random r = new Random(7 + c.hashCode());
        int cin = c.in / c.groups;
        float[] x = new float[c.n * c.in * c.h * c.w];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] w = new float[c.out * cin * c.k * c.k];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * 0.3);
        }
        float[] b = new float[c.out];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) (r.nextGaussian() * 0.1);
        }
        int per = cin * c.k * c.k;
        float[] scales = new float[c.perChannel ? c.out : 1];
        for (int o = 0; o < c.out; o++) {
            float m = 0;
            for (int i = 0; i < per; i++) {
                m = Math.max(m, Math.abs(w[o * per + i]));
            }
            int s = c.perChannel ? o : 0;
            scales[s] = Math.max(scales[s], m / 127f);
        }
        long[] zps = new long[scales.length];
        // 7-bit input range (what PyTorch's x86 configs use), zero point 64
        float inScale = 8f / 127f;
        long inZp = 64;
        float outScale = 0.05f;
        long outZp = c.relu ? 0 : 128;
        try (PackedConv2d conv =
                PackedConv2d.builder()
                        .setWeight(w, new long[] {c.out, cin, c.k, c.k})
                        .setWeightParams(scales, zps)
                        .optBias(b)
                        .optStride(c.stride, c.stride)
                        .optPadding(c.pad, c.pad)
                        .optGroups(c.groups)
                        .setInputParams(inScale, inZp)
                        .setOutputParams(outScale, outZp)
                        .optFuseRelu(c.relu)
                        .build()) {
            NDArray in = manager.create(x, new Shape(c.n, c.in, c.h, c.w));
            NDArray y = conv.forward(in);
            int oh = (c.h + 2 * c.pad - c.k) / c.stride + 1;
            int ow = (c.w + 2 * c.pad - c.k) / c.stride + 1;
            assertEquals(new Shape(c.n, c.out, oh, ow), y.getShape(), c.toString());
            float[] got = y.toFloatArray();
            float[] ref = reference(c, x, w, b, scales, inScale, inZp, outScale, outZp, oh, ow);
            float[] fp32 = reference(c, x, w, b, null, 0, 0, 0, 0, oh, ow);
            double maxDiff = 0;
            double signal = 0;
            double noise = 0;
            for (int i = 0; i < got.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
                signal += (double) fp32[i] * fp32[i];
                noise += (double) (got[i] - fp32[i]) * (got[i] - fp32[i]);
            }
            double sqnr = 10 * Math.log10(signal / noise);
            System.out.printf(
                    Locale.ROOT,
                    "%s %s: max |int8 - integer reference| %.4f (output step %.3f), SQNR vs"
                            + " FP32 %.1f dB%n",
                    engine,
                    c,
                    maxDiff,
                    outScale,
                    sqnr);
            assertTrue(maxDiff <= outScale * 1.001, c + ": max diff " + maxDiff);
            assertTrue(sqnr > 20, c + ": SQNR " + sqnr);
        }
    }

    /**
     * Plain-Java conv2d. With {@code scales == null}: float32 reference. Otherwise the static INT8
     * computation: input quantized (rint, clamp to [0, 255]), weights quantized symmetric, integer
     * accumulation, {@code acc * sIn * sW + b}, requantized to the output grid (ReLU clamps at the
     * zero point), dequantized.
     */
    private static float[] reference(
            Case c,
            float[] x,
            float[] w,
            float[] b,
            float[] scales,
            float inScale,
            long inZp,
            float outScale,
            long outZp,
            int oh,
            int ow) {
        boolean q = scales != null;
        int cin = c.in / c.groups;
        int coutPerGroup = c.out / c.groups;
        int per = cin * c.k * c.k;
        double[] xv = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            xv[i] = q ? Math.max(0, Math.min(255, Math.rint(x[i] / inScale) + inZp)) - inZp : x[i];
        }
        double[] wv = new double[w.length];
        for (int i = 0; i < w.length; i++) {
            float s = q ? scales[scales.length == 1 ? 0 : i / per] : 1;
            wv[i] = q ? Math.max(-128, Math.min(127, Math.rint(w[i] / s))) : w[i];
        }
        float[] y = new float[c.n * c.out * oh * ow];
        for (int n = 0; n < c.n; n++) {
            for (int o = 0; o < c.out; o++) {
                int g = o / coutPerGroup;
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double acc = 0;
                        for (int ci = 0; ci < cin; ci++) {
                            int ch = g * cin + ci;
                            for (int u = 0; u < c.k; u++) {
                                int hi = i * c.stride - c.pad + u;
                                if (hi < 0 || hi >= c.h) {
                                    continue;
                                }
                                for (int v = 0; v < c.k; v++) {
                                    int wi = j * c.stride - c.pad + v;
                                    if (wi < 0 || wi >= c.w) {
                                        continue;
                                    }
                                    acc +=
                                            xv[((n * c.in + ch) * c.h + hi) * c.w + wi]
                                                    * wv[((o * cin + ci) * c.k + u) * c.k + v];
                                }
                            }
                        }
                        double out;
                        if (q) {
                            double s = scales[scales.length == 1 ? 0 : o];
                            double real = acc * inScale * s + b[o];
                            double level = Math.rint(real / outScale) + outZp;
                            level = Math.max(c.relu ? outZp : 0, Math.min(255, level));
                            out = (level - outZp) * outScale;
                        } else {
                            out = acc + b[o];
                            if (c.relu) {
                                out = Math.max(0, out);
                            }
                        }
                        y[((n * c.out + o) * oh + i) * ow + j] = (float) out;
                    }
                }
            }
        }
        return y;
    }

    @Test
    void quantizedChainEqualsFloatRoundTrip() throws Exception {
        use(QEngine.X86);
        float[] w = new float[4 * 2 * 3 * 3];
        Random r = new Random(3);
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * 0.3);
        }
        float[] x = new float[2 * 2 * 6 * 6];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        try (PackedConv2d conv =
                PackedConv2d.builder()
                        .setWeight(w, new long[] {4, 2, 3, 3})
                        .setWeightParams(new float[] {0.01f}, new long[] {0})
                        .optPadding(1, 1)
                        .setInputParams(0.05f, 64)
                        .setOutputParams(0.1f, 0)
                        .optFuseRelu(true)
                        .build()) {
            NDArray in = manager.create(x, new Shape(2, 2, 6, 6));
            float[] viaFloat = conv.forward(in).toFloatArray();
            try (QuantizedActivation xq = QuantizedActivation.quantize(in, 0.05f, 64);
                    QuantizedActivation yq = conv.forward(xq)) {
                assertEquals(new Shape(2, 4, 6, 6), yq.getShape());
                assertEquals(0.1f, (float) yq.getScale());
                assertArrayEquals(viaFloat, yq.dequantize(manager).toFloatArray(), 0f);
            }
        }
    }

    @Test
    void closeTwiceIsHarmlessAndForwardAfterCloseThrows() throws Exception {
        PackedConv2d conv = build(new float[] {1, -1, 0.5f, 0}, new float[] {0.5f}, false);
        conv.close();
        assertDoesNotThrow(conv::close);
        assertTrue(conv.isClosed());
        NDArray in = manager.create(new float[9], new Shape(1, 1, 3, 3));
        assertThrows(IllegalStateException.class, () -> conv.forward(in));
    }

    @Test
    void invalidArgumentsAreNamed() throws Exception {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PackedConv2d.builder()
                                        .setWeight(new float[8], new long[] {2, 1, 2, 2})
                                        .setWeightParams(new float[] {1, 1, 1}, new long[3])
                                        .setInputParams(1f, 0)
                                        .setOutputParams(1f, 0)
                                        .build());
        assertTrue(e.getMessage().contains("3 scales"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PackedConv2d.builder()
                                        .setWeight(new float[8], new long[] {2, 1, 2, 2})
                                        .setWeightParams(new float[] {1}, new long[1])
                                        .optGroups(3)
                                        .setInputParams(1f, 0)
                                        .setOutputParams(1f, 0)
                                        .build());
        assertTrue(e.getMessage().contains("groups was 3"), e.getMessage());
        try (PackedConv2d conv = build(new float[] {1, -1, 0.5f, 0}, new float[] {0.5f}, false)) {
            NDArray wrong = manager.create(new float[18], new Shape(1, 2, 3, 3));
            e = assertThrows(IllegalArgumentException.class, () -> conv.forward(wrong));
            assertTrue(e.getMessage().contains("[N, 1, H, W]"), e.getMessage());
        }
    }
}
