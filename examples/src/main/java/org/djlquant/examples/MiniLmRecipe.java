package org.djlquant.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;

/**
 * The project's INT8 recipe for all-MiniLM-L6-v2 on fbgemm, in one place: every INT8 row of {@link
 * MiniLmPipeline} (simulated, in place, exported to TorchScript, exported to ONNX) is prepared with
 * {@link #mapping}.
 *
 * <ul>
 *   <li>weights: INT8 symmetric, one scale per output channel (axis 0), min/max;
 *   <li>activations: UINT8 affine per tensor over the full 8 bits when the CPU has VNNI (fbgemm's
 *       {@code vpdpbusd} then cannot saturate), 7 bits ({@code reduceRange}) otherwise; static
 *       layers calibrate them with a histogram observer (MSE search), dynamic layers take each
 *       batch's range;
 *   <li>static: every {@code Linear} and the attention matmuls static INT8, except the FFN
 *       down-projections ({@value #FFN_DOWN_PROJECTIONS}, input = GELU output with outliers), which
 *       {@link DownProjections} decides: dynamic INT8 (the default: every Linear weight INT8),
 *       FP32, or static INT8. Measured on the 3000 sentences (TorchScript export): dynamic keeps
 *       the probe accuracy (-0.03 points) and cosine 0.991 (min 0.959); static lands at cosine
 *       0.945 (min 0.777, -0.57 points), the calibrated range cannot hold the GELU outliers.
 * </ul>
 *
 * <p>Why not the presets: {@link QConfig#dynamicInt8} uses per-tensor weights and {@link
 * QConfig#staticInt8} reduces fbgemm activations to 7 bits; on MiniLM both land near cosine
 * 0.87-0.93 to FP32, while this recipe stays near 0.99.
 *
 * <p>Immutable and thread-safe.
 *
 * @param downProjections what the static recipe does with the FFN down-projections
 */
public record MiniLmRecipe(DownProjections downProjections) {

    /** Path glob of the FFN down-projections (the second FFN Linear of every layer). */
    public static final String FFN_DOWN_PROJECTIONS = "encoder.*.output";

    /** What the static recipe does with the FFN down-projections. */
    public enum DownProjections {
        /** Kept FP32: best accuracy, the FFN half of the weights stays float. */
        FP32,
        /** Dynamic INT8 (range per batch): every Linear weight INT8. */
        DYNAMIC_INT8,
        /**
         * Static INT8 like every other Linear (input range calibrated by the histogram observer's
         * MSE search): fastest, but MiniLM's cosine to FP32 drops to about 0.945.
         */
        STATIC_INT8
    }

    /** The recipe the pipeline uses unless told otherwise: down-projections dynamic INT8. */
    public static final MiniLmRecipe DEFAULT = new MiniLmRecipe(DownProjections.DYNAMIC_INT8);

    private static final boolean VNNI = detectVnni();

    /**
     * Validates the field.
     *
     * @param downProjections what the static recipe does with the FFN down-projections
     */
    public MiniLmRecipe {
        Objects.requireNonNull(downProjections, "downProjections");
    }

    /**
     * Whether activations use the full 8 bits (the CPU has AVX-512 VNNI, which fbgemm's int32
     * pair-sum kernels need; AVX-VNNI alone is not used by libtorch 2.7.1's fbgemm).
     *
     * @return true for 8-bit activations, false for 7-bit
     */
    public static boolean fullRangeActivations() {
        return VNNI;
    }

    /**
     * The activation spec: UINT8 affine per tensor, range reduced to 7 bits without VNNI.
     *
     * @return the spec
     */
    public static QSpec activationSpec() {
        return new QSpec(QDataType.UINT8, QScheme.AFFINE, Granularity.perTensor(), !VNNI);
    }

    /**
     * Static INT8: per-channel weights, histogram-calibrated (MSE) activations.
     *
     * @return the config
     */
    public static QConfig staticConfig() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(Observers.histogram(activationSpec(), HistogramMethod.MSE))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    /**
     * Dynamic INT8: per-channel weights, activations quantized with each batch's range.
     *
     * @return the config
     */
    public static QConfig dynamicConfig() {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(activationSpec())
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    /**
     * The mapping for a mode.
     *
     * @param mode {@link QMode#STATIC} or {@link QMode#DYNAMIC}
     * @return the mapping
     * @throws IllegalArgumentException for any other mode
     */
    public QConfigMapping mapping(QMode mode) {
        return switch (mode) {
            case DYNAMIC -> QConfigMapping.global(dynamicConfig());
            case STATIC -> {
                QConfigMapping.Builder b = QConfigMapping.builder().optGlobal(staticConfig());
                switch (downProjections) {
                    case FP32 -> b.optPathGlob(FFN_DOWN_PROJECTIONS, null);
                    case DYNAMIC_INT8 -> b.optPathGlob(FFN_DOWN_PROJECTIONS, dynamicConfig());
                    case STATIC_INT8 -> {
                        // the global static config applies
                    }
                }
                yield b.build();
            }
            default ->
                    throw new IllegalArgumentException(
                            "mode was " + mode + ", must be one of [STATIC, DYNAMIC]");
        };
    }

    /**
     * Says in one line what a mode of this recipe quantizes and what stays float.
     *
     * @param mode {@link QMode#STATIC} or {@link QMode#DYNAMIC}
     * @return the description
     */
    public String describe(QMode mode) {
        String acts = (VNNI ? "8-bit" : "7-bit (no VNNI)") + " activations";
        return switch (mode) {
            case DYNAMIC -> "dynamic INT8, per-channel weights, " + acts + ", every Linear";
            case STATIC ->
                    String.format(
                            Locale.ROOT,
                            "static INT8, per-channel weights, %s; FFN down-projections (%s) %s",
                            acts,
                            FFN_DOWN_PROJECTIONS,
                            switch (downProjections) {
                                case FP32 -> "FP32";
                                case DYNAMIC_INT8 -> "dynamic INT8";
                                case STATIC_INT8 -> "static INT8";
                            });
            default ->
                    throw new IllegalArgumentException(
                            "mode was " + mode + ", must be one of [STATIC, DYNAMIC]");
        };
    }

    private static boolean detectVnni() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        try {
            return Files.exists(cpuinfo)
                    // fbgemm (libtorch 2.7.1) uses int32 pair sums only with AVX-512 VNNI
                    && Files.readString(cpuinfo).toLowerCase(Locale.ROOT).contains("avx512_vnni");
        } catch (IOException e) {
            return false;
        }
    }
}
