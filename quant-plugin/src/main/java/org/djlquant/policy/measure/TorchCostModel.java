package org.djlquant.policy.measure;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.jni.JniUtils;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Supplier;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.HalfPrecisionOps;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.policy.CostCacheKey;
import org.djlquant.policy.CostModel;
import org.djlquant.policy.LayerCost;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;

/**
 * Measures a Linear layer's latency on libtorch in each precision, at the input shape the layer saw
 * during calibration ({@link PrecisionSimulator#inputShapes()}), with its real weights and random
 * normal inputs: the median of {@code runs} timed calls after {@code warmup} untimed ones, at a
 * fixed intra-op thread count (set with {@code torch.set_num_threads} for the measurement and
 * restored after).
 *
 * <ul>
 *   <li>FP32: {@code aten::linear};
 *   <li>FP16 / BF16: {@link HalfPrecisionOps.Layer} (weights stored in the half type, input cast,
 *       linear in the half type, output cast back), the same path {@link
 *       org.djlquant.policy.apply.HalfPrecisionLinear} runs;
 *   <li>INT8 dynamic / static: {@link PackedLinear} (fbgemm/qnnpack kernels of the current {@link
 *       QEngine}; static includes quantizing the input and dequantizing the output);
 *   <li>INT8 weight-only: libtorch has no weight-only INT8 kernel, so what a weight-only layer
 *       costs there is measured: the INT8 weight dequantized per call, then {@code aten::linear};
 *   <li>INT4 weight-only: refused (libtorch has no INT4 kernel; leave it out of the PyTorch
 *       capabilities).
 * </ul>
 *
 * <p>Bytes: 4 per FP32 weight and bias, 2 per FP16/BF16 element, INT8 from {@link
 * Precision#estimatedBytes} plus 4 per bias. Each call creates and closes its own arrays. Not
 * thread-safe (it changes libtorch's thread count while measuring).
 */
public final class TorchCostModel implements CostModel {

    private final PrecisionSimulator simulator;
    private final int warmup;
    private final int runs;
    private final int threads;

    private TorchCostModel(Builder b) {
        simulator = b.simulator;
        warmup = b.warmup;
        runs = b.runs;
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
     * Returns the cost-cache key of these measurements.
     *
     * @param workload how the input shapes were obtained, for example {@code "sentiment batch 32"}
     * @return the key: this machine, backend {@code pytorch-<qengine>}, the thread count
     */
    public CostCacheKey cacheKey(String workload) {
        return new CostCacheKey(
                CostCacheKey.currentMachineId(),
                "pytorch-" + QEngine.current().name().toLowerCase(java.util.Locale.ROOT),
                threads,
                workload);
    }

    /**
     * Returns the thread count measurements run with.
     *
     * @return the intra-op threads
     */
    public int threads() {
        return threads;
    }

    /** {@inheritDoc} */
    @Override
    public LayerCost measure(LayerInfo layer, Precision precision) throws QuantizationException {
        Linear original = simulator.original(layer.path());
        Shape inShape = simulator.inputShapes().get(layer.path());
        if (inShape == null) {
            throw new IllegalStateException(
                    "layer "
                            + layer.path()
                            + ": no input shape recorded; run a forward through the simulator"
                            + " (for example the sensitivity runner) first");
        }
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
                    try (PackedLinear p = packed(precision, w, out, in, bias, x, wa, ba)) {
                        return new LayerCost(
                                time(m, () -> p.forward(x)),
                                precision.estimatedBytes(w.length) + 4 * biasCount);
                    }
                case INT8_WEIGHT_ONLY:
                    {
                        float[] scales = rowScales(w, out, in);
                        byte[] q = new byte[w.length];
                        for (int i = 0; i < w.length; i++) {
                            q[i] =
                                    (byte)
                                            Math.max(
                                                    -127,
                                                    Math.min(
                                                            127,
                                                            Math.rint(
                                                                    w[i]
                                                                            / scales[
                                                                                    (int)
                                                                                            (i
                                                                                                    / in)])));
                        }
                        NDArray qa = m.create(q, new Shape(out, in));
                        NDArray sa = m.create(scales, new Shape(out, 1));
                        return new LayerCost(
                                time(
                                        m,
                                        () ->
                                                linear(
                                                        x,
                                                        qa.toType(DataType.FLOAT32, false).mul(sa),
                                                        ba)),
                                precision.estimatedBytes(w.length) + 4 * biasCount);
                    }
                case INT4_WEIGHT_ONLY:
                    throw new QuantizationException(
                            "layer "
                                    + layer.path()
                                    + ": libtorch has no INT4 weight-only kernel; leave"
                                    + " INT4_WEIGHT_ONLY out of the PyTorch backend capabilities");
                default:
                    throw new AssertionError(precision);
            }
        } finally {
            JniUtils.setNumThreads(before);
        }
    }

    private static NDArray linear(NDArray x, NDArray w, NDArray b) {
        return (b == null ? Linear.linear(x, w) : Linear.linear(x, w, b)).singletonOrThrow();
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
        double[] ms = new double[runs];
        for (int i = 0; i < warmup + runs; i++) {
            try (NDManager sub = m.newSubManager()) {
                long t0 = System.nanoTime();
                NDArray y = op.get();
                long t1 = System.nanoTime();
                y.attach(sub);
                if (i >= warmup) {
                    ms[i - warmup] = (t1 - t0) / 1e6;
                }
            }
        }
        Arrays.sort(ms);
        return runs % 2 == 1 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
    }

    /** Configures a {@link TorchCostModel}. */
    public static final class Builder {
        private PrecisionSimulator simulator;
        private int warmup = 3;
        private int runs = 11;
        private int threads = 1;

        private Builder() {}

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
            return new TorchCostModel(this);
        }
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return "TorchCostModel[threads=" + threads + ", warmup=" + warmup + ", runs=" + runs + "]";
    }
}
