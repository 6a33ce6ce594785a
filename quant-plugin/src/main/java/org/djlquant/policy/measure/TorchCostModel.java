package org.djlquant.policy.measure;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Arrays;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.function.Supplier;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.HalfPrecisionOps;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.eval.Median;
import org.djlquant.nn.WeightOnlyShapeException;
import org.djlquant.policy.CostCacheKey;
import org.djlquant.policy.CostModel;
import org.djlquant.policy.LayerCost;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
import org.djlquant.policy.PrecisionFamily;
import org.djlquant.policy.apply.PrecisionConfigs;

/**
 * Measures a Linear layer's latency on libtorch in each precision, at the input shape the layer saw
 * during calibration ({@link PrecisionSimulator#inputShapes()}), with its real weights and random
 * normal inputs: the median of {@code runs} timed calls after {@code warmup} untimed ones, at a
 * fixed intra-op thread count (set with {@code torch.set_num_threads} for the measurement and
 * restored after). With one thread, libtorch runs the call on the calling thread and the time is
 * that thread's CPU time ({@code ThreadMXBean.getCurrentThreadCpuTime}), which leaves out the time
 * other processes held the core (on a shared machine the wall time of one call can be several times
 * its cost); with more threads it is the wall time.
 *
 * <ul>
 *   <li>FP32: {@code aten::linear};
 *   <li>FP16 / BF16: {@link HalfPrecisionOps.Layer} (weights stored in the half type, input cast,
 *       linear in the half type, output cast back), the same path {@link
 *       org.djlquant.policy.apply.HalfPrecisionLinear} runs;
 *   <li>INT8 dynamic / static: {@link PackedLinear} (fbgemm/qnnpack kernels of the current {@link
 *       QEngine}; static includes quantizing the input and dequantizing the output);
 *   <li>INT8 / INT4 weight-only: {@link WeightOnlyPackedLinear}, libtorch's weight-only kernels
 *       ({@code aten::_weight_int8pack_mm} with one scale per output channel; {@code
 *       aten::_weight_int4pack_mm_for_cpu} with a scale and a zero offset per group of {@link
 *       PrecisionConfigs#int4GroupSize} input features, the group the simulator uses), with {@link
 *       WeightOnlyPackedLinear.Compute#BFLOAT16} compute: the form a user deploys (what {@code
 *       Converter.convert(model, engine, Compute.BFLOAT16)} builds). FLOAT32 compute, which equals
 *       the simulation up to float32 summation order, runs libtorch's non-vectorized loops and is
 *       not what anyone would ship, so it is not what is timed. These kernels do not depend on the
 *       quantized engine. Shapes the kernel cannot take are refused with a {@link
 *       WeightOnlyShapeException} naming the layer, its weight shape and the values allowed: INT8
 *       needs {@code in} a multiple of {@value WeightOnlyPackedLinear#BF16_IN_MULTIPLE}; INT4 needs
 *       {@code in} a multiple of 32 and {@code out} a multiple of {@value
 *       WeightOnlyPackedLinear#INT4_OUT_MULTIPLE}.
 * </ul>
 *
 * <p>Boundaries between layers of different {@link PrecisionFamily families}: {@link #roundTripMs}
 * times the layer's input converted to the family and back (the cost {@link
 * org.djlquant.policy.CostTable#transitionMs} charges from).
 *
 * <p>Bytes: what the layer holds when it runs. FP32: 4 per weight and bias; FP16 / BF16: 2 per
 * weight and bias; INT8 dynamic / static: {@link Precision#estimatedBytes} plus 4 per bias;
 * weight-only: the kernel's native bytes ({@link WeightOnlyPackedLinear#weightBytes()}: {@code out
 * · in} for INT8, {@code out · in / 2} for INT4; plus {@link WeightOnlyPackedLinear#paramBytes()}:
 * one bfloat16 scale per output channel for INT8, a bfloat16 scale and zero per group and output
 * channel for INT4) plus 4 per (float32) bias. Each call creates and closes its own arrays. Not
 * thread-safe (it changes libtorch's thread count while measuring).
 */
public final class TorchCostModel implements CostModel {

    private final PrecisionSimulator simulator;
    private final int warmup;
    private final int runs;
    private final int threads;
    private final QEngine engine;

    /** Untimed calls before the reference GEMM is timed. */
    public static final int REFERENCE_WARMUP = 5;

    /** Timed calls of the reference GEMM; the fastest is its latency. */
    public static final int REFERENCE_RUNS = 21;

    private TorchCostModel(Builder b) {
        simulator = b.simulator;
        warmup = b.warmup;
        runs = b.runs;
        threads = b.threads;
        engine = b.engine;
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
     * Returns the cost-cache key of these measurements.
     *
     * @param workload how the input shapes were obtained, for example {@code "sentiment batch 32"}
     * @return the key: this machine, backend {@code pytorch-<qengine>-wo-bf16} with this model's
     *     {@link #engine()} (so that timings of one quantized engine never serve another), with
     *     {@code -cpu} appended for one thread (the suffixes name the weight-only kernels in
     *     bfloat16 compute and the thread-CPU-time measurement, so that caches written under
     *     earlier measurements are not read back), the thread count
     */
    public CostCacheKey cacheKey(String workload) {
        return new CostCacheKey(
                CostCacheKey.currentMachineId(),
                "pytorch-"
                        + engine.name().toLowerCase(java.util.Locale.ROOT)
                        + "-wo-bf16"
                        + (threads == 1 ? "-cpu" : ""),
                threads,
                workload);
    }

    /**
     * Returns the quantized engine INT8 layers are packed for and timed on.
     *
     * @return the engine given to {@link Builder#optEngine}, else the one current at build time
     */
    public QEngine engine() {
        return engine;
    }

    /**
     * Times the fixed reference workload of the cost cache's staleness check ({@link
     * org.djlquant.policy.CostCache#open(java.nio.file.Path, org.djlquant.policy.CostCacheKey,
     * java.util.function.DoubleSupplier)}): an FP32 {@code linear} of a constant {@code [128,
     * 1024]} input with a constant {@code [1024, 1024]} weight (268 MFLOP), on this model's threads
     * and clock (thread CPU time for one thread, as {@link #measure}), with its own fixed protocol
     * so that it does not depend on {@link Builder#optRuns}: {@value #REFERENCE_WARMUP} untimed
     * calls, then the fastest of {@value #REFERENCE_RUNS} timed ones (less disturbed by other work
     * than the median; see {@link org.djlquant.policy.CostCache#DEFAULT_TOLERANCE} for how much it
     * still moves on a VM).
     *
     * @return the fastest latency in ms
     */
    public double referenceGemmMs() {
        int before = JniUtils.getNumThreads();
        JniUtils.setNumThreads(threads);
        try (NDManager m = Engine.getEngine("PyTorch").newBaseManager()) {
            NDArray x = m.ones(new Shape(128, 1024)).mul(0.5f);
            NDArray w = m.ones(new Shape(1024, 1024)).mul(0.25f);
            return Arrays.stream(
                            times(m, () -> linear(x, w, null), REFERENCE_WARMUP, REFERENCE_RUNS))
                    .min()
                    .orElseThrow();
        } finally {
            JniUtils.setNumThreads(before);
        }
    }

    /**
     * Returns the thread count measurements run with.
     *
     * @return the intra-op threads
     */
    public int threads() {
        return threads;
    }

    /**
     * Measures one layer in one precision (see the class comment for the kernel of each).
     *
     * @param layer a layer of the simulator
     * @param precision the precision
     * @return the median latency in milliseconds and the bytes the layer holds
     * @throws IllegalStateException if the layer's input shape was not recorded yet
     * @throws WeightOnlyShapeException for a weight-only precision whose kernel cannot take the
     *     layer's weight shape (the message names the layer, the shape and the values allowed)
     * @throws QuantizationException if libtorch refuses the packed weights
     */
    @Override
    public LayerCost measure(LayerInfo layer, Precision precision) throws QuantizationException {
        Linear original = simulator.original(layer.path());
        Shape inShape = inputShape(layer);
        Parameter wp = original.getParameters().get("weight");
        Parameter bp =
                original.getParameters().contains("bias")
                        ? original.getParameters().get("bias")
                        : null;
        float[] w = wp.getArray().toFloatArray();
        float[] bias = bp == null ? null : bp.getArray().toFloatArray();
        long out = wp.getArray().getShape().get(0);
        long in = wp.getArray().getShape().get(1);
        long biasCount = bias == null ? 0 : bias.length;
        int before = JniUtils.getNumThreads();
        JniUtils.setNumThreads(threads);
        try (NDManager m = Engine.getEngine("PyTorch").newBaseManager()) {
            NDArray x = m.randomNormal(inShape);
            NDArray wa = m.create(w, new Shape(out, in));
            NDArray ba = bias == null ? null : m.create(bias);
            switch (precision) {
                case FP32:
                    return new LayerCost(
                            time(m, () -> linear(x, wa, ba)), 4 * (w.length + biasCount));
                case FP16:
                case BF16:
                    try (HalfPrecisionOps.Layer h =
                            HalfPrecisionOps.Layer.of(
                                    wa,
                                    ba,
                                    precision == Precision.BF16
                                            ? HalfPrecisionOps.BFLOAT16
                                            : HalfPrecisionOps.FLOAT16)) {
                        return new LayerCost(time(m, () -> h.forward(x)), h.bytes());
                    }
                case INT8_DYNAMIC:
                case INT8_STATIC:
                    // weights are packed for the engine current at packing time
                    QEngine.select(engine);
                    try (PackedLinear p = packed(precision, w, out, in, bias, x, wa, ba)) {
                        return new LayerCost(
                                time(m, () -> p.forward(x)),
                                precision.estimatedBytes(w.length) + 4 * biasCount);
                    }
                case INT8_WEIGHT_ONLY:
                case INT4_WEIGHT_ONLY:
                    try (WeightOnlyPackedLinear p =
                            weightOnly(layer.path(), precision, w, out, in, bias)) {
                        return new LayerCost(
                                time(m, () -> p.forward(x)),
                                p.weightBytes() + p.paramBytes() + 4 * biasCount);
                    }
                default:
                    throw new AssertionError(precision);
            }
        } finally {
            JniUtils.setNumThreads(before);
        }
    }

    /**
     * Measures converting the layer's input (its recorded shape, random normal values) from float32
     * to a family and back on libtorch: BFLOAT16 / FLOAT16 a cast there and back ({@link
     * HalfPrecisionOps#roundTrip}); INT8_ACTIVATION {@code quantize_per_tensor} to quint8 with the
     * input's range and {@code dequantize} ({@link QuantizedActivation}). Timed like {@link
     * #measure}.
     *
     * @param layer a layer of the simulator
     * @param family a family other than FLOAT32
     * @return the median latency in ms
     * @throws IllegalStateException if the layer's input shape was not recorded yet
     * @throws IllegalArgumentException if the family is FLOAT32
     * @throws QuantizationException if the op library cannot be loaded
     */
    @Override
    public OptionalDouble roundTripMs(LayerInfo layer, PrecisionFamily family)
            throws QuantizationException {
        if (family == null || family == PrecisionFamily.FLOAT32) {
            throw new IllegalArgumentException(
                    "round trip family of layer "
                            + layer.path()
                            + " was "
                            + family
                            + ", must be one of BFLOAT16, FLOAT16, INT8_ACTIVATION");
        }
        Shape inShape = inputShape(layer);
        int before = JniUtils.getNumThreads();
        JniUtils.setNumThreads(threads);
        try (NDManager m = Engine.getEngine("PyTorch").newBaseManager()) {
            NDArray x = m.randomNormal(inShape);
            if (family != PrecisionFamily.INT8_ACTIVATION) {
                long dtype =
                        family == PrecisionFamily.BFLOAT16
                                ? HalfPrecisionOps.BFLOAT16
                                : HalfPrecisionOps.FLOAT16;
                return OptionalDouble.of(time(m, () -> HalfPrecisionOps.roundTrip(x, dtype)));
            }
            float[] r = range(x.toFloatArray());
            float scale = Math.max((r[1] - r[0]) / 255f, 1e-8f);
            long zp = Math.max(0, Math.min(255, Math.round(-r[0] / scale)));
            // loads the op library outside the timed calls
            QuantizedActivation.quantize(x, scale, zp).close();
            return OptionalDouble.of(
                    time(
                            m,
                            () -> {
                                try (QuantizedActivation q =
                                        QuantizedActivation.quantize(x, scale, zp)) {
                                    return q.dequantize(m);
                                } catch (QuantizationException e) {
                                    throw new IllegalStateException(e.getMessage(), e);
                                }
                            }));
        } finally {
            JniUtils.setNumThreads(before);
        }
    }

    private Shape inputShape(LayerInfo layer) {
        Shape inShape = simulator.inputShapes().get(layer.path());
        if (inShape == null) {
            throw new IllegalStateException(
                    "layer "
                            + layer.path()
                            + ": no input shape recorded; run a forward through the simulator"
                            + " (for example the sensitivity runner) first");
        }
        return inShape;
    }

    private static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return (b == null ? Linear.linear(x, w) : Linear.linear(x, w, b)).singletonOrThrow();
    }

    /**
     * Quantizes the weights (INT8 symmetric per output channel; INT4 per group from each group's
     * min and max, in the kernel's {@code (u - 8) · scale + zero} form) and packs them for bfloat16
     * compute.
     */
    private static WeightOnlyPackedLinear weightOnly(
            String path, Precision p, float[] w, long out, long in, float[] bias)
            throws QuantizationException {
        long[] shape = {out, in};
        WeightOnlyPackedLinear.Compute bf16 = WeightOnlyPackedLinear.Compute.BFLOAT16;
        if (p == Precision.INT8_WEIGHT_ONLY) {
            String why = WeightOnlyPackedLinear.int8ShapeProblem(shape, bf16);
            if (why != null) {
                throw new WeightOnlyShapeException(
                        path, "weight " + Arrays.toString(shape) + ": " + why);
            }
            float[] scales = rowScales(w, out, in);
            byte[] q = new byte[w.length];
            for (int i = 0; i < w.length; i++) {
                q[i] =
                        (byte)
                                Math.max(
                                        -127,
                                        Math.min(127, Math.rint(w[i] / scales[(int) (i / in)])));
            }
            return WeightOnlyPackedLinear.int8(q, shape, scales, bias, bf16);
        }
        int group = PrecisionConfigs.int4GroupSize(path, in);
        String why = WeightOnlyPackedLinear.int4ShapeProblem(shape, group);
        if (why != null) {
            throw new WeightOnlyShapeException(
                    path, "weight " + Arrays.toString(shape) + ": " + why);
        }
        int groups = (int) (in / group);
        byte[] u = new byte[w.length];
        float[] scales = new float[(int) out * groups];
        float[] zeros = new float[scales.length];
        for (int o = 0; o < out; o++) {
            for (int g = 0; g < groups; g++) {
                int from = (int) (o * in) + g * group;
                float lo = w[from];
                float hi = w[from];
                for (int i = from; i < from + group; i++) {
                    lo = Math.min(lo, w[i]);
                    hi = Math.max(hi, w[i]);
                }
                float s = hi > lo ? (hi - lo) / 15f : 1f;
                scales[o * groups + g] = s;
                // w ≈ (u - 8) · s + zero with u = rint((w - lo) / s) ∈ [0, 15]: zero = lo + 8 s
                zeros[o * groups + g] = lo + 8 * s;
                for (int i = from; i < from + group; i++) {
                    u[i] = (byte) Math.max(0, Math.min(15, Math.rint((w[i] - lo) / s)));
                }
            }
        }
        return WeightOnlyPackedLinear.int4(u, shape, group, scales, zeros, bias, bf16);
    }

    private static float[] rowScales(float[] w, long out, long in) {
        float[] s = new float[(int) out];
        for (int o = 0; o < out; o++) {
            float max = 0;
            for (int i = 0; i < in; i++) {
                max = Math.max(max, Math.abs(w[(int) (o * in + i)]));
            }
            s[o] = max > 0 ? max / 127f : 1f;
        }
        return s;
    }

    private static PackedLinear packed(
            Precision p,
            float[] w,
            long out,
            long in,
            float[] bias,
            NDArray x,
            NDArray wa,
            NDArray ba)
            throws QuantizationException {
        float[] scales = rowScales(w, out, in);
        long[] zeros = new long[(int) out];
        long[] shape = {out, in};
        if (p == Precision.INT8_DYNAMIC) {
            return PackedLinear.dynamicInt8(w, shape, scales, zeros, 0, bias);
        }
        // activation ranges from this input and its FP32 output, 7-bit inputs as on fbgemm
        float[] xs = x.toFloatArray();
        float[] ys;
        try (NDManager tmp = x.getManager().newSubManager()) {
            NDArray y = linear(x, wa, ba);
            y.attach(tmp);
            ys = y.toFloatArray();
        }
        float[] xr = range(xs);
        float[] yr = range(ys);
        float inScale = Math.max((xr[1] - xr[0]) / 127f, 1e-8f);
        long inZp = Math.max(0, Math.min(127, Math.round(-xr[0] / inScale)));
        float outScale = Math.max((yr[1] - yr[0]) / 255f, 1e-8f);
        long outZp = Math.max(0, Math.min(255, Math.round(-yr[0] / outScale)));
        return PackedLinear.staticInt8(
                w, shape, scales, zeros, 0, bias, inScale, inZp, outScale, outZp, false);
    }

    private static float[] range(float[] v) {
        float lo = 0;
        float hi = 0;
        for (float f : v) {
            lo = Math.min(lo, f);
            hi = Math.max(hi, f);
        }
        return new float[] {lo, hi};
    }

    private double time(NDManager m, Supplier<NDArray> op) {
        return Median.of(times(m, op, warmup, runs));
    }

    private double[] times(NDManager m, Supplier<NDArray> op, int warmup, int runs) {
        java.lang.management.ThreadMXBean bean =
                java.lang.management.ManagementFactory.getThreadMXBean();
        boolean cpu = threads == 1 && bean.isCurrentThreadCpuTimeSupported();
        double[] ms = new double[runs];
        for (int i = 0; i < warmup + runs; i++) {
            try (NDManager sub = m.newSubManager()) {
                long t0 = cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime();
                NDArray y = op.get();
                long t1 = cpu ? bean.getCurrentThreadCpuTime() : System.nanoTime();
                y.attach(sub);
                if (i >= warmup) {
                    ms[i - warmup] = (t1 - t0) / 1e6;
                }
            }
        }
        return ms;
    }

    /** Configures a {@link TorchCostModel}. */
    public static final class Builder {
        private PrecisionSimulator simulator;
        private int warmup = 3;
        private int runs = 11;
        private int threads = 1;
        private QEngine engine;

        private Builder() {}

        /**
         * Sets the quantized engine INT8 layers are packed for and timed on (default: the one
         * current when {@link #build()} runs). {@link #measure} selects it (process-wide) before
         * packing; it is part of {@link #cacheKey}.
         *
         * @param engine the engine, available in this libtorch build
         * @return this builder
         */
        public Builder optEngine(QEngine engine) {
            this.engine = engine;
            return this;
        }

        /**
         * Sets the simulator whose layers (weights, recorded input shapes) are measured (required).
         *
         * @param simulator the simulator
         * @return this builder
         */
        public Builder setSimulator(PrecisionSimulator simulator) {
            this.simulator = simulator;
            return this;
        }

        /**
         * Sets the untimed calls before timing (default 3).
         *
         * @param warmup at least 0
         * @return this builder
         */
        public Builder optWarmup(int warmup) {
            this.warmup = warmup;
            return this;
        }

        /**
         * Sets the timed calls whose median is the latency (default 11).
         *
         * @param runs at least 1
         * @return this builder
         */
        public Builder optRuns(int runs) {
            this.runs = runs;
            return this;
        }

        /**
         * Sets libtorch's intra-op thread count during measurements (default 1).
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
         * @return the cost model
         * @throws IllegalArgumentException naming the invalid setting
         */
        public TorchCostModel build() {
            Objects.requireNonNull(simulator, "simulator is required (setSimulator)");
            if (warmup < 0) {
                throw new IllegalArgumentException("warmup was " + warmup + ", must be >= 0");
            }
            if (runs < 1) {
                throw new IllegalArgumentException("runs was " + runs + ", must be >= 1");
            }
            if (threads < 1) {
                throw new IllegalArgumentException("threads was " + threads + ", must be >= 1");
            }
            if (engine == null) {
                engine = QEngine.current();
            } else if (!QEngine.available().contains(engine)) {
                throw new org.djlquant.backend.pytorch.QEngineUnavailableException(
                        engine, QEngine.available());
            }
            return new TorchCostModel(this);
        }
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "TorchCostModel[threads=" + threads + ", warmup=" + warmup + ", runs=" + runs + "]";
    }
}
