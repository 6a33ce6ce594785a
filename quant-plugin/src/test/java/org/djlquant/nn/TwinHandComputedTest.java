package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;

/** Twins against outputs worked out by hand from the rounding formula. */
class TwinHandComputedTest {

    /** fq(v) = (clamp(rint(v / s) + z, qmin, qmax) - z) * s, rint = round half to even. */
    private static double fq(double v, QParams p) {
        double s = p.scales()[0];
        long z = p.zeroPoints()[0];
        double q = Math.rint(v / s) + z;
        q = Math.max(p.spec().qmin(), Math.min(p.spec().qmax(), q));
        return (q - z) * s;
    }

    private static SequentialBlock oneLinear(NDManager m, float[] w, float[] b) {
        SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(1).build());
        net.initialize(m, DataType.FLOAT32, new Shape(1, 2));
        Linear lin = (Linear) net.getChildren().get(0).getValue();
        lin.getParameters().get("weight").getArray().set(w);
        lin.getParameters().get("bias").getArray().set(b);
        return net;
    }

    @Test
    void staticLinearFakeQuantizesInputAndWeight() {
        // y = b + x0 w0 + x1 w1 with x = [1, -2], w = [0.5, 0.3], b = 0.1
        // input UINT8 affine from min -2 / max 1: s = 3/255, z = 170 -> x is exactly on the grid
        // weight INT8 symmetric per tensor from max |w| = 0.5
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = oneLinear(m, new float[] {0.5f, 0.3f}, new float[] {0.1f});
            QConfig cfg =
                    QConfig.builder()
                            .setMode(QMode.STATIC)
                            .setWeightObserver(Observers.minMax(QSpec.int8SymmetricPerTensor()))
                            .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                            .build();
            PrepareReport r = Preparer.prepare(net, QConfigMapping.global(cfg));
            NDArray x = m.create(new float[] {1f, -2f}, new Shape(1, 2));
            ParameterStore ps = new ParameterStore(m, false);
            float exact = net.forward(ps, new NDList(x), false).head().getFloat();
            assertEquals(0.1 + 0.5 - 0.6, exact, 1e-6);

            // a second calibration batch inside the input range gives the output a range
            // [0, 0.9] (y = 0.1 + 0.5 + 0.3): output UINT8 s = 0.9/255, z = 0
            net.forward(ps, new NDList(m.create(new float[] {1f, 1f}, new Shape(1, 2))), false);
            QuantTwin twin = r.twin("01");
            twin.control().setObserving(false);
            twin.control().setFakeQuant(true);
            QParams in = twin.control().computeParams().get(TwinControl.INPUT);
            QParams w = twin.control().computeParams().get(TwinControl.WEIGHT);
            assertEquals(170, in.zeroPoint());
            assertEquals(3f / 255f, in.scale(), 1e-7f);
            double inner = 0.1 + fq(1, in) * fq(0.5, w) + fq(-2, in) * fq(0.3, w);
            // static twins also observe and fake-quantize their output (the converter's output
            // parameters)
            QParams out = twin.control().computeParams().get(TwinControl.OUTPUT);
            assertEquals(0, out.zeroPoint());
            assertEquals(0.9f / 255f, out.scale(), 1e-6f);
            double expected = fq((float) inner, out);
            float got = net.forward(ps, new NDList(x), false).head().getFloat();
            assertEquals(expected, got, 1e-6);
            // the weight grid moved the output away from the float result
            assertTrue(Math.abs(got - exact) > 1e-4, "got " + got + ", float " + exact);
        }
    }

    @Test
    void dynamicLinearQuantizesEachBatchWithItsOwnRange() {
        // dynamic: the input range is this batch's own [-2, 1] -> x on the grid again,
        // so only the weight rounding changes the output
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = oneLinear(m, new float[] {0.5f, -0.25f}, new float[] {0.1f});
            PrepareReport r =
                    Preparer.prepare(
                            net, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.QNNPACK)));
            QuantTwin twin = r.twin("01");
            twin.control().setFakeQuant(true);
            NDArray x = m.create(new float[] {1f, -2f}, new Shape(1, 2));
            float got =
                    net.forward(new ParameterStore(m, false), new NDList(x), false)
                            .head()
                            .getFloat();
            QParams w = twin.control().computeParams().get(TwinControl.WEIGHT);
            assertEquals(0.1 + 1 * fq(0.5, w) + -2 * fq(-0.25, w), got, 1e-5);
        }
    }

    @Test
    void weightOnlyLeavesTheInputFloat() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = oneLinear(m, new float[] {0.5f, -0.25f}, new float[] {0.1f});
            PrepareReport r =
                    Preparer.prepare(
                            net,
                            QConfigMapping.global(QConfig.weightOnlyInt8(BackendTarget.FBGEMM)));
            QuantTwin twin = r.twin("01");
            twin.control().setFakeQuant(true);
            // 0.3 is not on any input grid; weight-only must not touch it
            NDArray x = m.create(new float[] {0.3f, -2f}, new Shape(1, 2));
            float got =
                    net.forward(new ParameterStore(m, false), new NDList(x), false)
                            .head()
                            .getFloat();
            QParams w = twin.control().computeParams().get(TwinControl.WEIGHT);
            // per-channel with one output channel: one scale
            double s = w.scales()[0];
            double w0 = Math.rint(0.5 / s) * s;
            double w1 = Math.max(-128, Math.rint(-0.25 / s)) * s;
            assertEquals(0.1 + 0.3f * w0 + -2 * w1, got, 1e-6);
            assertArrayEquals(
                    new String[] {"weight"}, twin.control().observers().keySet().toArray());
        }
    }

    @Test
    void weightOnlyParamsNeedNoCalibrationOrForward() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = oneLinear(m, new float[] {0.5f, -0.25f}, new float[] {0.1f});
            int arrays = m.getManagedArrays().size();
            PrepareReport r =
                    Preparer.prepare(
                            net,
                            QConfigMapping.global(QConfig.weightOnlyInt8(BackendTarget.FBGEMM)));
            QParams w = r.twin("01").control().computeParams().get(TwinControl.WEIGHT);
            // symmetric INT8: max |w| = 0.5 over (qmax - qmin) / 2 = 127.5
            assertEquals(0.5f / 127.5f, w.scales()[0], 1e-9f);
            assertEquals(arrays, m.getManagedArrays().size());
        }
    }
}
