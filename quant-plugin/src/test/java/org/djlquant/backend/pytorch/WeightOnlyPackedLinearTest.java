package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The weight-only kernels against a plain-Java double reference computed from the same integer
 * weights ({@code Σ_k x · (q · s)} for INT8, {@code Σ_k x · ((u - 8) · s + zero)} for INT4), on 3-D
 * inputs with and without bias; bytes held; closing; shapes the kernels refuse.
 *
 * <p>Tolerance: libtorch runs these float32 activations through its portable float32 loops, so only
 * the summation order differs from the double reference: {@code 1e-5 · (1 + Σ_k |x · ŵ|)} per
 * element (float32 epsilon 1.2e-7 times K = 128 terms, with margin).
 */
class WeightOnlyPackedLinearTest {

    private static final int K = 128;
    private static final int N = 32;

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static void assertLinear(float[] x, float[][] w, float[] bias, float[] got) {
        int rows = x.length / K;
        assertEquals(rows * N, got.length);
        for (int i = 0; i < rows; i++) {
            for (int n = 0; n < N; n++) {
                double ref = bias == null ? 0 : bias[n];
                double mag = 0;
                for (int k = 0; k < K; k++) {
                    ref += (double) x[i * K + k] * w[n][k];
                    mag += Math.abs((double) x[i * K + k] * w[n][k]);
                }
                assertEquals(ref, got[i * N + n], 1e-5 * (1 + mag), "row " + i + " col " + n);
            }
        }
    }

    @Test
    void int8KernelComputesTheDequantizedMatmulOnThreeDimensionalInput() throws Exception {
        Random r = new Random(5);
        byte[] q = new byte[N * K];
        float[] s = new float[N];
        float[][] w = new float[N][K];
        for (int n = 0; n < N; n++) {
            s[n] = 0.002f + 0.0003f * n;
            for (int k = 0; k < K; k++) {
                q[n * K + k] = (byte) (r.nextInt(256) - 128);
                w[n][k] = q[n * K + k] * s[n];
            }
        }
        float[] bias = gaussian(r, N);
        float[] x = gaussian(r, 2 * 3 * K);
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                WeightOnlyPackedLinear withBias =
                        WeightOnlyPackedLinear.int8(q, new long[] {N, K}, s, bias);
                WeightOnlyPackedLinear noBias =
                        WeightOnlyPackedLinear.int8(q, new long[] {N, K}, s, null)) {
            NDArray xa = m.create(x, new Shape(2, 3, K));
            NDArray y = withBias.forward(xa);
            assertEquals(new Shape(2, 3, N), y.getShape());
            System.gc(); // the kernel's tensors must not depend on Java buffers
            assertLinear(x, w, bias, y.toFloatArray());
            assertLinear(x, w, null, noBias.forward(xa).toFloatArray());
            assertEquals((long) N * K, withBias.weightBytes());
            assertEquals(4L * N, withBias.paramBytes());
            assertEquals(WeightOnlyPackedLinear.Kind.INT8_PER_CHANNEL, withBias.getKind());
        }
    }

    @Test
    void int4KernelComputesTheDequantizedMatmulForEveryGroupSize() throws Exception {
        Random r = new Random(6);
        for (int group : WeightOnlyPackedLinear.INT4_GROUP_SIZES) {
            int k = Math.max(K, group);
            int groups = k / group;
            byte[] u = new byte[N * k];
            float[] s = new float[N * groups];
            float[] z = new float[N * groups];
            float[][] w = new float[N][k];
            for (int n = 0; n < N; n++) {
                for (int g = 0; g < groups; g++) {
                    s[n * groups + g] = 0.01f + 0.001f * n + 0.003f * g;
                    z[n * groups + g] = 0.02f * (g - n % 3);
                }
                for (int i = 0; i < k; i++) {
                    u[n * k + i] = (byte) r.nextInt(16);
                    int p = n * groups + i / group;
                    w[n][i] = (u[n * k + i] - 8) * s[p] + z[p];
                }
            }
            float[] x = gaussian(r, 3 * k);
            float[] bias = gaussian(r, N);
            try (NDManager m = NDManager.newBaseManager("PyTorch");
                    WeightOnlyPackedLinear l =
                            WeightOnlyPackedLinear.int4(u, new long[] {N, k}, group, s, z, bias)) {
                NDArray y = l.forward(m.create(x, new Shape(1, 3, k)));
                assertEquals(new Shape(1, 3, N), y.getShape());
                System.gc();
                float[] got = y.toFloatArray();
                for (int i = 0; i < 3; i++) {
                    for (int n = 0; n < N; n++) {
                        double ref = bias[n];
                        double mag = 0;
                        for (int c = 0; c < k; c++) {
                            ref += (double) x[i * k + c] * w[n][c];
                            mag += Math.abs((double) x[i * k + c] * w[n][c]);
                        }
                        assertEquals(ref, got[i * N + n], 1e-5 * (1 + mag), "group " + group);
                    }
                }
                assertEquals((long) N * k / 2, l.weightBytes());
                assertEquals(8L * N * groups, l.paramBytes());
                assertEquals(group, l.getGroupSize());
            }
        }
    }

    @Test
    void closingTwiceIsHarmlessAndForwardAfterCloseThrows() throws Exception {
        float[] scales = new float[16];
        java.util.Arrays.fill(scales, 0.5f);
        WeightOnlyPackedLinear l =
                WeightOnlyPackedLinear.int8(new byte[16 * 4], new long[] {16, 4}, scales, null);
        l.close();
        l.close();
        assertTrue(l.isClosed());
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () -> l.forward(m.create(new float[4], new Shape(1, 4))));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
    }

    @Test
    void shapesAndGroupSizesTheKernelRefusesAreRefusedNamingValueAndAllowed() {
        byte[] u = new byte[16 * 64];
        float[] p = new float[16 * 2];
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> WeightOnlyPackedLinear.int4(u, new long[] {16, 64}, 16, p, p, null));
        assertTrue(e.getMessage().contains("16") && e.getMessage().contains("[32, 64, 128, 256]"));
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> WeightOnlyPackedLinear.int4(u, new long[] {16, 64}, 128, p, p, null));
        assertTrue(e.getMessage().contains("64") && e.getMessage().contains("multiple of"));
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                WeightOnlyPackedLinear.int4(
                                        new byte[8 * 64], new long[] {8, 64}, 32, p, p, null));
        assertTrue(e.getMessage().contains("was 8") && e.getMessage().contains("16"));
        u[3] = 16;
        float[] ones = new float[32];
        java.util.Arrays.fill(ones, 1f);
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                WeightOnlyPackedLinear.int4(
                                        u, new long[] {16, 64}, 32, ones, p, null));
        assertTrue(e.getMessage().contains("[0, 15]"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                WeightOnlyPackedLinear.int8(
                                        new byte[4], new long[] {2, 2}, new float[] {1, 0}, null));
        assertTrue(e.getMessage().contains("scales[1]"), e.getMessage());
    }
}
