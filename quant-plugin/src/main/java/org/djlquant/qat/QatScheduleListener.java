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
 * epoch (ranges stop moving, so the last epochs train against fixed quantization grids).
 *
 * <p>Add it to the {@code DefaultTrainingConfig} and train with {@code EasyTrain} or a manual loop
 * as usual. The twins are found when training begins. Not thread-safe; one trainer at a time.
 */
public final class QatScheduleListener extends TrainingListenerAdapter {

    private final int freezeObserversAfterEpoch;
    private final long fakeQuantDelaySteps;
    private List<QuantTwin> twins = List.of();
    private int epochs;
    private long steps;

    private QatScheduleListener(Builder b) {
        this.freezeObserversAfterEpoch = b.freezeAfterEpoch;
        this.fakeQuantDelaySteps = b.delaySteps;
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
        for (QuantTwin t : twins) {
            t.control().setObserving(freezeObserversAfterEpoch != 0);
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
    }

    /** {@inheritDoc} */
    @Override
    public void onEpoch(Trainer trainer) {
        epochs++;
        if (freezeObserversAfterEpoch >= 0 && epochs >= freezeObserversAfterEpoch) {
            twins.forEach(t -> t.control().setObserving(false));
        }
    }

    /** Builds a {@link QatScheduleListener}. */
    public static final class Builder {

        private int freezeAfterEpoch = -1;
        private long delaySteps;

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
         * Builds the listener.
         *
         * @return the listener
         */
        public QatScheduleListener build() {
            return new QatScheduleListener(this);
        }
    }
}
