package org.djlquant.policy.measure;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalDouble;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.nn.Converter;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.LatencyProbe;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.policy.Strategy;
import org.djlquant.policy.apply.PolicyApplication;
import org.djlquant.policy.apply.PrecisionConfigs;

/**
 * A {@link LatencyProbe} that builds the real model of an assignment on DJL's PyTorch engine, in
 * place, and times whole forwards of it on one fixed input.
 *
 * <p>Build: a fresh model from the factory; prepared with {@link
 * PolicyApplication#toQConfigMapping} and the given {@link PrecisionConfigs} if a layer is
 * quantized; FP16 / BF16 layers swapped in ({@link PolicyApplication#applyHalfPrecision}); static
 * INT8 layers calibrated on the calibration batches; converted in place ({@link Converter}) on the
 * quantized engine with the weight-only compute dtype given. Time: one forward of the input
 * (inference mode, output read back to Java so the work is done), on libtorch with the given
 * intra-op thread count; with one thread the calling thread's CPU time (every op runs on it, and
 * time the core was held by other processes is left out), else wall time — the convention of {@link
 * TorchCostModel}.
 *
 * <p>Not thread-safe; the verification calls it from one thread. Each subject closes its model.
 */
public final class TorchModelProbe implements LatencyProbe {

    /** Makes a fresh FP32 model (same weights every time). */
    @FunctionalInterface
    public interface ModelFactory {

        /**
         * Makes a model.
         *
         * @return a new, initialized model; the probe closes it
         * @throws QuantizationException if it cannot be made
         */
        Model newModel() throws QuantizationException;
    }

    private final ModelFactory factory;
    private final PrecisionConfigs configs;
    private final NDList input;
    private final Iterable<NDList> calibration;
    private final QEngine engine;
    private final WeightOnlyPackedLinear.Compute compute;
    private final int threads;

    private TorchModelProbe(Builder b) {
        factory = b.factory;
        configs = b.configs;
        input = b.input;
        calibration = b.calibration;
        engine = b.engine;
        compute = b.compute;
        threads = b.threads;
    }

    /**
     * Starts a builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Builds the model of an assignment (see the class comment).
     *
     * @param assignment every layer path mapped to a precision
     * @return the built model, timed by {@link Subject#forwardMs()}; closing it closes the model
     * @throws IllegalStateException if a layer is static INT8 and no calibration batches were given
     * @throws QuantizationException if the model cannot be made or converted
     */
    @Override
    public Subject build(Map<String, Precision> assignment) throws QuantizationException {
        boolean quantized = assignment.values().stream().anyMatch(Precision::isQuantized);
        boolean needsCalibration = assignment.containsValue(Precision.INT8_STATIC);
        if (needsCalibration && calibration == null) {
            throw new IllegalStateException(
                    "assignment has static INT8 layers but the probe has no calibration batches"
                            + " (optCalibration); assignment "
                            + assignment);
        }
        Model m = factory.newModel();
        try {
            Map<String, LayerDecision> d = new LinkedHashMap<>();
            assignment.forEach(
                    (k, v) ->
                            d.put(k, new LayerDecision(v, DecisionSource.MANUAL, "latency probe")));
            MixedPrecisionPolicy p =
                    new MixedPrecisionPolicy(
                            Strategy.MANUAL,
                            d,
                            OptionalDouble.empty(),
                            OptionalDouble.empty(),
                            OptionalDouble.empty());
            if (quantized) {
                Preparer.prepare(m, PolicyApplication.toQConfigMapping(p, configs, m.getBlock()));
            }
            PolicyApplication.HalfSwaps swaps =
                    PolicyApplication.applyHalfPrecision(p, m.getBlock());
            if (needsCalibration) {
                // the calibrator closes what it is given: give it copies, one batch at a time
                Iterable<NDList> copies =
                        () -> {
                            Iterator<NDList> it = calibration.iterator();
                            return new Iterator<>() {
                                @Override
                                public boolean hasNext() {
                                    return it.hasNext();
                                }

                                @Override
                                public NDList next() {
                                    NDList b = it.next();
                                    NDList c = new NDList(b.size());
                                    b.forEach(a -> c.add(a.duplicate()));
                                    return c;
                                }
                            };
                        };
                Calibrator.builder().setModel(m).build().calibrate(copies);
            }
            if (quantized) {
                Converter.convert(m, engine, compute);
            }
            return new Built(m, swaps);
        } catch (QuantizationException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private final class Built implements Subject {
        private final Model model;
        private final PolicyApplication.HalfSwaps swaps;
        private boolean closed;

        Built(Model model, PolicyApplication.HalfSwaps swaps) {
            this.model = model;
            this.swaps = swaps;
        }

        @Override
        public double forwardMs() {
            if (closed) {
                throw new IllegalStateException("the probe's model was closed");
            }
            ThreadMXBean bean = ManagementFactory.getThreadMXBean();
            boolean cpu = threads == 1 && bean.isCurrentThreadCpuTimeSupported();
            int before = JniUtils.getNumThreads();
            JniUtils.setNumThreads(threads);
            try (NDManager sub = model.getNDManager().newSubManager()) {
                sub.tempAttachAll(input);
                ParameterStore ps = new ParameterStore(sub, false);
                long t0 = cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime();
                NDList out = model.getBlock().forward(ps, input, false);
                out.head().toFloatArray();
                long t1 = cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime();
                return (t1 - t0) / 1e6;
            } finally {
                JniUtils.setNumThreads(before);
            }
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                swaps.restore();
            } finally {
                model.close();
            }
        }
    }

    /** Configures a {@link TorchModelProbe}. */
    public static final class Builder {
        private ModelFactory factory;
        private PrecisionConfigs configs;
        private NDList input;
        private Iterable<NDList> calibration;
        private QEngine engine;
        private WeightOnlyPackedLinear.Compute compute = WeightOnlyPackedLinear.Compute.BFLOAT16;
        private int threads = 1;

        private Builder() {}

        /**
         * Sets what makes a fresh FP32 model (required).
         *
         * @param factory the factory
         * @return this builder
         */
        public Builder setModelFactory(ModelFactory factory) {
            this.factory = factory;
            return this;
        }

        /**
         * Sets the config of each quantized precision (required), the same the search simulated.
         *
         * @param configs the configs
         * @return this builder
         */
        public Builder setConfigs(PrecisionConfigs configs) {
            this.configs = configs;
            return this;
        }

        /**
         * Sets the timed input (required): PyTorch arrays owned by the caller, not closed.
         *
         * @param input the model input
         * @return this builder
         */
        public Builder setInput(NDList input) {
            this.input = input;
            return this;
        }

        /**
         * Sets the batches static INT8 layers are calibrated on (needed if any assignment has one).
         *
         * @param batches model inputs, PyTorch arrays owned by the caller (the probe calibrates on
         *     copies and leaves them open)
         * @return this builder
         */
        public Builder optCalibration(Iterable<NDList> batches) {
            this.calibration = batches;
            return this;
        }

        /**
         * Sets the quantized engine to convert for (default: the current one).
         *
         * @param engine the engine
         * @return this builder
         */
        public Builder optEngine(QEngine engine) {
            this.engine = engine;
            return this;
        }

        /**
         * Sets the compute dtype of weight-only layers (default BFLOAT16, as {@link TorchCostModel}
         * times them).
         *
         * @param compute the compute dtype
         * @return this builder
         */
        public Builder optWeightOnlyCompute(WeightOnlyPackedLinear.Compute compute) {
            this.compute = compute;
            return this;
        }

        /**
         * Sets libtorch's intra-op thread count while timing (default 1: calling-thread CPU time).
         *
         * @param threads at least 1
         * @return this builder
         */
        public Builder optThreads(int threads) {
            this.threads = threads;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the probe
         * @throws IllegalArgumentException naming the missing or invalid setting
         */
        public TorchModelProbe build() {
            if (factory == null || configs == null || input == null) {
                throw new IllegalArgumentException(
                        "model factory, configs and input are required (setModelFactory,"
                                + " setConfigs, setInput); missing: "
                                + (factory == null ? "modelFactory " : "")
                                + (configs == null ? "configs " : "")
                                + (input == null ? "input" : ""));
            }
            if (threads < 1) {
                throw new IllegalArgumentException("threads was " + threads + ", must be >= 1");
            }
            Objects.requireNonNull(compute, "compute");
            if (engine == null) {
                engine = QEngine.current();
            }
            return new TorchModelProbe(this);
        }
    }
}
