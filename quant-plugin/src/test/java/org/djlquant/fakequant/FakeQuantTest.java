package org.djlquant.fakequant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Random;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.Test;

class FakeQuantTest {

    private static final QSpec INT8_SYM = QSpec.int8SymmetricPerTensor();

    @Test
    void perTensorFakeQuantMatchesHandComputedValues() {
        // scale 0.5, zero point 0, INT8 [-128, 127]: representable range [-64, 63.5]
        // x/s = -200, -2.6, 0.4, 1.52, 126.8, 128 -> round -200, -3, 0, 2, 127, 128
        // -> clamp -128, -3, 0, 2, 127, 127 -> times 0.5
        float[] x = {-100f, -1.3f, 0.2f, 0.76f, 63.4f, 64f};
        float[] expected = {-64f, -1.5f, 0f, 1f, 63.5f, 63.5f};
        QParams p = new QParams(INT8_SYM, new float[] {0.5f}, new long[] {0}, new long[0]);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray out = FakeQuant.apply(m.create(x), p);
            assertArrayEquals(expected, out.toFloatArray(), 0f);
        }
    }

    @Test
    void affineZeroPointShiftsTheGrid() {
        // UINT8 affine, scale 0.1, zero point 10: range [-1.0, 24.5]
        // x = -2 -> q = clamp(-20 + 10) = 0 -> -1.0 ; x = 0.04 -> round(0.4)=0 -> 0 ;
        // x = 0.26 -> round(2.6)=3 -> 0.3 ; x = 30 -> 255 -> 24.5
        QSpec spec = QSpec.uint8AffinePerTensor();
        QParams p = new QParams(spec, new float[] {0.1f}, new long[] {10}, new long[0]);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] out =
                    FakeQuant.apply(m.create(new float[] {-2f, 0.04f, 0.26f, 30f}), p)
                            .toFloatArray();
            assertArrayEquals(new float[] {-1.0f, 0f, 0.3f, 24.5f}, out, 1e-6f);
        }
    }

    @Test
    void steGradientIsOneInsideTheRangeAndZeroForClippedValues() {
        float[] x = {-100f, -64f, -1.3f, 0.2f, 63.4f, 63.5f, 64f};
        // lo = -128 * 0.5 = -64, hi = 127 * 0.5 = 63.5, both inclusive
        float[] expectedGrad = {0f, 1f, 1f, 1f, 1f, 1f, 0f};
        QParams p = new QParams(INT8_SYM, new float[] {0.5f}, new long[] {0}, new long[0]);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray in = m.create(x);
            in.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                NDArray out = FakeQuant.apply(in, p);
                gc.backward(out.mul(m.create(new float[] {1, 2, 3, 4, 5, 6, 7})).sum());
            }
            // d/dx sum(w * out) = w * ste'(x)
            float[] g = in.getGradient().toFloatArray();
            float[] w = {1, 2, 3, 4, 5, 6, 7};
            for (int i = 0; i < x.length; i++) {
                assertEquals(w[i] * expectedGrad[i], g[i], 0f, "x=" + x[i]);
            }
        }
    }

    @Test
    void perChannelUsesOneScalePerRowAndClipsPerRow() {
        QSpec spec = QSpec.int8SymmetricPerChannel(0);
        QParams p = new QParams(spec, new float[] {0.1f, 1f}, new long[] {0, 0}, new long[] {2});
        // row 0: scale 0.1, range [-12.8, 12.7]; row 1: scale 1, range [-128, 127]
        float[] w = {0.04f, 0.26f, 20f, 0.4f, 2.6f, 200f};
        float[] expected = {0f, 0.3f, 12.7f, 0f, 3f, 127f};
        float[] expectedGrad = {1, 1, 0, 1, 1, 0};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray in = m.create(w, new Shape(2, 3));
            in.setRequiresGradient(true);
            NDArray out;
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                out = FakeQuant.apply(in, p);
                gc.backward(out.sum());
            }
            assertArrayEquals(expected, out.toFloatArray(), 1e-6f);
            assertArrayEquals(expectedGrad, in.getGradient().toFloatArray(), 0f);
        }
    }

    @Test
    void agreesWithTheReferenceMathOnRandomData() {
        Random r = new Random(7);
        float[] x = new float[4 * 64];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * 3;
        }
        long[] shape = {4, 64};
        QSpec perGroup = QSpec.int4SymmetricPerGroup(1, 32);
        QSpec perChannel = QSpec.int8SymmetricPerChannel(0);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (QSpec spec : new QSpec[] {INT8_SYM, perChannel, perGroup}) {
                QParams p = params(spec, x, shape);
                float[] ref = QuantMath.fakeQuantize(x, shape, p);
                float[] out = FakeQuant.apply(m.create(x, new Shape(shape)), p).toFloatArray();
                // same float32 reciprocal and rounding: bit-identical, ties at -127.5 included
                assertArrayEquals(ref, out, 0f, spec.toString());
            }
        }
    }

    @Test
    void preparedParametersGiveTheSameResultAndGradientAndRefuseOtherShapes() {
        Random r = new Random(11);
        float[] x = new float[4 * 64];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * 3;
        }
        long[] shape = {4, 64};
        QSpec perGroup = QSpec.int4SymmetricPerGroup(1, 32);
        QSpec perChannel = QSpec.int8SymmetricPerChannel(0);
        QSpec affineChannel =
                new QSpec(
                        org.djlquant.scheme.QDataType.UINT8,
                        org.djlquant.scheme.QScheme.AFFINE,
                        Granularity.perChannel(0),
                        false);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (QSpec spec : new QSpec[] {INT8_SYM, perChannel, perGroup, affineChannel}) {
                QParams p = params(spec, x, shape);
                // shrink the range so that some values are clipped
                QParams narrow =
                        new QParams(spec, scaled(p.scales(), 0.5f), p.zeroPoints(), p.paramShape());
                float[] ref = QuantMath.fakeQuantize(x, shape, narrow);
                FakeQuant.Prepared prepared = FakeQuant.prepare(narrow, new Shape(shape), m);
                assertTrue(prepared.matches(narrow, new Shape(shape)));
                assertTrue(!prepared.matches(p, new Shape(shape)));
                for (int call = 0; call < 2; call++) {
                    NDArray in = m.create(x, new Shape(shape));
                    in.setRequiresGradient(true);
                    NDArray out;
                    try (GradientCollector gc =
                            Engine.getEngine("PyTorch").newGradientCollector()) {
                        out = FakeQuant.apply(in, prepared);
                        gc.backward(out.sum());
                    }
                    float[] o = out.toFloatArray();
                    float[] g = in.getGradient().toFloatArray();
                    for (int i = 0; i < x.length; i++) {
                        assertEquals(
                                Float.floatToRawIntBits(ref[i]),
                                Float.floatToRawIntBits(o[i]),
                                spec + " x=" + x[i]);
                        // the STE's definition: 1 inside [lo, hi] of the element's parameters
                        int row = i / 64;
                        int k =
                                spec == INT8_SYM
                                        ? 0
                                        : spec == perGroup ? row * 2 + (i % 64) / 32 : row;
                        float sk = narrow.scaleAt(k);
                        long zk = narrow.zeroPointAt(k);
                        float lo = (float) (spec.qmin() - zk) * sk;
                        float hi = (float) (spec.qmax() - zk) * sk;
                        assertEquals(
                                x[i] >= lo && x[i] <= hi ? 1f : 0f, g[i], 0f, spec + " x=" + x[i]);
                    }
                }
                if (spec != INT8_SYM) { // per-tensor parameters fit any shape
                    Exception e =
                            assertThrows(
                                    IllegalArgumentException.class,
                                    () -> FakeQuant.apply(m.create(x, new Shape(8, 32)), prepared));
                    assertTrue(
                            e.getMessage().contains("prepared for shape (4, 64)"), e.getMessage());
                }
                prepared.close();
                prepared.close(); // twice is harmless
                assertTrue(!prepared.matches(narrow, new Shape(shape)));
                if (spec != INT8_SYM) {
                    assertThrows(
                            IllegalStateException.class,
                            () -> FakeQuant.apply(m.create(x, new Shape(shape)), prepared));
                }
            }
        }
    }

    private static float[] scaled(float[] s, float f) {
        float[] o = s.clone();
        for (int i = 0; i < o.length; i++) {
            o[i] *= f;
        }
        return o;
    }

    private static QParams params(QSpec spec, float[] x, long[] shape) {
        Granularity g = spec.granularity();
        if (g.kind() == Granularity.Kind.PER_TENSOR) {
            float lo = Float.MAX_VALUE;
            float hi = -Float.MAX_VALUE;
            for (float v : x) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            return QuantMath.paramsFromMinMax(spec, lo, hi);
        }
        int rows = (int) shape[0];
        int cols = (int) shape[1];
        int per = g.kind() == Granularity.Kind.PER_CHANNEL ? cols : g.groupSize();
        int n = rows * cols / per;
        float[] lo = new float[n];
        float[] hi = new float[n];
        for (int i = 0; i < n; i++) {
            lo[i] = Float.MAX_VALUE;
            hi[i] = -Float.MAX_VALUE;
            for (int j = 0; j < per; j++) {
                lo[i] = Math.min(lo[i], x[i * per + j]);
                hi[i] = Math.max(hi[i], x[i * per + j]);
            }
        }
        long[] ps =
                g.kind() == Granularity.Kind.PER_CHANNEL
                        ? new long[] {rows}
                        : new long[] {rows, cols / per};
        return QuantMath.paramsFromMinMax(spec, lo, hi, ps);
    }

    @Test
    void lsqGradientsFollowThePaper() {
        // s = 0.5, INT8 [-128, 127], g = 1 (so the scale gradient is the paper's eq. 3 unscaled)
        // x/s = 0.6, -1.6, 200 ; round = 1, -2, (clipped to 127)
        // d out/ds: -0.6 + 1 = 0.4 ; 1.6 - 2 = -0.4 ; qmax = 127  -> sum 127.0
        // d out/dx: 1, 1, 0
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = m.create(new float[] {0.3f, -0.8f, 100f});
            NDArray s = m.create(0.5f);
            x.setRequiresGradient(true);
            s.setRequiresGradient(true);
            NDArray out;
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                out = Lsq.apply(x, s, 0f, -128, 127, 1f);
                gc.backward(out.sum());
            }
            assertArrayEquals(new float[] {0.5f, -1f, 63.5f}, out.toFloatArray(), 1e-6f);
            assertArrayEquals(new float[] {1f, 1f, 0f}, x.getGradient().toFloatArray(), 0f);
            assertEquals(127.0f, s.getGradient().getFloat(), 1e-5f);
        }
    }

    @Test
    void lsqGradientScaleMultipliesOnlyTheScaleGradient() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = m.create(new float[] {0.3f, -0.8f, 100f});
            NDArray s = m.create(0.5f);
            x.setRequiresGradient(true);
            s.setRequiresGradient(true);
            float g = Lsq.gradScale(3, 127);
            assertEquals(1.0 / Math.sqrt(3 * 127), g, 1e-7);
            try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
                gc.backward(Lsq.apply(x, s, 0f, -128, 127, g).sum());
            }
            assertEquals(127.0f * g, s.getGradient().getFloat(), 1e-5f);
            assertArrayEquals(new float[] {1f, 1f, 0f}, x.getGradient().toFloatArray(), 0f);
        }
    }
}
