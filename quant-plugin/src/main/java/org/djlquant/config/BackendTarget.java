package org.djlquant.config;

import static org.djlquant.scheme.Granularity.Kind.PER_CHANNEL;
import static org.djlquant.scheme.Granularity.Kind.PER_GROUP;
import static org.djlquant.scheme.Granularity.Kind.PER_TENSOR;
import static org.djlquant.scheme.QDataType.INT4;
import static org.djlquant.scheme.QDataType.INT8;
import static org.djlquant.scheme.QDataType.UINT8;
import static org.djlquant.scheme.QScheme.AFFINE;
import static org.djlquant.scheme.QScheme.SYMMETRIC;

import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;

/**
 * A backend that will run the converted model, with what it can run declared as data ({@link
 * #capabilities()}): mode × role × dtype × scheme × granularity.
 *
 * <p>The tables follow what the kernels accept: fbgemm and qnnpack run UINT8 affine per-tensor
 * activations with INT8 weights ({@code quantized::linear}, {@code linear_dynamic}); qnnpack's
 * static kernels take per-tensor weights only. Weight-only layers on the PyTorch targets run
 * libtorch's CPU weight-only kernels, which do not depend on the quantized engine: {@code
 * aten::_weight_int8pack_mm} (INT8 symmetric, per channel; a per-tensor scale is repeated per
 * channel) and {@code aten::_weight_int4pack_mm_for_cpu} (4-bit per group of input features with a
 * scale and a float zero offset, so INT4 SYMMETRIC and INT4 AFFINE per group both map onto it).
 * ONNX Runtime runs INT4 per-group weights with {@code com.microsoft.MatMulNBits}. Which modes each
 * kind of layer runs in is declared per target too ({@link #modes(LayerKind)}): fbgemm and qnnpack
 * run static INT8 2-D convolutions ({@code quantized::conv2d}, {@code conv2d_relu}; the same weight
 * and activation specs as static linear layers) and nothing else for convolutions. A later backend
 * package may own this table.
 */
public enum BackendTarget {
    /** PyTorch fbgemm (x86). */
    FBGEMM(table(true, true), kinds(true)),
    /** PyTorch qnnpack (ARM; correct but slow on x86). */
    QNNPACK(table(false, true), kinds(true)),
    /** ONNX Runtime (QDQ / integer operators, MatMulNBits for INT4). */
    ONNXRUNTIME(table(true, true), kinds(false));

    private final Set<Capability> capabilities;
    private final Map<LayerKind, Set<QMode>> modes;

    BackendTarget(Set<Capability> capabilities, Map<LayerKind, Set<QMode>> modes) {
        this.capabilities = Collections.unmodifiableSet(capabilities);
        this.modes = Collections.unmodifiableMap(modes);
    }

    /**
     * The modes each layer kind runs in. Linear layers: every mode. 2-D convolutions on the PyTorch
     * targets: STATIC (and QAT, which converts to static) only, with {@code quantized::conv2d} /
     * {@code quantized::conv2d_relu} (fbgemm, x86 and onednn on x86, qnnpack on ARM); libtorch has
     * no dynamic and no weight-only convolution kernel. ONNX Runtime convolutions are not declared
     * (the ONNX exporter lowers none).
     */
    private static Map<LayerKind, Set<QMode>> kinds(boolean conv) {
        Map<LayerKind, Set<QMode>> m = new EnumMap<>(LayerKind.class);
        m.put(LayerKind.LINEAR, Collections.unmodifiableSet(EnumSet.allOf(QMode.class)));
        m.put(
                LayerKind.CONV2D,
                Collections.unmodifiableSet(
                        conv ? EnumSet.of(QMode.STATIC, QMode.QAT) : EnumSet.noneOf(QMode.class)));
        return m;
    }

    /**
     * Returns the modes this backend runs a kind of layer in.
     *
     * @param kind the layer kind
     * @return an unmodifiable set, possibly empty
     */
    public Set<QMode> modes(LayerKind kind) {
        return modes.get(kind);
    }

    /**
     * Refuses a config this backend cannot run for a kind of layer: its mode must be declared for
     * the kind ({@link #modes}) and its specs in the capability table ({@link #check(QConfig)}).
     *
     * @param kind the layer kind
     * @param config the config
     * @throws IllegalArgumentException naming the mode or spec given and what is allowed
     */
    public void check(LayerKind kind, QConfig config) {
        Set<QMode> allowed = modes(kind);
        if (!allowed.contains(config.mode())) {
            throw new IllegalArgumentException(
                    "backend "
                            + name()
                            + " has no "
                            + config.mode()
                            + " kernel for "
                            + kind
                            + " layers; allowed modes for "
                            + kind
                            + ": "
                            + (allowed.isEmpty() ? "none" : allowed));
        }
        check(config);
    }

    /**
     * Returns the declared capabilities.
     *
     * @return an unmodifiable set
     */
    public Set<Capability> capabilities() {
        return capabilities;
    }

    /**
     * Returns whether this backend can run a config.
     *
     * @param config the config
     * @return true if every spec of the config is a declared capability
     */
    public boolean supports(QConfig config) {
        try {
            check(config);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * Refuses a config this backend cannot run.
     *
     * @param config the config
     * @throws IllegalArgumentException naming the spec given and the capabilities allowed
     */
    public void check(QConfig config) {
        checkOne(Capability.of(config.mode(), Role.WEIGHT, config.weightSpec()), Role.WEIGHT);
        if (config.activationSpec() != null) {
            checkOne(
                    Capability.of(config.mode(), Role.ACTIVATION, config.activationSpec()),
                    Role.ACTIVATION);
        }
    }

    private void checkOne(Capability needed, Role role) {
        if (!capabilities.contains(needed)) {
            List<String> allowed =
                    capabilities.stream()
                            .filter(c -> c.mode() == needed.mode() && c.role() == role)
                            .map(Capability::toString)
                            .sorted()
                            .collect(Collectors.toList());
            throw new IllegalArgumentException(
                    "backend "
                            + name()
                            + " cannot run "
                            + role
                            + " "
                            + needed
                            + "; allowed for "
                            + needed.mode()
                            + "/"
                            + role
                            + ": "
                            + (allowed.isEmpty() ? "none" : allowed));
        }
    }

    private static Set<Capability> table(boolean perChannelStatic, boolean int4) {
        Set<Capability> s = new LinkedHashSet<>();
        for (QMode mode : new QMode[] {QMode.STATIC, QMode.QAT}) {
            add(s, mode, Role.ACTIVATION, UINT8, AFFINE, PER_TENSOR);
            add(s, mode, Role.WEIGHT, INT8, SYMMETRIC, PER_TENSOR);
            add(s, mode, Role.WEIGHT, INT8, AFFINE, PER_TENSOR);
            if (perChannelStatic) {
                add(s, mode, Role.WEIGHT, INT8, SYMMETRIC, PER_CHANNEL);
                add(s, mode, Role.WEIGHT, INT8, AFFINE, PER_CHANNEL);
            }
        }
        add(s, QMode.DYNAMIC, Role.ACTIVATION, UINT8, AFFINE, PER_TENSOR);
        add(s, QMode.DYNAMIC, Role.WEIGHT, INT8, SYMMETRIC, PER_TENSOR);
        add(s, QMode.DYNAMIC, Role.WEIGHT, INT8, SYMMETRIC, PER_CHANNEL);
        add(s, QMode.WEIGHT_ONLY, Role.WEIGHT, INT8, SYMMETRIC, PER_TENSOR);
        add(s, QMode.WEIGHT_ONLY, Role.WEIGHT, INT8, SYMMETRIC, PER_CHANNEL);
        if (int4) {
            add(s, QMode.WEIGHT_ONLY, Role.WEIGHT, INT4, SYMMETRIC, PER_GROUP);
            add(s, QMode.WEIGHT_ONLY, Role.WEIGHT, INT4, AFFINE, PER_GROUP);
        }
        return s;
    }

    private static void add(
            Set<Capability> s,
            QMode mode,
            Role role,
            QDataType dtype,
            QScheme scheme,
            Granularity.Kind kind) {
        s.add(new Capability(mode, role, dtype, scheme, kind));
    }
}
