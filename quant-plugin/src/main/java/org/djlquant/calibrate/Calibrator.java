package org.djlquant.calibrate;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import org.djlquant.QuantizationException;
import org.djlquant.nn.NonFiniteActivationException;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.ShapeMismatchException;
import org.djlquant.nn.Twins;

/**
 * Runs representative data through a prepared model so that its observers record ranges.
 *
 * <p>During {@code calibrate} every twin observes and fake quantization is off (post-training
 * calibration as in PyTorch); afterwards the switches are restored to what they were. Each batch
 * runs in its own sub-manager that is closed after the batch, so native memory does not grow with
 * the number of batches (observer state is Java-side and fixed-size). The calibrator takes
 * ownership of the arrays of every batch it is given and closes them with the batch.
 *
 * <p>Errors: a model with no twins, a block that is not initialized, and zero batches are {@link
 * IllegalStateException}/{@link IllegalArgumentException}; NaN or Inf reaching an observer is a
 * {@link NonFiniteActivationException} naming the layer and the batch index; an input of the wrong
 * shape is a {@link ShapeMismatchException} naming the layer and the batch. Not thread-safe; one
 * calibration per model at a time.
 */
public final class Calibrator {

    private final Block block;
    private final NDManager manager;
    private final PrintStream progress;
    private final long maxBatches;

    private Calibrator(Builder b) {
        this.block = b.block;
        this.manager = b.manager;
        this.progress = b.progress;
        this.maxBatches = b.maxBatches;
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
     * Calibrates from an iterable of batches (each an {@link NDList} of the model's inputs).
     *
     * @param batches the batches; each is closed after use
     * @return what was done
     */
    public CalibrationSummary calibrate(Iterable<NDList> batches) {
        Objects.requireNonNull(batches, "batches");
        return run(batches.iterator(), -1);
    }

    /**
     * Calibrates from a DJL dataset (the data part of each batch; labels are ignored).
     *
     * @param dataset the dataset, prepared
     * @return what was done
     * @throws QuantizationException if the dataset cannot be read
     */
    public CalibrationSummary calibrate(Dataset dataset) throws QuantizationException {
        Objects.requireNonNull(dataset, "dataset");
        Iterable<Batch> data;
        try {
            data = dataset.getData(manager);
        } catch (IOException | TranslateException e) {
            throw new QuantizationException("cannot read the calibration dataset", e);
        }
        Iterator<Batch> it = data.iterator();
        Iterator<NDList> lists =
                new Iterator<>() {
                    @Override
                    public boolean hasNext() {
                        return it.hasNext();
                    }

                    @Override
                    public NDList next() {
                        try (Batch b = it.next()) {
                            NDList d = b.getData();
                            // keep the data, let the batch close the rest
                            NDManager keep = manager.newSubManager();
                            d.attach(keep);
                            return new OwnedList(d, keep);
                        }
                    }
                };
        return run(lists, -1);
    }

    /** An NDList carrying the manager that owns it. */
    private static final class OwnedList extends NDList {
        private static final long serialVersionUID = 1L;
        private final transient NDManager owner;

        OwnedList(NDList list, NDManager owner) {
            super(list);
            this.owner = owner;
        }
    }

    private CalibrationSummary run(Iterator<NDList> batches, long total) {
        List<QuantTwin> twins = Twins.find(block);
        if (twins.isEmpty()) {
            throw new IllegalStateException(
                    "the block has no prepared layers; call Preparer.prepare before calibrating");
        }
        if (!block.isInitialized()) {
            throw new IllegalStateException(
                    "the block is not initialized; initialize it or load the model's parameters"
                            + " before calibrating");
        }
        List<boolean[]> saved = new ArrayList<>();
        for (QuantTwin t : twins) {
            saved.add(new boolean[] {t.control().isObserving(), t.control().isFakeQuant()});
            t.control().setObserving(true);
            t.control().setFakeQuant(false);
        }
        long start = System.currentTimeMillis();
        ProgressBar bar = new ProgressBar(progress, "calibrating", total);
        long index = 0;
        try {
            ParameterStore ps = new ParameterStore(manager, false);
            while (batches.hasNext() && (maxBatches < 0 || index < maxBatches)) {
                NDList batch = batches.next();
                try (NDManager sub = manager.newSubManager()) {
                    batch.attach(sub);
                    if (batch instanceof OwnedList) {
                        ((OwnedList) batch).owner.close();
                    }
                    block.forward(ps, batch, false);
                } catch (NonFiniteActivationException e) {
                    throw e.withBatch(index);
                } catch (ShapeMismatchException e) {
                    throw e.withBatch(index);
                }
                index++;
                bar.update(index);
            }
        } finally {
            for (int i = 0; i < twins.size(); i++) {
                twins.get(i).control().setObserving(saved.get(i)[0]);
                twins.get(i).control().setFakeQuant(saved.get(i)[1]);
            }
        }
        bar.finish(index);
        if (index == 0) {
            throw new IllegalArgumentException(
                    "calibration data had 0 batches, must have at least 1");
        }
        return new CalibrationSummary(index, twins.size(), System.currentTimeMillis() - start);
    }

    /** Builds a {@link Calibrator}. */
    public static final class Builder {

        private Block block;
        private NDManager manager;
        private PrintStream progress = System.err;
        private long maxBatches = -1;

        private Builder() {}

        /**
         * Sets the prepared model (required, or {@link #setBlock}).
         *
         * @param model the model; its manager parents the per-batch managers
         * @return this builder
         */
        public Builder setModel(Model model) {
            this.block = model.getBlock();
            this.manager = model.getNDManager();
            return this;
        }

        /**
         * Sets the prepared block and the manager under which per-batch managers are made.
         *
         * @param block the block
         * @param manager a manager living as long as the calibrator
         * @return this builder
         */
        public Builder setBlock(Block block, NDManager manager) {
            this.block = block;
            this.manager = manager;
            return this;
        }

        /**
         * Where to draw the progress bar (default {@code System.err}); null for none.
         *
         * @param stream the stream, never stdout
         * @return this builder
         */
        public Builder optProgress(PrintStream stream) {
            if (stream == System.out) {
                throw new IllegalArgumentException(
                        "progress stream was System.out, must be System.err, another stream or"
                                + " null");
            }
            this.progress = stream;
            return this;
        }

        /**
         * Stops after this many batches (default: all).
         *
         * @param maxBatches a positive limit
         * @return this builder
         */
        public Builder optMaxBatches(long maxBatches) {
            if (maxBatches <= 0) {
                throw new IllegalArgumentException(
                        "maxBatches was " + maxBatches + ", must be positive");
            }
            this.maxBatches = maxBatches;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the calibrator
         */
        public Calibrator build() {
            if (block == null || manager == null) {
                throw new IllegalArgumentException(
                        "model (or block and manager) was not set, must be set");
            }
            return new Calibrator(this);
        }
    }
}
