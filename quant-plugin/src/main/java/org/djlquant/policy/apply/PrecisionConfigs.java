package org.djlquant.policy.apply;

import java.util.Objects;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.WeightOnlyShapeException;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observers;
import org.djlquant.policy.Precision;
import org.djlquant.scheme.QSpec;

/**
 * Which {@link QConfig} stands for each quantized {@link Precision} on a backend: the form the
 * simulator measures and the converter runs. Two forms exist:
 *
 * <ul>
 *   <li>{@link Form#PRESET}: the {@link QConfig} presets ({@code dynamicInt8}, {@code staticInt8},
 *       after PyTorch's defaults: per-tensor dynamic weights, activations reduced to 7 bits on
 *       fbgemm);
 *   <li>{@link Form#PER_CHANNEL}: INT8 symmetric per-output-channel weights (axis 0) for dynamic
 *       and static INT8, full 8-bit UINT8 affine per-tensor activations (static: histogram observer
 *       minimising MSE). Full 8-bit activations are exact on fbgemm with AVX-512 VNNI (its GEMM
 *       then sums u8 x s8 pairs into int32 with {@code vpdpbusd}); the fbgemm in libtorch 2.7.1
 *       selects those kernels only for AVX-512 VNNI, not AVX-VNNI, and otherwise adds pairs of
 *       products in 16 bits ({@code vpmaddubsw}), which may saturate: why the presets reduce the
 *       range. The backend must declare per-channel weights for the mode (fbgemm and ONNX Runtime
 *       do; qnnpack's static kernels do not).
 * </ul>
 *
 * <p>Weight-only precisions are the same in both forms ({@code weightOnlyInt8} per channel, {@code
 * weightOnlyInt4} affine per group of input features). The INT4 group is {@link
 * PolicyApplication#INT4_GROUP_SIZE} by default ({@link #config(Precision)}); for a given layer
 * ({@link #config(Precision, String, long)}) it is the largest of 128, 64, 32 that divides the
 * layer's input features ({@link #int4GroupSize}), so the simulator, the policy mapping and the
 * converter quantize the same groups. On FBGEMM / QNNPACK these configs run on libtorch's
 * weight-only kernels ({@code aten::_weight_int8pack_mm}, {@code
 * aten::_weight_int4pack_mm_for_cpu}, see {@link org.djlquant.nn.WeightOnlyLinear}); on ONNX
 * Runtime INT4 runs as MatMulNBits. Every config is validated against the backend's declared
 * capabilities when it is asked for; a precision the backend cannot run is refused, not degraded.
 * Immutable and thread-safe.
 *
 * @param target the backend
 * @param form the INT8 form
 */
public record PrecisionConfigs(BackendTarget target, Form form) {

    /** How INT8 dynamic / static layers are quantized. */
    public enum Form {
        /** The QConfig presets: per-tensor dynamic weights, reduced-range activations on fbgemm. */
        PRESET,
        /** Per-channel INT8 weights and full 8-bit activations. */
        PER_CHANNEL
    }

    /**
     * Validates the fields: with {@link Form#PER_CHANNEL} the backend must declare per-channel
     * weights for dynamic and static INT8.
     *
     * @param target the backend
     * @param form the INT8 form
     * @throws IllegalArgumentException naming the backend and what it allows if it cannot run the
     *     form
     */
    public PrecisionConfigs {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(form, "form");
        if (form == Form.PER_CHANNEL) {
            perChannel(QMode.DYNAMIC, target);
            perChannel(QMode.STATIC, target);
        }
    }

    /**
     * The presets on a backend (what {@link PolicyApplication#qconfig} returns).
     *
     * @param target the backend
     * @return the configs
     */
    public static PrecisionConfigs presets(BackendTarget target) {
        return new PrecisionConfigs(target, Form.PRESET);
    }

    /**
     * Per-channel INT8 weights with full 8-bit activations on a backend.
     *
     * @param target the backend; must declare per-channel weights for dynamic and static INT8
     * @return the configs
     * @throws IllegalArgumentException if the backend cannot run them (for example QNNPACK)
     */
    public static PrecisionConfigs perChannel(BackendTarget target) {
        return new PrecisionConfigs(target, Form.PER_CHANNEL);
    }

    /**
     * Returns the config of a precision.
     *
     * @param precision the precision
     * @return the config, or {@code null} for FP32, FP16 and BF16 (not quantized)
     * @throws IllegalArgumentException naming the backend and what it allows if it cannot run the
     *     precision
     */
    public QConfig config(Precision precision) {
        Objects.requireNonNull(precision, "precision");
        if (form == Form.PRESET) {
            return PolicyApplication.qconfig(precision, target);
        }
        switch (precision) {
            case INT8_DYNAMIC:
            case INT8_STATIC:
                return perChannel(
                        precision == Precision.INT8_DYNAMIC ? QMode.DYNAMIC : QMode.STATIC, target);
            default:
                return PolicyApplication.qconfig(precision, target);
        }
    }

    /**
     * Returns the config of a precision for one Linear layer: as {@link #config(Precision)}, except
     * that INT4 weight-only uses the group {@link #int4GroupSize} chooses for the layer's input
     * features.
     *
     * @param precision the precision
     * @param path the layer path, for messages
     * @param inFeatures the layer's input features ({@code K} of its {@code [out, in]} weight)
     * @return the config, or {@code null} for FP32, FP16 and BF16 (not quantized)
     * @throws WeightOnlyShapeException for INT4 if no INT4 group size divides {@code inFeatures}
     * @throws IllegalArgumentException naming the backend and what it allows if it cannot run the
     *     precision
     */
    public QConfig config(Precision precision, String path, long inFeatures) {
        Objects.requireNonNull(precision, "precision");
        if (precision != Precision.INT4_WEIGHT_ONLY) {
            return config(precision);
        }
        return QConfig.weightOnlyInt4(int4GroupSize(path, inFeatures), target);
    }

    /**
     * Chooses the INT4 group of a layer: {@link PolicyApplication#INT4_GROUP_SIZE} (128, what
     * {@link Precision#INT4_WEIGHT_ONLY}'s size estimate assumes) where it divides the input
     * features, else 64, else 32 (all in {@link QConfig#INT4_GROUP_SIZES}, the sizes libtorch's
     * INT4 kernel takes).
     *
     * @param path the layer path, for messages
     * @param inFeatures the layer's input features
     * @return 128, 64 or 32
     * @throws WeightOnlyShapeException naming the layer, the value and what is allowed if {@code
     *     inFeatures} is not a multiple of 32
     */
    public static int int4GroupSize(String path, long inFeatures) {
        for (int g : new int[] {PolicyApplication.INT4_GROUP_SIZE, 64, 32}) {
            if (inFeatures > 0 && inFeatures % g == 0) {
                return g;
            }
        }
        throw new WeightOnlyShapeException(
                path,
                "INT4 in features (K) was "
                        + inFeatures
                        + ", must be a multiple of 32 (INT4 groups of 128, 64 or 32 input"
                        + " features)");
    }

    /**
     * Says why libtorch's in-place kernel of a precision cannot run a Linear layer of a given
     * weight shape (what {@link org.djlquant.nn.Converter} would refuse with {@link
     * WeightOnlyShapeException}): INT4 weight-only needs {@code in} a multiple of 32 (a group of
     * 128, 64 or 32, {@link #int4GroupSize}) and {@code out} a multiple of {@value
     * WeightOnlyPackedLinear#INT4_OUT_MULTIPLE}; INT8 weight-only with {@link
     * WeightOnlyPackedLinear.Compute#BFLOAT16} compute needs {@code in} a multiple of {@value
     * WeightOnlyPackedLinear#BF16_IN_MULTIPLE}. Other precisions have no shape rule.
     *
     * @param precision the precision
     * @param out the layer's output features ({@code N})
     * @param in the layer's input features ({@code K})
     * @param compute the weight-only compute dtype the model will be converted with
     * @return null if the kernel takes the shape, else a message naming the value and what is
     *     allowed
     */
    public static String shapeProblem(
            Precision precision, long out, long in, WeightOnlyPackedLinear.Compute compute) {
        Objects.requireNonNull(precision, "precision");
        Objects.requireNonNull(compute, "compute");
        long[] shape = {out, in};
        if (precision == Precision.INT8_WEIGHT_ONLY) {
            return WeightOnlyPackedLinear.int8ShapeProblem(shape, compute);
        }
        if (precision != Precision.INT4_WEIGHT_ONLY) {
            return null;
        }
        for (int g : new int[] {PolicyApplication.INT4_GROUP_SIZE, 64, 32}) {
            if (in > 0 && in % g == 0) {
                return WeightOnlyPackedLinear.int4ShapeProblem(shape, g);
            }
        }
        return "INT4 in features (K) was "
                + in
                + ", must be a multiple of 32 (INT4 groups of 128, 64 or 32 input features)";
    }

    /**
     * Tells whether the backend can run a precision in this form.
     *
     * @param precision the precision
     * @return true for FP32 / FP16 / BF16 and every quantized precision whose config the backend
     *     declares
     */
    public boolean supports(Precision precision) {
        try {
            config(precision);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static QConfig perChannel(QMode mode, BackendTarget target) {
        QConfig.Builder b =
                QConfig.builder()
                        .setMode(mode)
                        .setWeightObserver(
                                Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                        .optBackend(target);
        if (mode == QMode.DYNAMIC) {
            b.optDynamicActivationSpec(QSpec.uint8AffinePerTensor());
        } else {
            b.optActivationObserver(
                    Observers.histogram(QSpec.uint8AffinePerTensor(), HistogramMethod.MSE));
        }
        return b.build();
    }
}
