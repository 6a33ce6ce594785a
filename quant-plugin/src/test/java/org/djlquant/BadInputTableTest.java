package org.djlquant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.LayerNorm;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.NonFiniteActivationException;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.ShapeMismatchException;
import org.djlquant.nn.Twins;
import org.djlquant.nn.UnsupportedBlockException;
import org.djlquant.observer.Observers;
import org.djlquant.qat.QatScheduleListener;
import org.djlquant.report.ErrorReport;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Wrong calls to prepare / calibrate / QAT / report, each refused with a typed exception whose
 * message names where (layer path, batch), the value given and the values allowed.
 */
class BadInputTableTest {

    private static QConfig staticMinMax() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.minMax(QSpec.int8SymmetricPerTensor()))
                .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                .build();
    }

    /** A prepared 3 -> 8 -> 4 MLP handed to the case, closed afterwards. */
    private static void withModel(Consumer<Model> body) {
        try (Model model = Model.newInstance("mlp", "PyTorch")) {
            SequentialBlock net = new SequentialBlock();
            net.add(Linear.builder().setUnits(8).build());
            net.add(Activation::relu);
            net.add(Linear.builder().setUnits(4).build());
            model.setBlock(net);
            net.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, 3));
            Preparer.prepare(model, QConfigMapping.global(staticMinMax()));
            body.accept(model);
        }
    }

    private static List<NDList> batches(NDManager m, int n, int badIndex, float[] bad, Shape s) {
        List<NDList> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(
                    i == badIndex
                            ? new NDList(m.create(bad, s))
                            : new NDList(m.randomUniform(-1, 1, new Shape(2, 3))));
        }
        return out;
    }

    private static Calibrator calibrator(Model model) {
        return Calibrator.builder().setModel(model).optProgress(null).build();
    }

    private record Case(
            String name,
            Class<? extends Throwable> type,
            org.junit.jupiter.api.function.Executable call,
            String... mustMention) {}

    @TestFactory
    Stream<DynamicTest> wrongCallsAreRefusedNamingWhereWhatAndAllowed() {
        List<Case> cases =
                List.of(
                        new Case(
                                "config for a block class that has no twin",
                                UnsupportedBlockException.class,
                                () ->
                                        Preparer.prepare(
                                                new SequentialBlock()
                                                        .add(Linear.builder().setUnits(2).build()),
                                                QConfigMapping.builder()
                                                        .optClassConfig(
                                                                BatchNorm.class, staticMinMax())
                                                        .build()),
                                "BatchNorm",
                                "Linear"),
                        new Case(
                                "path rule naming only a LayerNorm",
                                UnsupportedBlockException.class,
                                () ->
                                        Preparer.prepare(
                                                new SequentialBlock()
                                                        .add(Linear.builder().setUnits(2).build())
                                                        .add(LayerNorm.builder().build()),
                                                QConfigMapping.builder()
                                                        .optPathGlob("02", staticMinMax())
                                                        .build()),
                                "02LayerNorm",
                                "LayerNorm",
                                "Linear"),
                        new Case(
                                "root block that would itself be replaced",
                                UnsupportedBlockException.class,
                                () ->
                                        Preparer.prepare(
                                                Linear.builder().setUnits(2).build(),
                                                QConfigMapping.global(staticMinMax())),
                                "(root)",
                                "Model"),
                        new Case(
                                "preparing twice",
                                IllegalStateException.class,
                                () ->
                                        withModel(
                                                model ->
                                                        Preparer.prepare(
                                                                model,
                                                                QConfigMapping.global(
                                                                        staticMinMax()))),
                                "01Linear",
                                "only once"),
                        new Case(
                                "NaN in batch 1",
                                NonFiniteActivationException.class,
                                () ->
                                        withModel(
                                                model -> {
                                                    try (NDManager m =
                                                            NDManager.newBaseManager("PyTorch")) {
                                                        calibrator(model)
                                                                .calibrate(
                                                                        batches(
                                                                                m,
                                                                                3,
                                                                                1,
                                                                                new float[] {
                                                                                    1, Float.NaN, 0,
                                                                                    0, 0, 0
                                                                                },
                                                                                new Shape(2, 3)));
                                                    }
                                                }),
                                "01Linear",
                                "batch 1",
                                "NaN"),
                        new Case(
                                "Inf in batch 0",
                                NonFiniteActivationException.class,
                                () ->
                                        withModel(
                                                model -> {
                                                    try (NDManager m =
                                                            NDManager.newBaseManager("PyTorch")) {
                                                        calibrator(model)
                                                                .calibrate(
                                                                        batches(
                                                                                m,
                                                                                2,
                                                                                0,
                                                                                new float[] {
                                                                                    Float
                                                                                            .POSITIVE_INFINITY,
                                                                                    0,
                                                                                    0,
                                                                                    0,
                                                                                    0,
                                                                                    0
                                                                                },
                                                                                new Shape(2, 3)));
                                                    }
                                                }),
                                "01Linear",
                                "batch 0"),
                        new Case(
                                "zero batches",
                                IllegalArgumentException.class,
                                () -> withModel(model -> calibrator(model).calibrate(List.of())),
                                "0 batches",
                                "at least 1"),
                        new Case(
                                "input with 5 features for a 3-feature layer",
                                ShapeMismatchException.class,
                                () ->
                                        withModel(
                                                model -> {
                                                    try (NDManager m =
                                                            NDManager.newBaseManager("PyTorch")) {
                                                        calibrator(model)
                                                                .calibrate(
                                                                        batches(
                                                                                m,
                                                                                2,
                                                                                1,
                                                                                new float[10],
                                                                                new Shape(2, 5)));
                                                    }
                                                }),
                                "01Linear",
                                "(2, 5)",
                                "(..., 3)",
                                "batch 1"),
                        new Case(
                                "parameters before calibrating",
                                IllegalStateException.class,
                                () -> withModel(model -> Twins.computeParams(model.getBlock())),
                                "01Linear",
                                "'input'",
                                "calibrate first"),
                        new Case(
                                "error report before calibrating",
                                IllegalStateException.class,
                                () ->
                                        withModel(
                                                model -> {
                                                    NDManager m = model.getNDManager();
                                                    ErrorReport.measure(
                                                            model.getBlock(),
                                                            m,
                                                            List.of(
                                                                    new NDList(
                                                                            m.ones(
                                                                                    new Shape(
                                                                                            2,
                                                                                            3)))));
                                                }),
                                "01Linear",
                                "calibrate first"),
                        new Case(
                                "calibrating a model that was not prepared",
                                IllegalStateException.class,
                                () -> {
                                    try (Model model = Model.newInstance("x", "PyTorch")) {
                                        model.setBlock(
                                                new SequentialBlock()
                                                        .add(Linear.builder().setUnits(2).build()));
                                        calibrator(model).calibrate(List.of());
                                    }
                                },
                                "Preparer.prepare"),
                        new Case(
                                "INT4 group size 16",
                                IllegalArgumentException.class,
                                () -> QConfig.weightOnlyInt4(16, BackendTarget.ONNXRUNTIME),
                                "16",
                                "[32, 64, 128, 256]"),
                        new Case(
                                "INT4 weight-only per channel on fbgemm",
                                IllegalArgumentException.class,
                                () ->
                                        QConfig.builder()
                                                .setMode(QMode.WEIGHT_ONLY)
                                                .setWeightObserver(
                                                        Observers.perChannelMinMax(
                                                                new QSpec(
                                                                        QDataType.INT4,
                                                                        QScheme.SYMMETRIC,
                                                                        Granularity.perChannel(0),
                                                                        false)))
                                                .optBackend(BackendTarget.FBGEMM)
                                                .build(),
                                "FBGEMM",
                                "INT4",
                                "allowed"),
                        new Case(
                                "progress bar on stdout",
                                IllegalArgumentException.class,
                                () -> Calibrator.builder().optProgress(System.out),
                                "System.out",
                                "System.err"),
                        new Case(
                                "max batches 0",
                                IllegalArgumentException.class,
                                () -> Calibrator.builder().optMaxBatches(0),
                                "was 0",
                                "positive"),
                        new Case(
                                "freeze after epoch -1",
                                IllegalArgumentException.class,
                                () ->
                                        QatScheduleListener.builder()
                                                .optFreezeObserversAfterEpoch(-1),
                                "-1",
                                ">= 0"));
        return cases.stream()
                .map(
                        c ->
                                DynamicTest.dynamicTest(
                                        c.name(),
                                        () -> {
                                            Throwable e = assertThrows(c.type(), c.call());
                                            for (String s : c.mustMention()) {
                                                assertTrue(
                                                        e.getMessage().contains(s),
                                                        "'"
                                                                + s
                                                                + "' missing in: "
                                                                + e.getMessage());
                                            }
                                        }));
    }

    @Test
    void pathPatternMatchingNothingIsAWarningNotAnError() {
        PrepareReport r =
                Preparer.prepare(
                        new SequentialBlock().add(Linear.builder().setUnits(2).build()),
                        QConfigMapping.builder()
                                .optGlobal(staticMinMax())
                                .optPathGlob("encoder.*.attention.query", null)
                                .build());
        assertEquals(1, r.warnings().size());
        assertTrue(r.warnings().get(0).contains("encoder.*.attention.query"));
        assertTrue(r.warnings().get(0).contains("matched no block"));
    }
}
