package org.djlquant.observer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.djlquant.scheme.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Compares the MSE histogram observer with PyTorch 1.13's HistogramObserver on the committed
 * reference data. PyTorch searches greedily for the range with the smallest L2 norm of a
 * histogram-based error model, we search a grid with an exact uniform-in-bin error integral, so the
 * ranges differ; what must hold is that ours quantizes the calibration data about as well:
 *
 * <ul>
 *   <li>the real mean squared fake-quant error of our params on all calibration batches is at most
 *       {@value #MSE_TOLERANCE} times PyTorch's (ours is usually lower);
 *   <li>our scale is within a factor {@value #SCALE_FACTOR} of PyTorch's either way.
 * </ul>
 */
class HistogramPyTorchComparisonTest {

    static final double MSE_TOLERANCE = 1.10;
    static final double SCALE_FACTOR = 2.0;

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    @TestFactory
    List<DynamicTest> mseHistogramQuantizesCalibrationDataAboutAsWellAsPyTorch() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonElement e : Reference.doc().getAsJsonArray("histogram")) {
            JsonObject c = e.getAsJsonObject();
            String name =
                    c.get("dtype").getAsString()
                            + " "
                            + c.get("scheme").getAsString()
                            + " on "
                            + c.get("data").getAsString();
            tests.add(DynamicTest.dynamicTest(name, () -> check(c)));
        }
        return tests;
    }

    private static void check(JsonObject c) {
        QSpec spec =
                new QSpec(
                        QDataType.parse(c.get("dtype").getAsString()),
                        QScheme.valueOf(c.get("scheme").getAsString()),
                        Granularity.perTensor(),
                        false);
        String data = c.get("data").getAsString();
        long[] shape = Reference.shape(data);
        float[][] batches = Reference.batches(data);
        Observer o = Observers.histogram(spec, HistogramMethod.MSE).get();
        for (float[] b : batches) {
            try (NDArray x = manager.create(b, new Shape(shape))) {
                o.observe(x);
            }
        }
        QParams ours = o.computeParams();
        QParams torch =
                QParams.perTensor(
                        spec, (float) c.get("scale").getAsDouble(), c.get("zeroPoint").getAsLong());
        double eOurs = mse(batches, shape, ours);
        double eTorch = mse(batches, shape, torch);
        String msg =
                "ours "
                        + ours.scale()
                        + "/"
                        + ours.zeroPoint()
                        + " mse "
                        + eOurs
                        + ", torch "
                        + torch.scale()
                        + "/"
                        + torch.zeroPoint()
                        + " mse "
                        + eTorch;
        System.out.println(c.get("dtype") + " " + c.get("scheme") + " " + data + ": " + msg);
        assertTrue(eOurs <= eTorch * MSE_TOLERANCE, msg);
        double ratio = ours.scale() / torch.scale();
        assertTrue(ratio <= SCALE_FACTOR && ratio >= 1 / SCALE_FACTOR, msg);
    }

    static double mse(float[][] batches, long[] shape, QParams p) {
        double sum = 0;
        long n = 0;
        for (float[] b : batches) {
            float[] fq = QuantMath.fakeQuantize(b, shape, p);
            for (int i = 0; i < b.length; i++) {
                double d = b[i] - fq[i];
                sum += d * d;
                n++;
            }
        }
        return sum / n;
    }
}
