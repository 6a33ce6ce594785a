package org.djlquant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Map;
import java.util.stream.Stream;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observer;
import org.djlquant.observer.ObserverState;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.NonFiniteValueException;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every wrong call fails fast with a typed unchecked exception whose message names the value given
 * and what is allowed (Tribuo style: "momentum was 1.5, must be in (0, 1]").
 */
class BadInputTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static final QSpec U8 = QSpec.uint8AffinePerTensor();
    private static final QSpec I8 = QSpec.int8SymmetricPerTensor();

    private static Arguments row(
            String call, Class<? extends Throwable> type, Executable e, String... says) {
        return Arguments.of(call, type, e, says);
    }

    private static NDArray arr(float[] v, long... shape) {
        return manager.create(v, new Shape(shape));
    }

    private static Observer observed(Observer o, float[] v, long... shape) {
        try (NDArray x = arr(v, shape)) {
            o.observe(x);
        }
        return o;
    }

    static Stream<Arguments> badCalls() {
        return Stream.of(
                row(
                        "unknown dtype name",
                        IllegalArgumentException.class,
                        () -> QDataType.parse("int16"),
                        "'int16'",
                        "INT8",
                        "BF16"),
                row(
                        "float dtype asked for its integer range",
                        UnsupportedOperationException.class,
                        () -> QDataType.FP16.qmin(false),
                        "FP16",
                        "INT8"),
                row(
                        "integer dtype asked for a machine epsilon",
                        UnsupportedOperationException.class,
                        () -> QDataType.INT4.machineEpsilon(),
                        "INT4",
                        "FP16, BF16, FP32"),
                row(
                        "reduceRange on a 2-bit type",
                        IllegalArgumentException.class,
                        () -> QDataType.INT2.qmax(true),
                        "INT2",
                        "4 bits"),
                row(
                        "reduceRange on a 1-bit spec",
                        IllegalArgumentException.class,
                        () ->
                                new QSpec(
                                        QDataType.BINARY,
                                        QScheme.AFFINE,
                                        Granularity.perTensor(),
                                        true),
                        "reduceRange was true",
                        "BINARY",
                        "INT8, UINT8, INT4, UINT4"),
                row(
                        "negative channel axis",
                        IllegalArgumentException.class,
                        () -> Granularity.perChannel(-1),
                        "axis was -1",
                        ">= 0"),
                row(
                        "group size zero",
                        IllegalArgumentException.class,
                        () -> Granularity.perGroup(1, 0),
                        "groupSize was 0",
                        ">= 1"),
                row(
                        "group size not dividing the dimension",
                        IllegalArgumentException.class,
                        () -> Granularity.perGroup(1, 3).paramShape(new long[] {4, 8}),
                        "groupSize was 3",
                        "divide the size 8"),
                row(
                        "channel axis beyond the rank",
                        IllegalArgumentException.class,
                        () -> Granularity.perChannel(2).paramShape(new long[] {4, 5}),
                        "axis was 2",
                        "[0, 1]"),
                row(
                        "zero scale given by hand",
                        IllegalArgumentException.class,
                        () -> QParams.perTensor(U8, 0f, 0),
                        "scale was 0.0",
                        "finite and > 0"),
                row(
                        "negative scale given by hand",
                        IllegalArgumentException.class,
                        () -> QParams.perTensor(U8, -0.5f, 0),
                        "scale was -0.5",
                        "> 0"),
                row(
                        "zero point outside the integer range",
                        IllegalArgumentException.class,
                        () -> QParams.perTensor(U8, 0.1f, 256),
                        "zero point was 256",
                        "[0, 255]"),
                row(
                        "per-channel params for another channel count",
                        IllegalArgumentException.class,
                        () ->
                                QuantMath.quantize(
                                        new float[20],
                                        new long[] {4, 5},
                                        new QParams(
                                                QSpec.int8SymmetricPerChannel(0),
                                                new float[] {1, 1, 1},
                                                new long[3],
                                                new long[] {3})),
                        "paramShape [3]",
                        "needs [4]"),
                row(
                        "shape not matching the values",
                        IllegalArgumentException.class,
                        () ->
                                QuantMath.quantize(
                                        new float[5],
                                        new long[] {2, 3},
                                        QParams.perTensor(U8, 1f, 0)),
                        "shape was [2, 3]",
                        "5 values"),
                row(
                        "NaN in a range",
                        NonFiniteValueException.class,
                        () -> QuantMath.paramsFromMinMax(U8, Float.NaN, 1f),
                        "NaN",
                        "must be finite"),
                row(
                        "infinity in a range",
                        NonFiniteValueException.class,
                        () -> QuantMath.paramsFromMinMax(U8, 0f, Float.POSITIVE_INFINITY),
                        "Infinity",
                        "must be finite"),
                row(
                        "min above max",
                        IllegalArgumentException.class,
                        () -> QuantMath.paramsFromMinMax(U8, 2f, 1f),
                        "min was 2.0 and max 1.0",
                        "min <= max"),
                row(
                        "integer value outside the range to dequantize",
                        IllegalArgumentException.class,
                        () ->
                                QuantMath.dequantize(
                                        new long[] {300},
                                        new long[] {1},
                                        QParams.perTensor(U8, 1f, 0)),
                        "quantized value was 300",
                        "[0, 255]"),
                row(
                        "per-tensor scale() of per-channel params",
                        IllegalStateException.class,
                        () ->
                                new QParams(
                                                QSpec.int8SymmetricPerChannel(0),
                                                new float[] {1, 1},
                                                new long[2],
                                                new long[] {2})
                                        .scale(),
                        "per-channel(axis=0)",
                        "must be per-tensor"),
                row(
                        "empty tensor",
                        IllegalArgumentException.class,
                        () -> {
                            try (NDArray x = manager.create(new Shape(0))) {
                                NDQuant.minMax(x, Granularity.perTensor());
                            }
                        },
                        "0 elements",
                        "at least 1"),
                row(
                        "NaN in calibration data",
                        NonFiniteValueException.class,
                        () -> observed(Observers.minMax(U8).get(), new float[] {1, Float.NaN}, 2),
                        "MinMaxObserver(UINT8 AFFINE per-tensor) batch 0",
                        "NaN"),
                row(
                        "infinity in histogram calibration data",
                        NonFiniteValueException.class,
                        () ->
                                observed(
                                        Observers.histogram(U8, HistogramMethod.MSE).get(),
                                        new float[] {1, Float.NEGATIVE_INFINITY},
                                        2),
                        "HistogramObserver",
                        "batch 0",
                        "-Infinity"),
                row(
                        "observer without data",
                        IllegalStateException.class,
                        () -> Observers.minMax(U8).get().computeParams(),
                        "has observed no data",
                        "observe(x)"),
                row(
                        "observed range without data",
                        IllegalStateException.class,
                        () ->
                                Observers.histogram(I8, HistogramMethod.ENTROPY)
                                        .get()
                                        .observedRange(),
                        "has observed no data"),
                row(
                        "loadState of another observer kind",
                        IllegalArgumentException.class,
                        () ->
                                Observers.minMax(U8)
                                        .get()
                                        .loadState(
                                                new ObserverState(
                                                        "HistogramObserver",
                                                        Map.of("bins", new float[] {2048}))),
                        "state kind was HistogramObserver",
                        "must be MinMaxObserver"),
                row(
                        "momentum above 1",
                        IllegalArgumentException.class,
                        () -> Observers.movingAverageMinMax(U8, 1.5f),
                        "momentum was 1.5",
                        "(0, 1]"),
                row(
                        "momentum zero",
                        IllegalArgumentException.class,
                        () ->
                                Observers.perChannelMovingAverageMinMax(
                                        QSpec.int8SymmetricPerChannel(0), 0f),
                        "momentum was 0.0",
                        "(0, 1]"),
                row(
                        "percentile zero",
                        IllegalArgumentException.class,
                        () -> Observers.histogram(U8, HistogramMethod.PERCENTILE, 2048, 0),
                        "percentile was 0.0",
                        "(0, 100]"),
                row(
                        "percentile above 100",
                        IllegalArgumentException.class,
                        () -> Observers.histogram(U8, HistogramMethod.PERCENTILE, 2048, 100.5),
                        "percentile was 100.5",
                        "(0, 100]"),
                row(
                        "fewer than two bins",
                        IllegalArgumentException.class,
                        () -> Observers.histogram(U8, HistogramMethod.MSE, 1, 99.9),
                        "bins was 1",
                        ">= 2"),
                row(
                        "per-tensor observer given a per-channel spec",
                        IllegalArgumentException.class,
                        () -> Observers.minMax(QSpec.int8SymmetricPerChannel(0)),
                        "granularity was per-channel(axis=0)",
                        "must be per-tensor"),
                row(
                        "observer for a float dtype",
                        IllegalArgumentException.class,
                        () ->
                                Observers.histogram(
                                        new QSpec(
                                                QDataType.FP16,
                                                QScheme.SYMMETRIC,
                                                Granularity.perTensor(),
                                                false),
                                        HistogramMethod.MSE),
                        "dtype was FP16",
                        "integer type"),
                row(
                        "per-channel observer fed another channel count",
                        IllegalArgumentException.class,
                        () ->
                                observed(
                                        observed(
                                                Observers.perChannelMinMax(
                                                                QSpec.int8SymmetricPerChannel(0))
                                                        .get(),
                                                new float[8],
                                                4,
                                                2),
                                        new float[6],
                                        3,
                                        2),
                        "parameter shape [3]",
                        "must be [4]"),
                row(
                        "observer state JSON that is not one",
                        IllegalArgumentException.class,
                        () -> ObserverState.fromJson("{\"x\": 1}"),
                        "must have 'kind' and 'values'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void wrongCallFailsWithATypedExceptionNamingValueAndAllowedValues(
            String call, Class<? extends Throwable> type, Executable e, String[] says) {
        Throwable t = assertThrows(Throwable.class, e, call);
        assertEquals(type, t.getClass(), () -> call + ": " + t);
        for (String s : says) {
            assertTrue(
                    t.getMessage().contains(s),
                    () -> call + ": message '" + t.getMessage() + "' lacks '" + s + "'");
        }
    }
}
