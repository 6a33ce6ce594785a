package org.djlquant.policy.measure;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.backend.pytorch.HalfPrecisionOps;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.nn.BlockSwap;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.QuantTwin;
import org.djlquant.policy.Evaluator;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
import org.djlquant.policy.apply.PolicyApplication;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.policy.apply.UnknownLayerException;

/**
 * Runs a prepared model with any precision per layer, simulated: for each Linear layer that {@link
 * org.djlquant.nn.Preparer} wrapped, a stand-in per precision is swapped in place of the twin
 * (through {@link BlockSwap}) while measuring, and the prepared twins are put back by {@link
 * #close()}.
 *
 * <ul>
 *   <li>FP32: the layer's own computation (the stand-in records the first input shape it sees, for
 *       the cost model);
 *   <li>INT8 static / dynamic / weight-only, INT4 weight-only: an {@link ObservedLinear} twin of
 *       the same {@code Linear} (sharing its parameters) with the precision's config from {@link
 *       PrecisionConfigs} (by default {@link PolicyApplication#qconfig}), fake quantization on.
 *       Static twins quantize input and output (as the twins {@link org.djlquant.nn.Preparer}
 *       makes, and as {@link org.djlquant.nn.Converter} runs them) and need {@link
 *       #calibrate(Iterable, NDManager)} first. INT4 uses the weight-only INT4 config of the
 *       simulator's backend ({@link PrecisionConfigs#config(Precision, String, long)}: INT4 affine
 *       per group of input features, {@code QConfig.weightOnlyInt4(group, target)}), with the group
 *       {@link PrecisionConfigs#int4GroupSize} chooses (128, else 64, else 32): on FBGEMM / QNNPACK
 *       the form libtorch's {@code aten::_weight_int4pack_mm_for_cpu} runs after {@link
 *       org.djlquant.nn.Converter}, on ONNX Runtime the form of its MatMulNBits. The simulation
 *       does not check libtorch's output-width rule (a multiple of 16); the cost model and the
 *       converter refuse such layers;
 *   <li>FP16 / BF16: input, weight, bias and output cast to the half type and back, product in
 *       FP32.
 * </ul>
 *
 * <p>Only {@code Linear} twins are measured; other twins (convolutions, attention matmuls) stay as
 * prepared and are listed by {@link #skipped()}. Not thread-safe: one forward at a time, and no
 * forward while the precisions change. Holds no native memory of its own (fake-quant arrays are per
 * forward, in the batch's manager).
 */
public final class PrecisionSimulator implements AutoCloseable {

    private final Block root;
    private final PrecisionConfigs configs;
    private final List<LayerInfo> layers = new ArrayList<>();
    private final List<String> skipped = new ArrayList<>();
    private final Map<String, QuantTwin> prepared = new LinkedHashMap<>();
    private final Map<String, Linear> originals = new LinkedHashMap<>();
    private final Map<String, Map<Precision, Block>> variants = new LinkedHashMap<>();
    private final Map<String, Block> current = new LinkedHashMap<>();
    private boolean calibrated;
    private boolean closed;

    private PrecisionSimulator(Block root, PrepareReport report, PrecisionConfigs configs) {
        this.root = root;
        this.configs = configs;
        for (PrepareReport.Entry e : report.entries()) {
            if (e.status() != PrepareReport.Status.WRAPPED) {
                continue;
            }
            QuantTwin twin = report.twin(e.path());
            if (!(twin instanceof ObservedLinear)) {
                skipped.add(
                        e.cleanPath()
                                + " ("
                                + e.blockClass()
                                + ": only Linear layers are simulated per precision)");
                continue;
            }
            Linear original = (Linear) twin.original();
            String path = e.cleanPath();
            long params = original.getParameters().get("weight").getArray().size();
            layers.add(new LayerInfo(path, "Linear", params));
            prepared.put(path, twin);
            originals.put(path, original);
            current.put(path, twin);
            variants.put(path, new EnumMap<>(Precision.class));
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException(
                    "the prepare report has no wrapped Linear layer; prepare the model with a"
                            + " mapping that wraps the candidate layers (skipped: "
                            + skipped
                            + ")");
        }
        try {
            for (String path : layers().stream().map(LayerInfo::path).toList()) {
                swap(path, variant(path, Precision.FP32));
            }
        } catch (RuntimeException ex) {
            close();
            throw ex;
        }
    }

    /**
     * Starts a simulator on a prepared model: every Linear twin in the report is replaced by its
     * FP32 stand-in until {@link #close()}.
     *
     * @param root the prepared model's root block (parameters initialized)
     * @param report the report {@link org.djlquant.nn.Preparer#prepare} returned for it
     * @param target the backend whose configs ({@link PrecisionConfigs#presets}) simulate the INT8
     *     / INT4 precisions
     * @return the simulator, every layer at FP32; close it to put the twins back
     * @throws IllegalArgumentException if the report wraps no Linear layer
     */
    public static PrecisionSimulator create(
            Block root, PrepareReport report, BackendTarget target) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(report, "report");
        Objects.requireNonNull(target, "target");
        return new PrecisionSimulator(root, report, PrecisionConfigs.presets(target));
    }

    /**
     * Starts a simulator whose INT8 / INT4 precisions use the given configs (for example {@link
     * PrecisionConfigs#perChannel}); otherwise as {@link #create(Block, PrepareReport,
     * BackendTarget)}.
     *
     * @param root the prepared model's root block (parameters initialized)
     * @param report the report {@link org.djlquant.nn.Preparer#prepare} returned for it
     * @param configs the config of each quantized precision
     * @return the simulator, every layer at FP32; close it to put the twins back
     * @throws IllegalArgumentException if the report wraps no Linear layer
     */
    public static PrecisionSimulator create(
            Block root, PrepareReport report, PrecisionConfigs configs) {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(report, "report");
        Objects.requireNonNull(configs, "configs");
        return new PrecisionSimulator(root, report, configs);
    }

    /**
     * Returns the configs the quantized precisions are simulated with.
     *
     * @return the configs
     */
    public PrecisionConfigs configs() {
        return configs;
    }

    /**
     * Returns the simulated layers, in model order, with clean paths and weight counts.
     *
     * @return unmodifiable list
     */
    public List<LayerInfo> layers() {
        return Collections.unmodifiableList(layers);
    }

    /**
     * Returns the wrapped layers that are not simulated, with the reason.
     *
     * @return unmodifiable list
     */
    public List<String> skipped() {
        return Collections.unmodifiableList(skipped);
    }

    /**
     * Returns the root block being simulated.
     *
     * @return the root
     */
    public Block root() {
        return root;
    }

    /**
     * Returns the FP32 Linear layer at a path.
     *
     * @param path a layer path from {@link #layers()}
     * @return the original layer (its parameters are the model's)
     * @throws UnknownLayerException if the path is not a simulated layer
     */
    public Linear original(String path) {
        check(path, "request");
        return originals.get(path);
    }

    /**
     * Returns the input shape each layer saw first while at FP32 (recorded on the first forward).
     *
     * @return shapes by path, for the layers seen so far
     */
    public Map<String, Shape> inputShapes() {
        Map<String, Shape> out = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            Block b = variants.get(l.path()).get(Precision.FP32);
            Shape s = b == null ? null : ((SimLinear) b).firstInput();
            if (s != null) {
                out.put(l.path(), s);
            }
        }
        return out;
    }

    /**
     * Calibrates the static INT8 stand-ins: all of them are put in place with observing on and fake
     * quantization off (so the model computes FP32 exactly), the batches run, and the layers go
     * back to FP32.
     *
     * @param batches the calibration batches, at least one
     * @param manager the manager forwards run under (per-batch arrays live in a sub-manager)
     * @throws IllegalArgumentException if there is no batch
     */
    public void calibrate(Iterable<NDList> batches, NDManager manager) {
        checkOpen();
        Map<String, Precision> all = new LinkedHashMap<>();
        for (LayerInfo l : layers) {
            ObservedLinear s = (ObservedLinear) variant(l.path(), Precision.INT8_STATIC);
            s.control().setObserving(true);
            s.control().setFakeQuant(false);
            all.put(l.path(), Precision.INT8_STATIC);
        }
        long n = 0;
        try {
            set(all);
            for (NDList batch : batches) {
                forwardAndClose(batch, manager);
                n++;
            }
        } finally {
            for (LayerInfo l : layers) {
                ObservedLinear s = (ObservedLinear) variant(l.path(), Precision.INT8_STATIC);
                s.control().setObserving(false);
                s.control().setFakeQuant(true);
            }
            resetToFp32();
        }
        if (n == 0) {
            throw new IllegalArgumentException("calibration got 0 batches, must have at least 1");
        }
        calibrated = true;
    }

    /**
     * Tells whether {@link #calibrate} ran.
     *
     * @return true once static stand-ins are calibrated
     */
    public boolean isCalibrated() {
        return calibrated;
    }

    /**
     * Sets every layer's precision; layers the assignment leaves out go to FP32.
     *
     * @param assignment layer path to precision
     * @throws UnknownLayerException if a path is not a simulated layer
     * @throws IllegalStateException if INT8_STATIC is asked for before {@link #calibrate}
     */
    public void set(Map<String, Precision> assignment) {
        checkOpen();
        for (Map.Entry<String, Precision> e : assignment.entrySet()) {
            check(e.getKey(), "assignment");
            Objects.requireNonNull(e.getValue(), "precision of " + e.getKey());
            if (e.getValue() == Precision.INT8_STATIC
                    && !calibrated
                    && !isCalibrating(e.getKey())) {
                throw new IllegalStateException(
                        "layer "
                                + e.getKey()
                                + ": INT8_STATIC needs calibrated activation ranges; call"
                                + " calibrate(batches, manager) first");
            }
        }
        for (LayerInfo l : layers) {
            Precision p = assignment.getOrDefault(l.path(), Precision.FP32);
            swap(l.path(), variant(l.path(), p));
        }
    }

    /** Sets every layer back to FP32. */
    public void resetToFp32() {
        checkOpen();
        for (LayerInfo l : layers) {
            swap(l.path(), variant(l.path(), Precision.FP32));
        }
    }

    /**
     * Wraps a task metric as the policy search's {@link Evaluator}: each call sets the assignment,
     * measures, and sets the model back to FP32 (also when the metric throws).
     *
     * @param metric the user's task metric on held-out data
     * @return the evaluator
     */
    public Evaluator evaluator(TaskMetric metric) {
        Objects.requireNonNull(metric, "metric");
        return assignment -> {
            set(assignment);
            try {
                return metric.measure();
            } finally {
                resetToFp32();
            }
        };
    }

    /**
     * Runs one forward and returns the outputs.
     *
     * @param batch the inputs
     * @param manager the manager that owns the outputs (the caller closes it)
     * @return the outputs
     */
    public NDList forward(NDList batch, NDManager manager) {
        checkOpen();
        return root.forward(new ParameterStore(manager, false), batch, false);
    }

    private void forwardAndClose(NDList batch, NDManager manager) {
        try (NDManager sub = manager.newSubManager()) {
            sub.tempAttachAll(batch);
            forward(batch, sub);
        }
    }

    /** Puts the prepared twins back in place; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Map.Entry<String, QuantTwin> e : prepared.entrySet()) {
            Block now = current.get(e.getKey());
            if (now != e.getValue()) {
                BlockSwap.replace(root, now, e.getValue());
                current.put(e.getKey(), e.getValue());
            }
        }
    }

    private boolean isCalibrating(String path) {
        Block b = variants.get(path).get(Precision.INT8_STATIC);
        return b instanceof ObservedLinear && ((ObservedLinear) b).control().isObserving();
    }

    private Block variant(String path, Precision p) {
        return variants.get(path).computeIfAbsent(p, k -> newVariant(path, k));
    }

    private Block newVariant(String path, Precision p) {
        Linear original = originals.get(path);
        if (p == Precision.FP32) {
            return new SimLinear(original, path, SimLinear.FP32);
        }
        if (p == Precision.FP16 || p == Precision.BF16) {
            return new SimLinear(
                    original,
                    path,
                    p == Precision.BF16 ? HalfPrecisionOps.BFLOAT16 : HalfPrecisionOps.FLOAT16);
        }
        // the backend's config; INT4 with the group chosen for this layer's input width
        long in = original.getParameters().get("weight").getArray().getShape().get(1);
        QConfig config = configs.config(p, path, in);
        // static layers quantize their output too, as Preparer's twins and the converter do
        ObservedLinear twin =
                new ObservedLinear(
                        original,
                        prepared.get(path).path(),
                        config,
                        config.mode().observesActivations());
        twin.control().setObserving(false);
        twin.control().setFakeQuant(true);
        return twin;
    }

    private void swap(String path, Block next) {
        Block now = current.get(path);
        if (now != next) {
            BlockSwap.replace(root, now, next);
            current.put(path, next);
        }
    }

    private void check(String path, String what) {
        if (!originals.containsKey(path)) {
            throw new UnknownLayerException(path, what, originals.keySet());
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the precision simulator is closed");
        }
    }
}
