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
import java.util.LinkedHashSet;
import java.util.List;
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
 * ONNX Runtime runs INT4 per-group weights with {@code com.microsoft.MatMulNBits}. A later backend
 * package may own this table.
 */
public enum BackendTarget {
    /** PyTorch fbgemm (x86). */
    FBGEMM(table(true, true)),
    /** PyTorch qnnpack (ARM; correct but slow on x86). */
    QNNPACK(table(false, true)),
    /** ONNX Runtime (QDQ / integer operators, MatMulNBits for INT4). */
    ONNXRUNTIME(table(true, true));

    private final Set<Capability> capabilities;

    BackendTarget(Set<Capability> capabilities) {
        this.capabilities = Collections.unmodifiableSet(capabilities);
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
