package org.djlquant.policy.apply;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A half-precision Linear against a plain-Java FP32 reference, with the error bound of rounding the
 * input, weight, bias and output once each to the type's unit roundoff u (BF16: 8 significand bits,
 * u = 2^-8; FP16: 11 bits, u = 2^-11) and accumulating in FP32: per output {@code |y_h - y| <= 2.01
 * u sum|x w| + u |b| + u (|y| + 2.01 u sum|x w| + u|b|)} plus FP32 accumulation {@code K 2^-23
 * sum|x w|}.
 */
class HalfPrecisionLinearTest {

    private static final int IN = 96;
    private static final int OUT = 24;
    private static final int ROWS = 8;

    @Test
    void bf16AndFp16LinearStayWithinTheirRoundingBoundAndReallyRound() {
        Random r = new Random(42);
        float[] w = new float[OUT * IN];
        float[] b = new float[OUT];
        float[] x = new float[ROWS * IN];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        double[] ref = new double[ROWS * OUT];
        double[] mag = new double[ROWS * OUT];
        for (int n = 0; n < ROWS; n++) {
            for (int o = 0; o < OUT; o++) {
                double s = b[o];
                double m = 0;
                for (int i = 0; i < IN; i++) {
                    s += (double) x[n * IN + i] * w[o * IN + i];
                    m += Math.abs((double) x[n * IN + i] * w[o * IN + i]);
                }
                ref[n * OUT + o] = s;
                mag[n * OUT + o] = m;
            }
        }
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(OUT).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, IN));
            Linear lin = (Linear) net.getChildren().get(0).getValue();
            lin.getParameters().get("weight").getArray().set(w);
            lin.getParameters().get("bias").getArray().set(b);
            NDArray xa = m.create(x, new Shape(ROWS, IN));
            double bf16Worst = 0;
            for (DataType t : new DataType[] {DataType.BFLOAT16, DataType.FLOAT16}) {
                double u = t == DataType.BFLOAT16 ? Math.pow(2, -8) : Math.pow(2, -11);
                try (HalfPrecisionLinear h = HalfPrecisionLinear.of(lin, "01", t)) {
                    NDArray y =
                            h.forward(new ParameterStore(m, false), new NDList(xa), false).head();
                    assertEquals(DataType.FLOAT32, y.getDataType());
                    assertEquals(new Shape(ROWS, OUT), y.getShape());
                    float[] got = y.toFloatArray();
                    double worstRatio = 0;
                    double maxErr = 0;
                    for (int k = 0; k < got.length; k++) {
                        int o = k % OUT;
                        double err = Math.abs(got[k] - ref[k]);
                        double p = 2.01 * u * mag[k] + u * Math.abs(b[o]);
                        double bound =
                                p + u * (Math.abs(ref[k]) + p) + IN * Math.pow(2, -23) * mag[k];
                        assertTrue(
                                err <= bound,
                                t + " output " + k + ": error " + err + " > bound " + bound);
                        worstRatio = Math.max(worstRatio, err / bound);
                        maxErr = Math.max(maxErr, err / (mag[k] + Math.abs(b[o])));
                    }
                    // it really rounds: some output is off by more than a quarter of FP16's u
                    assertTrue(maxErr > 0.25 * Math.pow(2, -11), t + " max rel err " + maxErr);
                    if (t == DataType.BFLOAT16) {
                        bf16Worst = maxErr;
                        assertEquals(2L * (IN * OUT + OUT), h.bytes());
                    } else {
                        // BF16 keeps 3 fewer mantissa bits than FP16: clearly larger error
                        assertTrue(bf16Worst > 2 * maxErr, bf16Worst + " vs FP16 " + maxErr);
                    }
                }
            }
        }
    }

    @Test
    void closedOrMisusedLayerRefusesNamingTheLayer() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(4).build());
            net.initialize(m, DataType.FLOAT32, new Shape(1, 8));
            Linear lin = (Linear) net.getChildren().get(0).getValue();
            IllegalArgumentException bad =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> HalfPrecisionLinear.of(lin, "enc.q", DataType.INT8));
            assertTrue(
                    bad.getMessage().contains("enc.q")
                            && bad.getMessage().toLowerCase(java.util.Locale.ROOT).contains("int8"),
                    bad.getMessage());
            HalfPrecisionLinear h = HalfPrecisionLinear.of(lin, "enc.q", DataType.BFLOAT16);
            NDArray wrongWidth = m.zeros(new Shape(2, 5));
            IllegalArgumentException shape =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    h.forward(
                                            new ParameterStore(m, false),
                                            new NDList(wrongWidth),
                                            false));
            assertTrue(shape.getMessage().contains("enc.q"), shape.getMessage());
            h.close();
            h.close();
            IllegalArgumentException closed =
                    assertThrows(
                            IllegalArgumentException.class,
                            () ->
                                    h.forward(
                                            new ParameterStore(m, false),
                                            new NDList(m.zeros(new Shape(2, 8))),
                                            false));
            assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
            assertThrows(UnsupportedOperationException.class, () -> h.saveParameters(null));
        }
    }
}
