package org.djlquant.policy.measure;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.djlquant.policy.EvaluationException;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;

/**
 * Measures per-layer sensitivity on a prepared model: the model output against FP32 with only one
 * layer in a candidate precision (all others FP32), for every layer and candidate, and optionally
 * with every layer but one in a given precision (that one FP32). Errors are SQNR (dB), mean row
 * cosine and, when the output is logits, mean row KL divergence; {@link
 * SensitivityReport#table(org.djlquant.policy.ProxyMetric)} turns them into the policy engine's
 * {@link org.djlquant.policy.SensitivityTable}.
 *
 * <p>Cost: one FP32 pass, one calibration pass if INT8_STATIC is a candidate and the simulator is
 * not calibrated yet, then {@code layers x candidates (+ layers)} passes over the batches; with a
 * task metric ({@link Builder#optTaskMetric}) at most {@code maxEvaluations} task-metric calls
 * more, on the layers the proxies rank most sensitive (cheap proxies first, the task metric where
 * it matters). The FP32 reference outputs are kept in Java memory. Not thread-safe; leaves the
 * simulator at FP32.
 */
public final class SensitivityRunner {

    private final PrecisionSimulator simulator;
    private final NDManager manager;
    private final Iterable<NDList> batches;
    private final Iterable<NDList> calibration;
    private final Set<Precision> candidates;
    private final Precision allButThis;
    private final OutputSelector output;
    private final boolean logits;
    private final PrintStream progress;
    private final TaskMetric taskMetric;
    private final int taskEvaluations;

    private SensitivityRunner(Builder b) {
        taskMetric = b.taskMetric;
        taskEvaluations = b.taskEvaluations;
        simulator = b.simulator;
        manager = b.manager;
        batches = b.batches;
        calibration = b.calibration == null ? b.batches : b.calibration;
        candidates = EnumSet.copyOf(b.candidates);
        allButThis = b.allButThis;
        output = b.output;
        logits = b.logits;
        progress = b.progress;
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
     * Runs every measurement: the proxies for every layer and candidate first, then, if a task
     * metric was given, the task metric on the layers the proxies rank most sensitive.
     *
     * @return the report
     * @throws IllegalArgumentException if there is no batch
     * @throws org.djlquant.policy.EvaluationException if the task metric throws or returns a
     *     non-finite value; it names the layer and precision being measured
     */
    public SensitivityReport run() throws QuantizationException {
        simulator.resetToFp32();
        List<float[]> reference = new ArrayList<>();
        List<Integer> widths = new ArrayList<>();
        for (NDList batch : batches) {
            try (NDManager sub = manager.newSubManager()) {
                sub.tempAttachAll(batch);
                NDArray y = select(batch, sub);
                reference.add(y.toFloatArray());
                widths.add((int) y.getShape().get(y.getShape().dimension() - 1));
            }
        }
        if (reference.isEmpty()) {
            throw new IllegalArgumentException("sensitivity runner got 0 batches, must have >= 1");
        }
        if (candidates.contains(Precision.INT8_STATIC) && !simulator.isCalibrated()) {
            log("calibrating static INT8 ranges");
            simulator.calibrate(calibration, manager);
        }
        Map<String, Map<Precision, SensitivityReport.Measurement>> only = new LinkedHashMap<>();
        Map<String, SensitivityReport.Measurement> abt = new LinkedHashMap<>();
        List<LayerInfo> layers = simulator.layers();
        try {
            for (LayerInfo l : layers) {
                Map<Precision, SensitivityReport.Measurement> row = new EnumMap<>(Precision.class);
                for (Precision p : candidates) {
                    simulator.set(Map.of(l.path(), p));
                    row.put(p, measure(l.path(), p, reference, widths));
                }
                only.put(l.path(), row);
                if (allButThis != null) {
                    Map<String, Precision> a = new LinkedHashMap<>();
                    for (LayerInfo o : layers) {
                        a.put(o.path(), o.path().equals(l.path()) ? Precision.FP32 : allButThis);
                    }
                    simulator.set(a);
                    abt.put(l.path(), measure(l.path(), allButThis, reference, widths));
                }
                log("measured " + l.path());
            }
        } finally {
            simulator.resetToFp32();
        }
        double taskFp32 = Double.NaN;
        Map<String, SensitivityReport.TaskMeasurement> task = new LinkedHashMap<>();
        if (taskMetric != null) {
            taskFp32 = task(Map.of(), "the FP32 baseline");
            log(String.format(Locale.ROOT, "task metric FP32 %.4f", taskFp32));
            for (String path : mostSensitive(layers, only, taskEvaluations - 1)) {
                Precision worst = worst(only.get(path));
                double v =
                        task(
                                Map.of(path, worst),
                                "task-metric sensitivity of layer " + path + " at " + worst);
                task.put(path, new SensitivityReport.TaskMeasurement(path, worst, v, taskFp32 - v));
                log(
                        String.format(
                                Locale.ROOT,
                                "task metric %s at %s: %.4f (drop %.4f)",
                                path,
                                worst,
                                v,
                                taskFp32 - v));
            }
        }
        return new SensitivityReport(
                layers, only, abt, allButThis, logits, reference.size(), taskFp32, task);
    }

    private double task(Map<String, Precision> assignment, String trying)
            throws QuantizationException {
        double v;
        try {
            simulator.set(assignment);
            v = taskMetric.measure();
        } catch (QuantizationException | RuntimeException e) {
            throw new EvaluationException(
                    "the task metric failed while measuring " + trying + ": " + e.getMessage(),
                    assignment,
                    trying,
                    e);
        } finally {
            simulator.resetToFp32();
        }
        if (!Double.isFinite(v)) {
            throw new EvaluationException(
                    "the task metric returned "
                            + v
                            + " while measuring "
                            + trying
                            + ", must be finite",
                    assignment,
                    trying,
                    null);
        }
        return v;
    }

    /** Noise power of the most damaging candidate of a layer (SQNR damage). */
    private static double worstDamage(Map<Precision, SensitivityReport.Measurement> row) {
        return ProxyMetric.SQNR_DB.damage(row.get(worst(row)).sqnrDb(), row.get(worst(row)).path());
    }

    private static Precision worst(Map<Precision, SensitivityReport.Measurement> row) {
        Precision worst = null;
        double max = -1;
        for (Map.Entry<Precision, SensitivityReport.Measurement> e : row.entrySet()) {
            double d = ProxyMetric.SQNR_DB.damage(e.getValue().sqnrDb(), e.getValue().path());
            if (d > max) {
                max = d;
                worst = e.getKey();
            }
        }
        return worst;
    }

    private static List<String> mostSensitive(
            List<LayerInfo> layers,
            Map<String, Map<Precision, SensitivityReport.Measurement>> only,
            int count) {
        List<String> paths = new ArrayList<>();
        layers.forEach(l -> paths.add(l.path()));
        // most damaged first; ties in model order (the sort is stable)
        paths.sort(Comparator.comparingDouble((String p) -> -worstDamage(only.get(p))));
        return paths.subList(0, Math.min(count, paths.size()));
    }

    private SensitivityReport.Measurement measure(
            String path, Precision p, List<float[]> reference, List<Integer> widths) {
        OutputError err = new OutputError();
        int i = 0;
        for (NDList batch : batches) {
            try (NDManager sub = manager.newSubManager()) {
                sub.tempAttachAll(batch);
                float[] out = select(batch, sub).toFloatArray();
                err.add(reference.get(i), out, widths.get(i), logits);
            }
            i++;
        }
        return new SensitivityReport.Measurement(
                path, p, err.sqnrDb(), err.cosine(), logits ? err.kl() : Double.NaN);
    }

    private NDArray select(NDList batch, NDManager sub) {
        NDList out = simulator.forward(batch, sub);
        NDArray y = output.select(batch, out);
        return y.getDataType() == DataType.FLOAT32 ? y : y.toType(DataType.FLOAT32, false);
    }

    private void log(String msg) {
        if (progress != null) {
            progress.println("sensitivity: " + msg);
        }
    }

    /** Configures a {@link SensitivityRunner}; {@link #build()} validates. */
    public static final class Builder {
        private PrecisionSimulator simulator;
        private NDManager manager;
        private Iterable<NDList> batches;
        private Iterable<NDList> calibration;
        private Set<Precision> candidates =
                EnumSet.of(
                        Precision.BF16,
                        Precision.FP16,
                        Precision.INT8_WEIGHT_ONLY,
                        Precision.INT8_DYNAMIC,
                        Precision.INT8_STATIC,
                        Precision.INT4_WEIGHT_ONLY);
        private Precision allButThis = Precision.INT8_DYNAMIC;
        private OutputSelector output = OutputSelector.FIRST;
        private boolean logits;
        private PrintStream progress;
        private TaskMetric taskMetric;
        private int taskEvaluations;

        private Builder() {}

        /**
         * Adds the task metric where it matters: after the proxies, the task metric is measured
         * once at FP32 and then with only one layer quantized, for the {@code maxEvaluations - 1}
         * layers whose most damaging candidate has the largest output noise power (SQNR damage),
         * each at that candidate (ties: the candidate declared first in {@link Precision}; layers
         * with equal damage: model order). The metric is called exactly {@code min(maxEvaluations,
         * layers + 1)} times; with the policy search's own bound ({@code 2 * layers + 4 +
         * precisions}) the task metric runs at most {@code 2 * layers + 4 + precisions +
         * maxEvaluations} times in all.
         *
         * @param metric the task metric on held-out data (higher is better)
         * @param maxEvaluations at least 2
         * @return this builder
         */
        public Builder optTaskMetric(TaskMetric metric, int maxEvaluations) {
            this.taskMetric = metric;
            this.taskEvaluations = maxEvaluations;
            return this;
        }

        /**
         * Sets the simulator of the prepared model (required).
         *
         * @param simulator the simulator
         * @return this builder
         */
        public Builder setSimulator(PrecisionSimulator simulator) {
            this.simulator = simulator;
            return this;
        }

        /**
         * Sets the manager forwards run under (required); each batch runs in a sub-manager.
         *
         * @param manager the manager
         * @return this builder
         */
        public Builder setManager(NDManager manager) {
            this.manager = manager;
            return this;
        }

        /**
         * Sets the batches the output error is measured on (required; iterated once per
         * measurement, so it must be re-iterable).
         *
         * @param batches the batches
         * @return this builder
         */
        public Builder setBatches(Iterable<NDList> batches) {
            this.batches = batches;
            return this;
        }

        /**
         * Sets the batches static INT8 ranges are calibrated on (default: the measurement batches).
         *
         * @param calibration the batches
         * @return this builder
         */
        public Builder optCalibration(Iterable<NDList> calibration) {
            this.calibration = calibration;
            return this;
        }

        /**
         * Sets the precisions measured per layer (default: all but FP32).
         *
         * @param candidates non-empty, without FP32
         * @return this builder
         */
        public Builder optCandidates(Set<Precision> candidates) {
            this.candidates = candidates;
            return this;
        }

        /**
         * Sets the precision of the other layers in the all-but-this measurements (default
         * INT8_DYNAMIC), or null to skip them.
         *
         * @param precision the precision, or null
         * @return this builder
         */
        public Builder optAllButThis(Precision precision) {
            this.allButThis = precision;
            return this;
        }

        /**
         * Sets what of the output is compared (default: the first output).
         *
         * @param output the selector
         * @return this builder
         */
        public Builder optOutput(OutputSelector output) {
            this.output = output;
            return this;
        }

        /**
         * Declares the compared output to be logits over its last dimension, so KL is measured.
         *
         * @param logits true for logits
         * @return this builder
         */
        public Builder optLogits(boolean logits) {
            this.logits = logits;
            return this;
        }

        /**
         * Prints one line per measured layer.
         *
         * @param progress the stream, or null for silence
         * @return this builder
         */
        public Builder optProgress(PrintStream progress) {
            this.progress = progress;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the runner
         * @throws IllegalArgumentException naming the missing or invalid setting
         */
        public SensitivityRunner build() {
            if (simulator == null) {
                throw new IllegalArgumentException("simulator is required (setSimulator)");
            }
            if (manager == null) {
                throw new IllegalArgumentException("manager is required (setManager)");
            }
            if (batches == null) {
                throw new IllegalArgumentException("batches are required (setBatches)");
            }
            Objects.requireNonNull(output, "output");
            if (candidates == null || candidates.isEmpty()) {
                throw new IllegalArgumentException(
                        "candidates were "
                                + candidates
                                + ", must name at least one of "
                                + EnumSet.complementOf(EnumSet.of(Precision.FP32)));
            }
            if (candidates.contains(Precision.FP32)) {
                throw new IllegalArgumentException(
                        "candidates were "
                                + candidates
                                + "; FP32 is the reference, must not be a candidate");
            }
            if (taskMetric != null && taskEvaluations < 2) {
                throw new IllegalArgumentException(
                        "task-metric evaluations were "
                                + taskEvaluations
                                + ", must be at least 2 (the FP32 baseline and one layer)");
            }
            if (allButThis == Precision.FP32) {
                throw new IllegalArgumentException(
                        "allButThis was FP32, must be a quantized or half precision, or null");
            }
            return new SensitivityRunner(this);
        }
    }
}
