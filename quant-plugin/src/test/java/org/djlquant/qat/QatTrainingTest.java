package org.djlquant.qat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.util.Map;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantTwin;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;

class QatTrainingTest {

    static Model model() {
        Model model = Model.newInstance("qat", "PyTorch");
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(16).build());
        net.add(Activation::relu);
        net.add(Linear.builder().setUnits(3).build());
        model.setBlock(net);
        return model;
    }

    static ArrayDataset data(NDManager m) {
        // three separable classes: label = argmax of the first three features
        NDArray x = m.randomUniform(-1, 1, new Shape(96, 6));
        NDArray y = x.get(":, 0:3").argMax(1).toType(DataType.FLOAT32, false);
        return new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(16, true).build();
    }

    static Trainer trainer(Model model, QatScheduleListener listener) {
        DefaultTrainingConfig cfg =
                new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                        .optOptimizer(
                                Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build())
                        .addTrainingListeners(listener);
        Trainer t = model.newTrainer(cfg);
        t.initialize(new Shape(16, 6));
        return t;
    }

    @Test
    void trainsWithEasyTrainUpdatingTheOriginalWeightsOnSchedule() throws Exception {
        try (Model model = model();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(16, 6));
            Linear first = (Linear) model.getBlock().getChildren().get(0).getValue();
            Parameter weight = first.getParameters().get("weight");
            float[] w0 = weight.getArray().toFloatArray();
            PrepareReport report =
                    Preparer.prepare(
                            model, QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
            QatScheduleListener listener =
                    QatScheduleListener.builder()
                            .optFakeQuantDelaySteps(3)
                            .optFreezeObserversAfterEpoch(1)
                            .build();
            ArrayDataset ds = data(m);
            try (Trainer trainer = trainer(model, listener)) {
                QuantTwin twin = report.twins().get(0);
                EasyTrain.fit(trainer, 2, ds, null);
                assertEquals(2, listener.epochsCompleted());
                assertEquals(12, listener.stepsCompleted());
                assertTrue(twin.control().isFakeQuant());
                assertFalse(twin.control().isObserving());
                assertSame(weight, twin.getParameters().get("weight"));
                float[] w = weight.getArray().toFloatArray();
                for (float v : w) {
                    assertTrue(Float.isFinite(v), "weight " + v);
                }
            }
            assertNotEquals(w0[0], weight.getArray().toFloatArray()[0]);
        }
    }

    @Test
    void qatTrainingDoesNotAccumulateArraysInTheModelsManager() throws Exception {
        try (Model model = model();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(16, 6));
            Preparer.prepare(model, QConfigMapping.global(QConfig.qatInt8(BackendTarget.FBGEMM)));
            ArrayDataset ds = data(m);
            try (Trainer trainer = trainer(model, QatScheduleListener.builder().build())) {
                EasyTrain.fit(trainer, 1, ds, null);
                int after1 = model.getNDManager().getManagedArrays().size();
                EasyTrain.fit(trainer, 2, ds, null);
                assertEquals(after1, model.getNDManager().getManagedArrays().size());
            }
        }
    }

    @Test
    void lsqScalesAreLearnt() throws Exception {
        try (Model model = model();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(16, 6));
            QConfig lsq =
                    QConfig.builder()
                            .setMode(QMode.QAT)
                            .setWeightObserver(Observers.minMax(QSpec.int8SymmetricPerTensor()))
                            .optActivationObserver(
                                    Observers.movingAverageMinMax(
                                            QSpec.uint8AffinePerTensor(), 0.01f))
                            .optLearnableScale(true)
                            .build();
            PrepareReport report = Preparer.prepare(model, QConfigMapping.global(lsq));
            QatScheduleListener listener = QatScheduleListener.builder().build();
            try (Trainer trainer = trainer(model, listener)) {
                EasyTrain.fit(trainer, 1, data(m), null);
            }
            Map<String, NDArray> scales = report.twins().get(0).control().learnedScales();
            assertTrue(scales.containsKey("weight"), scales.keySet().toString());
            assertTrue(scales.containsKey("input"), scales.keySet().toString());
            float learnt = scales.get("weight").getFloat();
            float observed = report.twins().get(0).control().computeParams().get("weight").scale();
            assertNotEquals(observed, learnt, "LSQ weight scale did not move from its start");
        }
    }

    /** Counts the batches an observer is fed; everything else is the wrapped observer's. */
    private static final class CountingObserver implements org.djlquant.observer.Observer {
        private final org.djlquant.observer.Observer inner;
        private final java.util.concurrent.atomic.AtomicInteger count;

        CountingObserver(
                org.djlquant.observer.Observer inner,
                java.util.concurrent.atomic.AtomicInteger count) {
            this.inner = inner;
            this.count = count;
        }

        @Override
        public org.djlquant.scheme.QSpec spec() {
            return inner.spec();
        }

        @Override
        public void observe(NDArray x) {
            count.incrementAndGet();
            inner.observe(x);
        }

        @Override
        public boolean hasData() {
            return inner.hasData();
        }

        @Override
        public org.djlquant.scheme.QParams computeParams() {
            return inner.computeParams();
        }

        @Override
        public void reset() {
            inner.reset();
        }

        @Override
        public float[][] observedRange() {
            return inner.observedRange();
        }

        @Override
        public org.djlquant.observer.ObserverState saveState() {
            return inner.saveState();
        }

        @Override
        public void loadState(org.djlquant.observer.ObserverState state) {
            inner.loadState(state);
        }
    }

    /** Trains 2 epochs (12 steps) with an observe interval; returns {activation, weight} feeds. */
    private static int[] observerFeeds(int every) throws Exception {
        java.util.concurrent.atomic.AtomicInteger acts =
                new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicInteger weights =
                new java.util.concurrent.atomic.AtomicInteger();
        QConfig qat = QConfig.qatInt8(BackendTarget.FBGEMM);
        QConfig counting =
                QConfig.builder()
                        .setMode(QMode.QAT)
                        .setWeightObserver(
                                () -> new CountingObserver(qat.weightObserver().get(), weights))
                        .optActivationObserver(
                                () -> new CountingObserver(qat.activationObserver().get(), acts))
                        .optBackend(BackendTarget.FBGEMM)
                        .build();
        try (Model model = model();
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, new Shape(16, 6));
            Preparer.prepare(model, QConfigMapping.global(counting));
            QatScheduleListener listener =
                    QatScheduleListener.builder().optObserveEvery(every).build();
            try (Trainer trainer = trainer(model, listener)) {
                // 2 epochs of 96 / 16 = 6 batches: steps 0..11. Step 0 must be observed, or fake
                // quantization of the activations would find empty observers and throw
                EasyTrain.fit(trainer, 2, data(m), null);
                assertEquals(12, listener.stepsCompleted());
            }
        }
        return new int[] {acts.get(), weights.get()};
    }

    @Test
    void observeEveryFourFeedsTheObserversOnThreeOfTwelveSteps() throws Exception {
        int[] every = observerFeeds(1);
        int[] fourth = observerFeeds(4);
        // steps 0, 4 and 8 of 0..11: a quarter of the feeds of observing on every step
        assertTrue(fourth[0] > 0 && fourth[1] > 0, java.util.Arrays.toString(fourth));
        assertEquals(every[0], 4 * fourth[0], "activation feeds");
        assertEquals(every[1], 4 * fourth[1], "weight feeds");
        assertThrows(
                IllegalArgumentException.class,
                () -> QatScheduleListener.builder().optObserveEvery(0));
    }
}
