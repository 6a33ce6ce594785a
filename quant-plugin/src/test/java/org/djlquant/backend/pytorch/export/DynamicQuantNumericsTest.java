package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How libtorch's fbgemm {@code quantized::linear_dynamic} quantizes its input, checked on values
 * derived by hand, and the simulation of FBGEMM dynamic configs reproducing it (see {@code
 * QuantMath}'s class notes: PyTorch's {@code ChooseQuantizationParams} in double precision, and
 * {@code rint(fma(x, 1/s, z))}: the zero point added before rounding).
 *
 * <p>The kernel's quantized input is read back through an identity weight (INT8 value 1, scale 1):
 * {@code y[k] = (q[k] - z) · s} exactly (fbgemm multiplies the exact int32 sum by the two scales).
 */
class DynamicQuantNumericsTest {

    private static QEngine initial;

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static QSpec uint8(boolean reduceRange) {
        return new QSpec(QDataType.UINT8, QScheme.AFFINE, Granularity.perTensor(), reduceRange);
    }

    /** Runs fbgemm's dynamic linear with a K x K identity weight on one row {@code x}. */
    private static float[] kernelReadBack(float[] x, boolean reduceRange) throws Exception {
        int k = x.length;
        float[] w = new float[k * k];
        float[] ones = new float[k];
        for (int i = 0; i < k; i++) {
            w[i * k + i] = 1f;
            ones[i] = 1f;
        }
        try (PackedLinear layer =
                        PackedLinear.dynamicInt8(
                                w, new long[] {k, k}, ones, new long[k], 0, null, reduceRange);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            return layer.forward(m.create(x, new Shape(1, k))).toFloatArray();
        }
    }

    @Test
    void parametersAreLibtorchsChooseQuantizationParamsDerivedByHand() {
        // [-4.9f, 5.1f]: 5.1f + 4.9f = 10 exactly in double; s = float(10 / 255) = 0.039215688f;
        // z = nearbyint(4.900000095367432 * 25.5 = 124.95000243) = 125
        QParams p = QuantMath.dynamicParamsFbgemm(uint8(false), -4.9f, 5.1f);
        assertEquals(0.039215688f, p.scale());
        assertEquals(125, p.zeroPoint());
        // 7 bits (reduce_range: qmax 127): [-1, 3] -> s = float(4 / 127), z = rint(31.75) = 32
        QParams r = QuantMath.dynamicParamsFbgemm(uint8(true), -1f, 3f);
        assertEquals((float) (4.0 / 127), r.scale());
        assertEquals(32, r.zeroPoint());
        // a range of 0.001: 0.001 / 255 = 3.9e-6 is below libtorch's 6.1e-5 floor, so s = 6.1e-5
        // and z = 0 (the observer formula keeps 3.9e-6)
        QParams small = QuantMath.dynamicParamsFbgemm(uint8(false), 0f, 0.001f);
        assertEquals(6.1e-5f, small.scale());
        assertEquals(0, small.zeroPoint());
        assertEquals(0.001f / 255f, QuantMath.paramsFromMinMax(uint8(false), 0f, 0.001f).scale());
        // all zeros: scale 0 becomes 0.1 (the observer formula gives float epsilon)
        QParams zero = QuantMath.dynamicParamsFbgemm(uint8(false), 0f, 0f);
        assertEquals(0.1f, zero.scale());
        assertEquals(0, zero.zeroPoint());
    }

    @Test
    void kernelAddsTheZeroPointBeforeRoundingAndFloorsSmallScales() throws Exception {
        // s = 0.039215688f (1 / s = 25.5f exactly), z = 125 (see above). x = -0.8039215f:
        // x * 25.5 = -20.4999987781... whose float32 product -20.499998 rounds to -20, so
        // PyTorch's rint(x / s) + z = 105; the fused x * 25.5 + 125 = 104.5000012219... lies
        // within half a float spacing (2^-17 / 2) of 104.5, rounds to 104.5 and then to even: 104
        float x = -0.8039215f;
        assertEquals(25.5f, 1f / 0.039215688f);
        assertEquals(-20.499998f, x * 25.5f);
        assertEquals(104.5f, Math.fma(x, 25.5f, 125f));
        float[] in = {-4.9f, 5.1f, x, 0f};
        float[] y = kernelReadBack(in, false);
        float s = 0.039215688f;
        assertEquals((0 - 125) * s, y[0]);
        assertEquals((255 - 125) * s, y[1]); // 5.1 * 25.5 + 125 = 255.05 -> 255
        assertEquals((104 - 125) * s, y[2], "fbgemm rounds the fused sum: 104");
        assertEquals(0f, y[3]);
        QParams p = QuantMath.dynamicParamsFbgemm(uint8(false), -4.9f, 5.1f);
        assertEquals(104, QuantMath.quantizeFbgemmDynamic(new float[] {x}, p)[0]);
        assertEquals(105, QuantMath.quantize(new float[] {x}, new long[] {1}, p)[0]);

        // the small-scale floor: s = 6.1e-5, z = 0; 0.001 / 6.1e-5 = 16.39 -> 16
        float[] t = kernelReadBack(new float[] {0f, 0.001f, 0.0005f, 0.00003f}, false);
        assertEquals(16 * 6.1e-5f, t[1]);
        assertEquals(8 * 6.1e-5f, t[2]); // 8.197 -> 8
        assertEquals(0f, t[3]); // 0.49 -> 0
    }

    @Test
    void simulationOfAnFbgemmDynamicLinearEqualsTheKernelOnTheHandCheckedRow(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock().add(Linear.builder().setUnits(4).optBias(false).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 4));
            float[] eye = new float[16];
            for (int i = 0; i < 4; i++) {
                eye[i * 4 + i] = 1f;
            }
            net.getParameters().get(0).getValue().getArray().set(FloatBuffer.wrap(eye));
            Preparer.prepare(net, QConfigMapping.global(dynamic(false)));
            NDList in =
                    new NDList(
                            m.create(new float[] {-4.9f, 5.1f, -0.8039215f, 0f}, new Shape(1, 4)));
            float[] sim = ExportFixtures.simulate(net, m, in);
            float s = 0.039215688f;
            // the identity's symmetric per-channel weight: scale 1 / 127.5, value 127 (clamped),
            // so y = (q - 125) * s * 127 / 127.5 with q = 104 (the old simulation gave 105)
            assertEquals((104 - 125) * s * 127 / 127.5, sim[2], 1e-6);
            TorchScriptExporter.builder().setBlock(net).build().export(dir, "eye");
            float[] real = ExportFixtures.runExported(dir, "eye", in);
            assertEquals(0.0, ExportFixtures.maxAbsDiff(sim, real));
        }
    }

    private static QConfig dynamic(boolean reduceRange) {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(uint8(reduceRange))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    /** fbgemm's GEMM sums u8 x s8 pairs into int32 only with AVX512-VNNI ({@code vpdpbusd}). */
    static boolean avx512Vnni() throws java.io.IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        return java.nio.file.Files.exists(cpuinfo)
                && java.nio.file.Files.readString(cpuinfo).contains("avx512_vnni");
    }

    @Test
    void tinyBertAllDynamicEightBitExportEqualsTheSimulation(@TempDir Path dir) throws Exception {
        // without AVX512-VNNI fbgemm adds pairs of products in 16 bits (vpmaddubsw), which
        // saturates with 8-bit inputs; the simulation models the VNNI kernel
        Assumptions.assumeTrue(avx512Vnni(), "needs AVX512-VNNI (fbgemm's int32 pair sums)");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            BertModelBlock bert =
                    new BertModelBlock(new BertConfig(40, 64, 2, 4, 256, 12, 2, 1e-12f, -10000f));
            bert.initialize(m, DataType.FLOAT32, new Shape(2, 7), new Shape(2, 7), new Shape(2, 7));
            ExportFixtures.fill(bert, 29);
            Preparer.prepare(bert, QConfigMapping.global(dynamic(false)));
            TorchScriptExporter.builder().setBlock(bert).build().export(dir, "bert_dyn8");
            double worst = 0;
            for (int seed = 0; seed < 4; seed++) {
                NDList inputs = ExportFixtures.bertInputs(m, 500 + seed, 32, 12);
                float[] sim = ExportFixtures.simulate(bert, m, inputs);
                float[] real = ExportFixtures.runExported(dir, "bert_dyn8", inputs);
                worst = Math.max(worst, ExportFixtures.maxAbsDiff(sim, real));
            }
            System.out.println("tiny BERT all dynamic 8-bit: max |export - simulation| = " + worst);
            // the simulation computes each dynamic layer as fbgemm does, and the float ops around
            // them are the same libtorch ops: equal. (Before, the simulation rounded the input
            // as quantize_per_tensor does and summed dequantized floats: 0.028 here.)
            assertEquals(0.0, worst, "export vs simulation");
        }
    }
}
