package org.djlquant.config;

import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observer;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;

/**
 * How one layer is quantized: the mode, observer factories for its weight and (for {@link
 * QMode#STATIC} / {@link QMode#QAT}) its input activation, and the specs those observers produce.
 *
 * <p>A config holds observer <em>factories</em>; every wrapped layer gets its own observer
 * instances. {@code activationSpec} is the spec of activation quantization: the activation
 * observer's spec for STATIC/QAT, the on-the-fly spec for DYNAMIC, and null for WEIGHT_ONLY. Build
 * configs with {@link #builder()} or take a preset such as {@link #staticInt8(BackendTarget)}; the
 * canonical constructor validates the combination.
 *
 * @param mode how the layer is quantized
 * @param activationObserver factory of the input activation observer; null for DYNAMIC and
 *     WEIGHT_ONLY
 * @param weightObserver factory of the weight observer, never null
 * @param activationSpec spec of activation quantization; null only for WEIGHT_ONLY
 * @param weightSpec spec of weight quantization (the weight observer's spec)
 * @param learnableScale true to learn the scales with LSQ (Esser et al. 2019); QAT only
 * @param backend the backend the config was checked against ({@link Builder#optBackend}), or null;
 *     for DYNAMIC it also says which kernel the simulation reproduces: with {@link
 *     BackendTarget#FBGEMM} (libtorch on x86) the per-batch input parameters and rounding are
 *     fbgemm's ({@code QuantMath.dynamicParamsFbgemm}, {@code FakeQuant.applyFbgemmDynamic}),
 *     otherwise the observer formula and PyTorch's {@code quantize_per_tensor} rounding
 */
public record QConfig(
        QMode mode,
        Supplier<Observer> activationObserver,
        Supplier<Observer> weightObserver,
        QSpec activationSpec,
        QSpec weightSpec,
        boolean learnableScale,
        BackendTarget backend) {

    /**
     * Validates the combination of fields; see the class documentation.
     *
     * @param mode how the layer is quantized
     * @param activationObserver factory of the input activation observer, or null
     * @param weightObserver factory of the weight observer
     * @param activationSpec spec of activation quantization, or null for WEIGHT_ONLY
     * @param weightSpec spec of weight quantization
     * @param learnableScale true to learn the scales with LSQ (QAT only)
     * @param backend the backend the config was checked against, or null
     */
    public QConfig {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(weightObserver, "weightObserver");
        Objects.requireNonNull(weightSpec, "weightSpec");
        if (mode.observesActivations() && activationObserver == null) {
            throw new IllegalArgumentException(
                    "activationObserver was null, must be set for mode " + mode);
        }
        if (!mode.observesActivations() && activationObserver != null) {
            throw new IllegalArgumentException(
                    "activationObserver was set, must be null for mode "
                            + mode
                            + " (allowed with an activation observer: STATIC, QAT)");
        }
        if (mode == QMode.WEIGHT_ONLY && activationSpec != null) {
            throw new IllegalArgumentException(
                    "activationSpec was " + activationSpec + ", must be null for WEIGHT_ONLY");
        }
        if (mode != QMode.WEIGHT_ONLY && activationSpec == null) {
            throw new IllegalArgumentException(
                    "activationSpec was null, must be set for mode " + mode);
        }
        if (activationSpec != null
                && activationSpec.granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    "activation granularity was "
                            + activationSpec.granularity().kind()
                            + ", must be PER_TENSOR");
        }
        if (learnableScale && mode != QMode.QAT) {
            throw new IllegalArgumentException(
                    "learnableScale was true with mode " + mode + ", allowed only with QAT");
        }
    }

    /**
     * Returns a new builder.
     *
     * @return a builder with no fields set
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Dynamic INT8: per-tensor symmetric INT8 weights, UINT8 affine activations quantized per batch
     * (PyTorch's {@code default_dynamic_qconfig}; fbgemm reduces the activation range).
     *
     * @param target the backend that must run it
     * @return the config, validated against {@code target}
     */
    public static QConfig dynamicInt8(BackendTarget target) {
        return builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.minMax(QSpec.int8SymmetricPerTensor()))
                .optDynamicActivationSpec(uint8Activations(target))
                .optBackend(target)
                .build();
    }

    /**
     * Static INT8 for the given backend, following PyTorch's {@code get_default_qconfig}:
     * activations UINT8 affine per-tensor from a histogram observer (MSE), range reduced to 7 bits
     * on fbgemm; weights INT8 symmetric per-channel (axis 0) on fbgemm and ONNX Runtime, per-tensor
     * on qnnpack.
     *
     * @param target the backend that must run it
     * @return the config, validated against {@code target}
     */
    public static QConfig staticInt8(BackendTarget target) {
        return builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(int8Weights(target))
                .optActivationObserver(
                        Observers.histogram(uint8Activations(target), HistogramMethod.MSE))
                .optBackend(target)
                .build();
    }

    /**
     * Weight-only INT8: symmetric per-channel (axis 0) weights, float activations. This is what
     * libtorch's {@code aten::_weight_int8pack_mm} computes ({@code ŵ = q · scale[out]}, no zero
     * point), so the converted layer ({@code nn.WeightOnlyLinear}) equals the fake-quant simulation
     * up to float summation order.
     *
     * @param target the backend that must run it
     * @return the config, validated against {@code target}
     */
    public static QConfig weightOnlyInt8(BackendTarget target) {
        return builder()
                .setMode(QMode.WEIGHT_ONLY)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optBackend(target)
                .build();
    }

    /** The INT4 weight-only group sizes the presets accept (libtorch's CPU kernel's). */
    public static final List<Integer> INT4_GROUP_SIZES = List.of(32, 64, 128, 256);

    /**
     * Weight-only INT4, asymmetric: one scale and one zero point per group of {@code groupSize}
     * input features (axis 1 of a {@code [out, in]} weight), from that group's min/max, float
     * activations. Signed 4-bit values {@code q ∈ [-8, 7]}, {@code ŵ = s · (q - z)} with {@code z ∈
     * [-8, 7]} (INT4 AFFINE). libtorch's {@code aten::_weight_int4pack_mm_for_cpu} computes {@code
     * ŵ = (u - 8) · scale + zero} with {@code u ∈ [0, 15]} and a float offset {@code zero}; the
     * converter maps {@code u = q + 8}, {@code scale = s}, {@code zero = -s · z}, which is the same
     * value exactly in real arithmetic (float32 rounding of {@code -s · z} aside). An integer zero
     * point is a special case of the kernel's float offset, so this preset is the kernel's
     * asymmetric form restricted to what {@code QParams} (and ONNX Runtime's MatMulNBits) can
     * express.
     *
     * @param groupSize one of {@link #INT4_GROUP_SIZES}
     * @param target the backend that must run it
     * @return the config, validated against {@code target}
     */
    public static QConfig weightOnlyInt4(int groupSize, BackendTarget target) {
        if (!INT4_GROUP_SIZES.contains(groupSize)) {
            throw new IllegalArgumentException(
                    "groupSize was " + groupSize + ", must be one of " + INT4_GROUP_SIZES);
        }
        return builder()
                .setMode(QMode.WEIGHT_ONLY)
                .setWeightObserver(
                        Observers.perChannelMinMax(
                                new QSpec(
                                        QDataType.INT4,
                                        QScheme.AFFINE,
                                        Granularity.perGroup(1, groupSize),
                                        false)))
                .optBackend(target)
                .build();
    }

    /**
     * QAT INT8 as PyTorch's {@code get_default_qat_qconfig}: moving-average min/max observers
     * (momentum 0.01) for UINT8 affine activations and INT8 symmetric weights (per-channel except
     * on qnnpack).
     *
     * @param target the backend that must run it
     * @return the config, validated against {@code target}
     */
    public static QConfig qatInt8(BackendTarget target) {
        QSpec act = uint8Activations(target);
        Supplier<Observer> weight =
                target == BackendTarget.QNNPACK
                        ? Observers.movingAverageMinMax(QSpec.int8SymmetricPerTensor(), 0.01f)
                        : Observers.perChannelMovingAverageMinMax(
                                QSpec.int8SymmetricPerChannel(0), 0.01f);
        return builder()
                .setMode(QMode.QAT)
                .setWeightObserver(weight)
                .optActivationObserver(Observers.movingAverageMinMax(act, 0.01f))
                .optBackend(target)
                .build();
    }

    private static QSpec uint8Activations(BackendTarget target) {
        Objects.requireNonNull(target, "target");
        return new QSpec(
                QDataType.UINT8,
                QScheme.AFFINE,
                Granularity.perTensor(),
                target == BackendTarget.FBGEMM);
    }

    private static Supplier<Observer> int8Weights(BackendTarget target) {
        Objects.requireNonNull(target, "target");
        return target == BackendTarget.QNNPACK
                ? Observers.minMax(QSpec.int8SymmetricPerTensor())
                : Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0));
    }

    /** Builds a {@link QConfig}: {@code setX} for required fields, {@code optX} for optional. */
    public static final class Builder {

        private QMode mode;
        private Supplier<Observer> activationObserver;
        private Supplier<Observer> weightObserver;
        private QSpec dynamicActivationSpec;
        private boolean learnableScale;
        private BackendTarget backend;

        private Builder() {}

        /**
         * Sets the mode (required).
         *
         * @param mode the mode
         * @return this builder
         */
        public Builder setMode(QMode mode) {
            this.mode = mode;
            return this;
        }

        /**
         * Sets the weight observer factory (required).
         *
         * @param weightObserver a factory returning a new observer on every call
         * @return this builder
         */
        public Builder setWeightObserver(Supplier<Observer> weightObserver) {
            this.weightObserver = weightObserver;
            return this;
        }

        /**
         * Sets the activation observer factory (required for STATIC and QAT, refused otherwise).
         *
         * @param activationObserver a factory returning a new observer on every call
         * @return this builder
         */
        public Builder optActivationObserver(Supplier<Observer> activationObserver) {
            this.activationObserver = activationObserver;
            return this;
        }

        /**
         * Sets the spec of on-the-fly activation quantization (required for DYNAMIC, refused
         * otherwise).
         *
         * @param spec a per-tensor spec
         * @return this builder
         */
        public Builder optDynamicActivationSpec(QSpec spec) {
            this.dynamicActivationSpec = spec;
            return this;
        }

        /**
         * Learns the scales with LSQ during QAT (default false).
         *
         * @param learnableScale true to learn scales
         * @return this builder
         */
        public Builder optLearnableScale(boolean learnableScale) {
            this.learnableScale = learnableScale;
            return this;
        }

        /**
         * Validates the config against a backend's declared capabilities when built, and records
         * the backend (for DYNAMIC the simulation then reproduces that backend's per-batch input
         * quantization; see the class documentation).
         *
         * @param backend the backend that must run the result, or null for no check
         * @return this builder
         */
        public Builder optBackend(BackendTarget backend) {
            this.backend = backend;
            return this;
        }

        /**
         * Validates and builds the config.
         *
         * @return the config
         * @throws IllegalArgumentException if fields are missing or inconsistent, or the backend
         *     cannot run the config
         */
        public QConfig build() {
            if (mode == null) {
                throw new IllegalArgumentException(
                        "mode was null, must be one of "
                                + java.util.Arrays.toString(QMode.values()));
            }
            if (weightObserver == null) {
                throw new IllegalArgumentException("weightObserver was null, must be set");
            }
            QSpec weightSpec = weightObserver.get().spec();
            QSpec activationSpec;
            if (mode.observesActivations()) {
                if (activationObserver == null) {
                    throw new IllegalArgumentException(
                            "activationObserver was null, must be set for mode " + mode);
                }
                if (dynamicActivationSpec != null) {
                    throw new IllegalArgumentException(
                            "dynamicActivationSpec was set, allowed only with mode DYNAMIC");
                }
                activationSpec = activationObserver.get().spec();
            } else if (mode == QMode.DYNAMIC) {
                activationSpec = dynamicActivationSpec;
            } else {
                if (dynamicActivationSpec != null) {
                    throw new IllegalArgumentException(
                            "dynamicActivationSpec was set, allowed only with mode DYNAMIC");
                }
                activationSpec = null;
            }
            QConfig config =
                    new QConfig(
                            mode,
                            activationObserver,
                            weightObserver,
                            activationSpec,
                            weightSpec,
                            learnableScale,
                            backend);
            if (backend != null) {
                backend.check(config);
            }
            return config;
        }
    }
}
