package org.djlquant.config;

import java.util.Objects;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;

/**
 * One thing a backend can run: a tensor role quantized with a data type, scheme and granularity, in
 * a mode.
 *
 * @param mode the quantization mode
 * @param role which tensor
 * @param dtype the data type
 * @param scheme symmetric or affine
 * @param granularity per tensor, per channel or per group
 */
public record Capability(
        QMode mode, Role role, QDataType dtype, QScheme scheme, Granularity.Kind granularity) {

    /**
     * Rejects null fields.
     *
     * @param mode the quantization mode
     * @param role which tensor
     * @param dtype the data type
     * @param scheme symmetric or affine
     * @param granularity per tensor, per channel or per group
     */
    public Capability {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(scheme, "scheme");
        Objects.requireNonNull(granularity, "granularity");
    }

    /**
     * The capability a spec needs in a mode and role.
     *
     * @param mode the mode
     * @param role the role
     * @param spec the spec
     * @return the capability that would have to be declared
     */
    public static Capability of(QMode mode, Role role, QSpec spec) {
        return new Capability(mode, role, spec.dtype(), spec.scheme(), spec.granularity().kind());
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return mode + "/" + role + "/" + dtype + "/" + scheme + "/" + granularity;
    }
}
