package org.djlquant.policy.apply;

import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.BlockPaths;
import org.djlquant.nn.BlockSwap;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.WeightOnlyShapeException;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.scheme.QDataType;

/**
 * Turns a {@link MixedPrecisionPolicy} into what the later stages run: a {@link QConfigMapping}
 * with one exact path rule per layer for {@link org.djlquant.nn.Preparer} (quantized precisions get
 * their config, FP32 / FP16 / BF16 get {@code null}: not quantized), and {@link
 * HalfPrecisionLinear} blocks swapped in place of the layers the policy runs in FP16 or BF16.
 *
 * <p>Order: {@code Preparer.prepare(model, toQConfigMapping(...))} (the half-precision layers stay
 * plain Linear: their rule is FP32), then {@link #applyHalfPrecision}, calibrate, convert. {@link
 * #precisionsOf} reads back, from a model, which precision each layer is set up for. Weight-only
 * INT8 / INT4 layers become {@link org.djlquant.nn.WeightOnlyLinear} when converted ({@code
 * Converter.convert(model, engine, WeightOnlyPackedLinear.Compute.BFLOAT16)} runs libtorch's
 * vectorized weight-only kernels, the form {@code TorchCostModel} times; FLOAT32 compute matches
 * the simulator exactly but runs scalar loops); an INT4 layer whose shape the kernel cannot take is
 * refused when the mapping is made. Stateless and thread-safe; the swap itself must happen while no
 * forward runs.
 */
public final class PolicyApplication {

    /** INT4 weight-only group size, as {@link Precision#INT4_WEIGHT_ONLY} assumes. */
    public static final int INT4_GROUP_SIZE = 128;

    private PolicyApplication() {}

    /**
     * Returns the config that simulates or converts a precision.
     *
     * @param precision the precision
     * @param target the backend
     * @return the config, or {@code null} for FP32, FP16 and BF16 (not quantized)
     */
    public static QConfig qconfig(Precision precision, BackendTarget target) {
        Objects.requireNonNull(precision, "precision");
        switch (precision) {
            case INT8_STATIC:
                return QConfig.staticInt8(target);
            case INT8_DYNAMIC:
                return QConfig.dynamicInt8(target);
            case INT8_WEIGHT_ONLY:
                return QConfig.weightOnlyInt8(target);
            case INT4_WEIGHT_ONLY:
                return QConfig.weightOnlyInt4(INT4_GROUP_SIZE, target);
            case FP32:
            case FP16:
            case BF16:
                return null;
            default:
                throw new AssertionError(precision);
        }
    }

    /**
     * Returns the precision a config stands for.
     *
     * @param config a config
     * @return INT8_STATIC, INT8_DYNAMIC, INT8_WEIGHT_ONLY or INT4_WEIGHT_ONLY (QAT counts as
     *     INT8_STATIC)
     */
    public static Precision precisionOf(QConfig config) {
        QMode mode = config.mode();
        switch (mode) {
            case STATIC:
            case QAT:
                return Precision.INT8_STATIC;
            case DYNAMIC:
                return Precision.INT8_DYNAMIC;
            case WEIGHT_ONLY:
                QDataType t = config.weightObserver().get().spec().dtype();
                return t.bits() <= 4 ? Precision.INT4_WEIGHT_ONLY : Precision.INT8_WEIGHT_ONLY;
            default:
                throw new AssertionError(mode);
        }
    }

    /**
     * Makes the mapping for {@link org.djlquant.nn.Preparer}: one exact path rule per policy layer,
     * no global rule (layers the policy does not name stay FP32).
     *
     * @param policy the policy
     * @param target the backend the quantized layers are for
     * @param model the model the policy is for; every policy path must be one of its blocks
     * @return the mapping
     * @throws UnknownLayerException if the policy names a layer the model does not have
     */
    public static QConfigMapping toQConfigMapping(
            MixedPrecisionPolicy policy, BackendTarget target, Block model) {
        return toQConfigMapping(policy, PrecisionConfigs.presets(target), model);
    }

    /**
     * Makes the mapping for {@link org.djlquant.nn.Preparer} with the given configs per precision
     * (for example {@link PrecisionConfigs#perChannel}); otherwise as {@link
     * #toQConfigMapping(MixedPrecisionPolicy, BackendTarget, Block)}. An INT4 weight-only layer of
     * an initialized model gets the group {@link PrecisionConfigs#int4GroupSize} chooses for its
     * input features (the group the precision simulator measured); an uninitialized one gets {@link
     * #INT4_GROUP_SIZE}.
     *
     * @param policy the policy
     * @param configs the config of each quantized precision
     * @param model the model the policy is for; every policy path must be one of its blocks
     * @return the mapping
     * @throws UnknownLayerException if the policy names a layer the model does not have
     * @throws WeightOnlyShapeException naming the layer, its weight shape and what is allowed if an
     *     INT4 layer's shape is one libtorch's INT4 kernel cannot take (input features not a
     *     multiple of 32, output features not a multiple of {@value
     *     WeightOnlyPackedLinear#INT4_OUT_MULTIPLE}; see {@link PrecisionConfigs#shapeProblem})
     * @throws IllegalArgumentException if the backend cannot run a precision the policy uses
     */
    public static QConfigMapping toQConfigMapping(
            MixedPrecisionPolicy policy, PrecisionConfigs configs, Block model) {
        Map<String, Block> blocks = BlockPaths.byCleanPath(model);
        QConfigMapping.Builder b = QConfigMapping.builder();
        for (Map.Entry<String, Precision> e : policy.assignment().entrySet()) {
            requireLinear(blocks, e.getKey(), "policy");
            long in = inFeatures(blocks.get(e.getKey()));
            long out = outFeatures(blocks.get(e.getKey()));
            if (in > 0 && out > 0 && e.getValue() == Precision.INT4_WEIGHT_ONLY) {
                // refused here, before prepare, rather than by the converter after calibration
                String why =
                        PrecisionConfigs.shapeProblem(
                                e.getValue(), out, in, WeightOnlyPackedLinear.Compute.BFLOAT16);
                if (why != null) {
                    throw new WeightOnlyShapeException(
                            e.getKey(), "weight [" + out + ", " + in + "]: " + why);
                }
            }
            b.optPathGlob(
                    escapeGlob(e.getKey()),
                    in > 0
                            ? configs.config(e.getValue(), e.getKey(), in)
                            : configs.config(e.getValue()));
        }
        return b.build();
    }

    /**
     * Swaps a {@link HalfPrecisionLinear} in place of every layer the policy runs in FP16 or BF16.
     * Call it after preparing with {@link #toQConfigMapping} (or on an unprepared model).
     *
     * @param policy the policy
     * @param model the model's root block, initialized
     * @return the swapped layers by path; {@link HalfSwaps#restore()} puts the originals back
     * @throws UnknownLayerException if the policy names a layer the model does not have
     * @throws IllegalArgumentException naming the layer if a half-precision layer is not a Linear
     */
    public static HalfSwaps applyHalfPrecision(MixedPrecisionPolicy policy, Block model) {
        Map<String, Block> blocks = BlockPaths.byCleanPath(model);
        for (String path : policy.assignment().keySet()) {
            requireLinear(blocks, path, "policy");
        }
        HalfSwaps swaps = new HalfSwaps(model);
        try {
            for (Map.Entry<String, Precision> e : policy.assignment().entrySet()) {
                DataType dt = halfType(e.getValue());
                if (dt == null) {
                    continue;
                }
                Block current = blocks.get(e.getKey());
                if (current instanceof QuantTwin) {
                    throw new IllegalArgumentException(
                            "layer "
                                    + e.getKey()
                                    + " was wrapped for quantization; prepare with"
                                    + " toQConfigMapping(policy, ...), which keeps it FP32");
                }
                Linear linear = (Linear) current;
                HalfPrecisionLinear half = HalfPrecisionLinear.of(linear, e.getKey(), dt);
                BlockSwap.replace(model, linear, half);
                swaps.add(e.getKey(), half);
            }
        } catch (RuntimeException e) {
            swaps.restore();
            throw e;
        }
        return swaps;
    }

    /**
     * Reads back which precision each Linear layer of a model is set up for: a {@link
     * HalfPrecisionLinear} gives its type, a prepared twin its config's precision, a plain {@code
     * Linear} FP32.
     *
     * @param model the root block
     * @return precision by clean path, in tree order
     */
    public static Map<String, Precision> precisionsOf(Block model) {
        Map<String, Precision> out = new LinkedHashMap<>();
        for (Map.Entry<String, Block> e : BlockPaths.byCleanPath(model).entrySet()) {
            Block b = e.getValue();
            if (b instanceof HalfPrecisionLinear) {
                out.put(
                        e.getKey(),
                        ((HalfPrecisionLinear) b).dataType() == DataType.BFLOAT16
                                ? Precision.BF16
                                : Precision.FP16);
            } else if (b instanceof QuantTwin && ((QuantTwin) b).original() instanceof Linear) {
                out.put(e.getKey(), precisionOf(((QuantTwin) b).control().config()));
            } else if (b instanceof Linear) {
                out.put(e.getKey(), Precision.FP32);
            }
        }
        return out;
    }

    /**
     * Returns the engine data type of a half precision.
     *
     * @param precision a precision
     * @return FLOAT16 for FP16, BFLOAT16 for BF16, else null
     */
    public static DataType halfType(Precision precision) {
        if (precision == Precision.FP16) {
            return DataType.FLOAT16;
        }
        return precision == Precision.BF16 ? DataType.BFLOAT16 : null;
    }

    /** The output features of an initialized Linear (or its twin), else -1. */
    private static long outFeatures(Block b) {
        Block linear = b instanceof QuantTwin ? ((QuantTwin) b).original() : b;
        Parameter w =
                linear.getParameters().contains("weight")
                        ? linear.getParameters().get("weight")
                        : null;
        if (w == null || !w.isInitialized() || w.getArray().getShape().dimension() != 2) {
            return -1;
        }
        return w.getArray().getShape().get(0);
    }

    /** The input features of an initialized Linear (or its twin), else -1. */
    private static long inFeatures(Block b) {
        Block linear = b instanceof QuantTwin ? ((QuantTwin) b).original() : b;
        Parameter w =
                linear.getParameters().contains("weight")
                        ? linear.getParameters().get("weight")
                        : null;
        if (w == null || !w.isInitialized() || w.getArray().getShape().dimension() != 2) {
            return -1;
        }
        return w.getArray().getShape().get(1);
    }

    private static void requireLinear(Map<String, Block> blocks, String path, String what) {
        Block b = blocks.get(path);
        if (b == null) {
            List<String> known = new ArrayList<>();
            blocks.forEach(
                    (k, v) -> {
                        if (v instanceof Linear) {
                            known.add(k);
                        }
                    });
            throw new UnknownLayerException(path, what, known);
        }
        if (!(b instanceof Linear)) {
            throw new IllegalArgumentException(
                    what
                            + " names layer "
                            + path
                            + ", a "
                            + b.getClass().getSimpleName()
                            + "; only Linear layers (and their twins) are supported");
        }
    }

    private static String escapeGlob(String path) {
        if (path.indexOf('*') >= 0 || path.indexOf('?') >= 0) {
            throw new IllegalArgumentException(
                    "layer path " + path + " contains a glob character, must be a plain path");
        }
        return path;
    }

    /** The half-precision layers swapped into a model, and how to undo it. */
    public static final class HalfSwaps {
        private final Block model;
        private final Map<String, HalfPrecisionLinear> swapped = new LinkedHashMap<>();

        HalfSwaps(Block model) {
            this.model = model;
        }

        void add(String path, HalfPrecisionLinear half) {
            swapped.put(path, half);
        }

        /**
         * Returns the swapped layers.
         *
         * @return half-precision layers by path, unmodifiable
         */
        public Map<String, HalfPrecisionLinear> layers() {
            return Collections.unmodifiableMap(swapped);
        }

        /** Puts the FP32 layers back and frees the half-precision arrays; idempotent. */
        public void restore() {
            for (HalfPrecisionLinear h : swapped.values()) {
                BlockSwap.replace(model, h, h.original());
                h.close();
            }
            swapped.clear();
        }
    }
}
