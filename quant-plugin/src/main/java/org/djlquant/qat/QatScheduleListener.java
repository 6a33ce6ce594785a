package org.djlquant.qat;

import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListenerAdapter;
import java.util.List;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.Twins;

/**
 * A DJL {@link ai.djl.training.listener.TrainingListener} that schedules quantization-aware
 * training of a prepared model: fake quantization off for the first {@code N} training steps (the
 * model first adapts in float, as PyTorch's QAT recipes do), and observers frozen after a chosen
 * epoch (ranges stop moving, so the last epochs train against fixed quantization grids). Opt-in:
 * feed the observers on every {@code k}-th training step only ({@link
 * Builder#optObserveEvery(int)}; default every step, as PyTorch's QAT does), which makes the steps
 * in between cost what a step with frozen observers costs; the ranges then follow the weights and
 * activations of one step in {@code k}, and a moving-average observer's averaging constant acts per
 * observed step, so its ranges move {@code k} times slower in steps.
 *
 * <p>Add it to the {@code DefaultTrainingConfig} and train with {@code EasyTrain} or a manual loop
 * as usual. The twins are found when training begins. Not thread-safe; one trainer at a time.
 */
public final class QatScheduleListener extends TrainingListenerAdapter {

    private final int freezeObserversAfterEpoch;
    private final long fakeQuantDelaySteps;
    private final int observeEvery;
    private List<QuantTwin> twins = List.of();
    private boolean frozen;
    private int epochs;
    private long steps;

    private QatScheduleListener(Builder b) {
        this.freezeObserversAfterEpoch = b.freezeAfterEpoch;
        this.fakeQuantDelaySteps = b.delaySteps;
        this.observeEvery = b.observeEvery;
    }

    /**
     * Returns a new builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the number of epochs completed.
     *
     * @return the count
     */
    public int epochsCompleted() {
        return epochs;
    }

    /**
     * Returns the number of training steps completed.
     *
     * @return the count
     */
    public long stepsCompleted() {
        return steps;
    }

    /** {@inheritDoc} */
    @Override
    public void onTrainingBegin(Trainer trainer) {
        twins = Twins.find(trainer.getModel().getBlock());
        if (twins.isEmpty()) {
            throw new IllegalStateException(
                    "QatScheduleListener: the model has no prepared layers; call"
                            + " Preparer.prepare with a QAT config before training");
        }
        epochs = 0;
        steps = 0;
        frozen = freezeObserversAfterEpoch == 0;
        for (QuantTwin t : twins) {
            t.control().setObserving(!frozen);
            t.control().setFakeQuant(fakeQuantDelaySteps == 0);
        }
    }

    /** {@inheritDoc} */
    @Override
    public void onTrainingBatch(Trainer trainer, BatchData batchData) {
        steps++;
        if (steps == fakeQuantDelaySteps) {
            twins.forEach(t -> t.control().setFakeQuant(true));
        }
        if (observeEvery > 1 && !frozen) {
            // the switch for the next step: observe on steps 0, k, 2k, ...
            boolean observe = steps % observeEvery == 0;
            twins.forEach(t -> t.control().setObserving(observe));
        }
    }

    /** {@inheritDoc} */
    @Override
    public void onEpoch(Trainer trainer) {
        epochs++;
        if (freezeObserversAfterEpoch >= 0 && epochs >= freezeObserversAfterEpoch) {
            frozen = true;
            twins.forEach(t -> t.control().setObserving(false));
        }
    }

    /** Builds a {@link QatScheduleListener}. */
    public static final class Builder {

        private int freezeAfterEpoch = -1;
        private long delaySteps;
        private int observeEvery = 1;

        private Builder() {}

        /**
         * Freezes the observers once this many epochs are complete (default: never).
         *
         * @param epoch 0 to train with frozen observers from the start (they must have data, e.g.
         *     from calibration), or a positive epoch count
         * @return this builder
         */
        public Builder optFreezeObserversAfterEpoch(int epoch) {
            if (epoch < 0) {
                throw new IllegalArgumentException("epoch was " + epoch + ", must be >= 0");
            }
            this.freezeAfterEpoch = epoch;
            return this;
        }

        /**
         * Keeps fake quantization off for the first steps (default 0: on from the start).
         *
         * @param steps number of training steps to run in float
         * @return this builder
         */
        public Builder optFakeQuantDelaySteps(long steps) {
            if (steps < 0) {
                throw new IllegalArgumentException("steps was " + steps + ", must be >= 0");
            }
            this.delaySteps = steps;
            return this;
        }

        /**
         * Feeds the observers on every {@code k}-th training step only (steps 0, k, 2k, ... of the
         * training; default 1: every step). Off by default because the ranges then see one step in
         * {@code k} (and a moving average moves {@code k} times slower in steps); worth it where
         * observing is a large part of the step. Freezing after an epoch still applies.
         *
         * @param k the interval, at least 1
         * @return this builder
         */
        public Builder optObserveEvery(int k) {
            if (k < 1) {
                throw new IllegalArgumentException("observe interval was " + k + ", must be >= 1");
            }
            this.observeEvery = k;
            return this;
        }

        /**
         * Builds the listener.
         *
         * @return the listener
         */
        public QatScheduleListener build() {
            return new QatScheduleListener(this);
        }
    }
}
