package org.djlquant.backend.pytorch.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Probes whether libtorch 2.7.1 (CPU) has the weight-only kernels the converter would need, by
 * calling them from a Java-written TorchScript module (the way the op library calls its ops), and
 * checks their results against a plain-Java reference: {@code aten::_weight_int8pack_mm} (INT8
 * weights [N, K], per-row float scales, float activations) and {@code
 * aten::_convert_weight_to_int4pack_for_cpu} + {@code aten::_weight_int4pack_mm_for_cpu} (4-bit
 * weights in [0, 15] with per-group scale and zero, {@code w = (q - 8) * scale + zero}).
 */
class WeightOnlyKernelProbeTest {

    private static final String SELF = "__torch__.probe.Probe";
    private static final String SOURCE =
            "class Probe(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  def forward(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return x\n"
                    + "  def int8mm(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    w: Tensor,\n"
                    + "    scales: Tensor) -> Tensor:\n"
                    + "    return torch._weight_int8pack_mm(x, w, scales)\n"
                    + "  def int4mm(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    w: Tensor,\n"
                    + "    group: int,\n"
                    + "    sz: Tensor) -> Tensor:\n"
                    + "    packed = torch._convert_weight_to_int4pack_for_cpu(w, 1)\n"
                    + "    return torch._weight_int4pack_mm_for_cpu(x, packed, group, sz)\n";

    private static final int M = 3;
    private static final int K = 64;
    private static final int N = 16;

    private static float[] x(Random r) {
        float[] x = new float[M * K];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @Test
    void int8AndInt4WeightOnlyKernelsExistOnCpuAndComputeTheReference() throws Exception {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        byte[] archive =
                TorchScriptArchive.builder("probe")
                        .addCode("probe", SOURCE)
                        .setRoot(new Pickler.ScriptObject("__torch__.probe", "Probe", state))
                        .toBytes();
        Random r = new Random(3);
        try (PtNDManager m = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager()) {
            PtSymbolBlock module = TorchScriptArchive.load(archive, m);
            float[] xv = x(r);
            NDArray x = m.create(xv, new Shape(M, K));

            // INT8: y = x (w * s)^T
            byte[] w8 = new byte[N * K];
            float[] s8 = new float[N];
            for (int n = 0; n < N; n++) {
                s8[n] = 0.01f + 0.001f * n;
                for (int k = 0; k < K; k++) {
                    w8[n * K + k] = (byte) (r.nextInt(255) - 127);
                }
            }
            float[] got8;
            try (IValue a = IValue.from((PtNDArray) x);
                    IValue b = IValue.from((PtNDArray) m.create(w8, new Shape(N, K)));
                    IValue c = IValue.from((PtNDArray) m.create(s8));
                    IValue y = IValueUtils.runMethod(module, "int8mm", a, b, c)) {
                got8 = y.toTensor(m).toFloatArray();
            }
            for (int i = 0; i < M; i++) {
                for (int n = 0; n < N; n++) {
                    double ref = 0;
                    for (int k = 0; k < K; k++) {
                        ref += xv[i * K + k] * (double) w8[n * K + k] * s8[n];
                    }
                    assertEquals(ref, got8[i * N + n], 1e-3 * (1 + Math.abs(ref)));
                }
            }

            // INT4, group 32: w = (q - 8) * scale + zero
            int group = 32;
            int[] q4 = new int[N * K];
            for (int i = 0; i < q4.length; i++) {
                q4[i] = r.nextInt(16);
            }
            float[] sz = new float[(K / group) * N * 2];
            for (int g = 0; g < K / group; g++) {
                for (int n = 0; n < N; n++) {
                    sz[(g * N + n) * 2] = 0.02f + 0.001f * n;
                    sz[(g * N + n) * 2 + 1] = 0.01f * g;
                }
            }
            float[] got4;
            try (IValue a = IValue.from((PtNDArray) x);
                    IValue b = IValue.from((PtNDArray) m.create(q4, new Shape(N, K)));
                    IValue g = IValue.from((long) group);
                    IValue c = IValue.from((PtNDArray) m.create(sz, new Shape(K / group, N, 2)));
                    IValue y = IValueUtils.runMethod(module, "int4mm", a, b, g, c)) {
                got4 = y.toTensor(m).toFloatArray();
            }
            for (int i = 0; i < M; i++) {
                for (int n = 0; n < N; n++) {
                    double ref = 0;
                    for (int k = 0; k < K; k++) {
                        int gi = k / group;
                        double w =
                                (q4[n * K + k] - 8) * sz[(gi * N + n) * 2]
                                        + sz[(gi * N + n) * 2 + 1];
                        ref += xv[i * K + k] * w;
                    }
                    assertEquals(ref, got4[i * N + n], 1e-3 * (1 + Math.abs(ref)));
                }
            }
            System.out.println(
                    "libtorch 2.7.1 CPU: _weight_int8pack_mm and _weight_int4pack_mm_for_cpu run"
                            + " from TorchScript and match the reference");
        }
    }
}
