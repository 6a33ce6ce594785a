package org.djlquant.scheme;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.djlquant.observer.Observer;
import org.djlquant.observer.Observers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Matches PyTorch 1.13 bit for bit: observer ranges, scales, zero points, quantized integers and
 * fake-quantized values, on the float[] reference and on NDArrays. Expected values come from {@code
 * scripts/reference/make_scheme_references.py} (committed JSON).
 */
class PyTorchReferenceTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    @Test
    void referenceWasMadeWithPyTorchAndShowsItMultipliesByTheReciprocal() {
        JsonObject d = Reference.doc();
        assertTrue(d.get("torch").getAsString().startsWith("1.13"), d.get("torch").toString());
        JsonObject f = d.getAsJsonObject("findings");
        assertTrue(f.get("quantizeUsesReciprocal").getAsBoolean());
        assertTrue(f.get("fakeQuantUsesReciprocal").getAsBoolean());
        assertEquals(QuantMath.EPS, (float) d.get("eps").getAsDouble());
    }

    @TestFactory
    List<DynamicTest> perTensorObserversMatchPyTorchBitExactly() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonElement e : Reference.doc().getAsJsonArray("perTensor")) {
            JsonObject c = e.getAsJsonObject();
            String name = describe(c);
            tests.add(DynamicTest.dynamicTest(name, () -> checkPerTensor(c)));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> perChannelObserversMatchPyTorchBitExactly() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonElement e : Reference.doc().getAsJsonArray("perChannel")) {
            JsonObject c = e.getAsJsonObject();
            String name = describe(c) + " axis=" + c.get("axis").getAsInt();
            tests.add(DynamicTest.dynamicTest(name, () -> checkPerChannel(c)));
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> tiesRoundHalfToEvenAsPyTorch() {
        return exactQuantizeCases("roundHalfEven");
    }

    @TestFactory
    List<DynamicTest> valuesWhereDivisionAndReciprocalDisagreeFollowPyTorch() {
        return exactQuantizeCases("reciprocal");
    }

    private List<DynamicTest> exactQuantizeCases(String key) {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonElement e : Reference.doc().getAsJsonArray(key)) {
            JsonObject c = e.getAsJsonObject();
            float s = (float) c.get("scale").getAsDouble();
            long z = c.get("zeroPoint").getAsLong();
            tests.add(
                    DynamicTest.dynamicTest(
                            key + " s=" + s + " z=" + z,
                            () -> {
                                float[] x = Reference.floats(c.getAsJsonArray("x"));
                                long[] shape = {x.length};
                                QParams p = QParams.perTensor(QSpec.int8AffinePerTensor(), s, z);
                                long[] q = Reference.longs(c.getAsJsonArray("quantized"));
                                float[] fq = Reference.floats(c.getAsJsonArray("fakeQuant"));
                                assertArrayEquals(q, QuantMath.quantize(x, shape, p));
                                assertBitsEqual(fq, QuantMath.fakeQuantize(x, shape, p));
                                try (NDArray a = manager.create(x);
                                        NDArray nq = NDQuant.quantize(a, p);
                                        NDArray nfq = NDQuant.fakeQuantize(a, p)) {
                                    assertArrayEquals(toLongs(nq.toFloatArray()), q);
                                    assertBitsEqual(fq, nfq.toFloatArray());
                                }
                            }));
        }
        return tests;
    }

    private static String describe(JsonObject c) {
        String m = Reference.str(c, "momentum");
        return c.get("observer").getAsString()
                + (m == null ? "" : "(" + m + ")")
                + " "
                + c.get("dtype").getAsString()
                + " "
                + c.get("scheme").getAsString()
                + (c.has("reduceRange") && c.get("reduceRange").getAsBoolean()
                        ? " reduceRange"
                        : "")
                + " on "
                + c.get("data").getAsString();
    }

    private static void checkPerTensor(JsonObject c) {
        QSpec spec =
                new QSpec(
                        QDataType.parse(c.get("dtype").getAsString()),
                        QScheme.valueOf(c.get("scheme").getAsString()),
                        Granularity.perTensor(),
                        c.get("reduceRange").getAsBoolean());
        assertEquals(c.get("qmin").getAsLong(), spec.qmin());
        assertEquals(c.get("qmax").getAsLong(), spec.qmax());
        String kind = c.get("observer").getAsString();
        Supplier<Observer> f =
                kind.equals("minMax")
                        ? Observers.minMax(spec)
                        : Observers.movingAverageMinMax(
                                spec, (float) c.get("momentum").getAsDouble());
        String data = c.get("data").getAsString();
        Observer o = feed(f.get(), data);
        float[][] range = o.observedRange();
        assertBitsEqual(new float[] {(float) c.get("min").getAsDouble()}, range[0]);
        assertBitsEqual(new float[] {(float) c.get("max").getAsDouble()}, range[1]);
        QParams p = o.computeParams();
        assertBitsEqual(new float[] {(float) c.get("scale").getAsDouble()}, p.scales());
        assertEquals(c.get("zeroPoint").getAsLong(), p.zeroPoint());
        checkOutputs(c, data, p);
    }

    private static void checkPerChannel(JsonObject c) {
        int axis = c.get("axis").getAsInt();
        QSpec spec =
                new QSpec(
                        QDataType.parse(c.get("dtype").getAsString()),
                        QScheme.valueOf(c.get("scheme").getAsString()),
                        Granularity.perChannel(axis),
                        false);
        String kind = c.get("observer").getAsString();
        Supplier<Observer> f =
                kind.equals("perChannelMinMax")
                        ? Observers.perChannelMinMax(spec)
                        : Observers.perChannelMovingAverageMinMax(
                                spec, (float) c.get("momentum").getAsDouble());
        String data = c.get("data").getAsString();
        Observer o = feed(f.get(), data);
        float[][] range = o.observedRange();
        assertBitsEqual(Reference.floats(c.getAsJsonArray("min")), range[0]);
        assertBitsEqual(Reference.floats(c.getAsJsonArray("max")), range[1]);
        QParams p = o.computeParams();
        assertBitsEqual(Reference.floats(c.getAsJsonArray("scales")), p.scales());
        assertArrayEquals(Reference.longs(c.getAsJsonArray("zeroPoints")), p.zeroPoints());
        checkOutputs(c, data, p);
    }

    private static void checkOutputs(JsonObject c, String data, QParams p) {
        float[] probe = Reference.probe(data);
        long[] shape = Reference.shape(data);
        float[] fq = Reference.floats(c.getAsJsonArray("fakeQuant"));
        assertBitsEqual(fq, QuantMath.fakeQuantize(probe, shape, p));
        try (NDArray x = manager.create(probe, new Shape(shape));
                NDArray nfq = NDQuant.fakeQuantize(x, p);
                NDArray nq = NDQuant.quantize(x, p)) {
            assertBitsEqual(fq, nfq.toFloatArray());
            if (c.has("quantized")) {
                long[] q = Reference.longs(c.getAsJsonArray("quantized"));
                assertArrayEquals(q, QuantMath.quantize(probe, shape, p));
                assertArrayEquals(q, toLongs(nq.toFloatArray()));
            }
        }
    }

    private static Observer feed(Observer o, String data) {
        long[] shape = Reference.shape(data);
        for (float[] b : Reference.batches(data)) {
            try (NDArray x = manager.create(b, new Shape(shape))) {
                o.observe(x);
            }
        }
        return o;
    }

    static long[] toLongs(float[] f) {
        long[] r = new long[f.length];
        for (int i = 0; i < f.length; i++) {
            r[i] = (long) f[i];
        }
        return r;
    }

    static void assertBitsEqual(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, "length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                throw new AssertionError(
                        "index "
                                + i
                                + ": expected "
                                + expected[i]
                                + " but was "
                                + actual[i]
                                + " ("
                                + Math.abs(expected[i] - actual[i]) / Math.ulp(expected[i])
                                + " ulp)");
            }
        }
    }
}
