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

    /** Rounds a float to bfloat16 (nearest, ties to even), as libtorch's casts do. */
    static float bf16(float f) {
        int b = Float.floatToIntBits(f);
        b += 0x7FFF + ((b >> 16) & 1);
        return Float.intBitsToFloat(b & 0xFFFF0000);
    }

    /**
     * BFLOAT16 compute against a Java reference that rounds the same values to bfloat16 (input,
     * scales, zeros, the output before the float32 bias): equal up to float32 summation order,
     * which can move the rounded output by one bfloat16 step ({@code 2^-8} relative).
     */
    @Test
    void bfloat16ComputeEqualsTheReferenceWithBfloat16Rounding() throws Exception {
        Random r = new Random(9);
        int groups = K / 32;
        byte[] q = new byte[N * K];
        byte[] u = new byte[N * K];
        float[] s8 = new float[N];
        float[] s4 = new float[N * groups];
        float[] z4 = new float[N * groups];
        for (int n = 0; n < N; n++) {
            s8[n] = 0.0021f + 0.00031f * n;
            for (int g = 0; g < groups; g++) {
                s4[n * groups + g] = 0.0113f + 0.0011f * g;
                z4[n * groups + g] = -0.0371f * (n % 4);
            }
            for (int k = 0; k < K; k++) {
                q[n * K + k] = (byte) (r.nextInt(256) - 128);
                u[n * K + k] = (byte) r.nextInt(16);
            }
        }
        float[] bias = gaussian(r, N);
        float[] x = gaussian(r, 5 * K);
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                WeightOnlyPackedLinear l8 =
                        WeightOnlyPackedLinear.int8(
                                q,
                                new long[] {N, K},
                                s8,
                                bias,
                                WeightOnlyPackedLinear.Compute.BFLOAT16);
                WeightOnlyPackedLinear l4 =
                        WeightOnlyPackedLinear.int4(
                                u,
                                new long[] {N, K},
                                32,
                                s4,
                                z4,
                                bias,
                                WeightOnlyPackedLinear.Compute.BFLOAT16)) {
            NDArray xa = m.create(x, new Shape(5, K));
            float[] got8 = l8.forward(xa).toFloatArray();
            float[] got4 = l4.forward(xa).toFloatArray();
            double worst = 0;
            for (int i = 0; i < 5; i++) {
                for (int n = 0; n < N; n++) {
                    double acc8 = 0;
                    double acc4 = 0;
                    double mag = 0;
                    for (int k = 0; k < K; k++) {
                        double xb = bf16(x[i * K + k]);
                        acc8 += xb * (q[n * K + k] * (double) bf16(s8[n]));
                        int p = n * groups + k / 32;
                        acc4 += xb * ((u[n * K + k] - 8) * (double) bf16(s4[p]) + bf16(z4[p]));
                        mag += Math.abs(xb) * 2;
                    }
                    double ref8 = bf16((float) acc8) + bias[n];
                    double ref4 = bf16((float) acc4) + bias[n];
                    double tol8 = Math.abs(acc8) * 0x1p-8 + 1e-5 * (1 + mag);
                    double tol4 = Math.abs(acc4) * 0x1p-8 + 1e-5 * (1 + mag);
                    assertEquals(ref8, got8[i * N + n], tol8, "INT8 row " + i + " col " + n);
                    assertEquals(ref4, got4[i * N + n], tol4, "INT4 row " + i + " col " + n);
                    worst =
                            Math.max(
                                    worst,
                                    Math.abs(ref8 - got8[i * N + n]) / (1e-9 + Math.abs(acc8)));
                }
            }
            System.out.println(
                    "BFLOAT16 INT8 worst relative difference to the reference: " + worst);
            assertEquals(2L * N, l8.paramBytes());
            assertEquals(4L * N * groups, l4.paramBytes());
        }
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                WeightOnlyPackedLinear.int8(
                                        new byte[16 * 24],
                                        new long[] {16, 24},
                                        s8,
                                        null,
                                        WeightOnlyPackedLinear.Compute.BFLOAT16));
        assertTrue(e.getMessage().contains("was 24") && e.getMessage().contains("16"));
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
