package org.djlquant.scheme;

import java.util.Arrays;

/**
 * Scale(s) and zero point(s) of a quantized tensor, under the convention {@code x ≈ s (q - z)}.
 *
 * <ul>
 *   <li>Per tensor: {@code scales.length == 1}, {@code paramShape == {}}.
 *   <li>Per channel: {@code scales.length == C}, {@code paramShape == {C}}.
 *   <li>Per group: {@code paramShape} is the tensor shape with the grouped axis divided by the
 *       group size (for a {@code [out, in]} weight grouped along axis 1 with group {@code g}:
 *       {@code {out, in / g}}), stored row-major.
 * </ul>
 *
 * <p>Validated in the canonical constructor: every scale finite and {@code > 0}, every zero point
 * in {@code [qmin, qmax]} of the spec, array lengths matching {@code paramShape}. Arrays are copied
 * in and out, so a {@code QParams} is immutable; {@code equals}, {@code hashCode} and {@code
 * toString} use the array contents.
 *
 * @param spec the spec the parameters were computed for (integer data type)
 * @param scales the scales, row-major over {@code paramShape}
 * @param zeroPoints the zero points, same length as {@code scales}
 * @param paramShape the shape of the parameter arrays
 */
public record QParams(QSpec spec, float[] scales, long[] zeroPoints, long[] paramShape) {

    /**
     * Validates and copies the fields.
     *
     * @throws IllegalArgumentException if a field is null, lengths disagree, a scale is not finite
     *     and positive, or a zero point is outside {@code [qmin, qmax]}
     * @param spec the spec (integer data type)
     * @param scales the scales, row-major over paramShape
     * @param zeroPoints the zero points
     * @param paramShape the shape of the parameter arrays
     * @throws UnsupportedOperationException if the spec has a float data type
     */
    public QParams {
        if (spec == null || scales == null || zeroPoints == null || paramShape == null) {
            throw new IllegalArgumentException(
                    "spec, scales, zeroPoints and paramShape must all be non-null");
        }
        scales = scales.clone();
        zeroPoints = zeroPoints.clone();
        paramShape = paramShape.clone();
        long qmin = spec.qmin();
        long qmax = spec.qmax();
        long n = 1;
        for (long d : paramShape) {
            if (d < 1) {
                throw new IllegalArgumentException(
                        "paramShape was "
                                + Arrays.toString(paramShape)
                                + ", every dimension must be >= 1");
            }
            n *= d;
        }
        Granularity g = spec.granularity();
        switch (g.kind()) {
            case PER_TENSOR:
                if (paramShape.length != 0) {
                    throw new IllegalArgumentException(
                            "paramShape was "
                                    + Arrays.toString(paramShape)
                                    + ", must be [] for per-tensor parameters");
                }
                break;
            case PER_CHANNEL:
                if (paramShape.length != 1) {
                    throw new IllegalArgumentException(
                            "paramShape was "
                                    + Arrays.toString(paramShape)
                                    + ", must be [channels] for per-channel parameters");
                }
                break;
            default:
                if (paramShape.length <= g.axis()) {
                    throw new IllegalArgumentException(
                            "paramShape was "
                                    + Arrays.toString(paramShape)
                                    + ", must have the group axis "
                                    + g.axis());
                }
                break;
        }
        if (scales.length != n || zeroPoints.length != n) {
            throw new IllegalArgumentException(
                    "scales.length was "
                            + scales.length
                            + " and zeroPoints.length "
                            + zeroPoints.length
                            + ", both must be "
                            + n
                            + " for paramShape "
                            + Arrays.toString(paramShape));
        }
        for (int i = 0; i < n; i++) {
            float s = scales[i];
            if (!(s > 0f) || Float.isInfinite(s)) {
                throw new IllegalArgumentException(
                        "scale was " + s + " at index " + i + ", must be finite and > 0");
            }
            long z = zeroPoints[i];
            if (z < qmin || z > qmax) {
                throw new IllegalArgumentException(
                        "zero point was "
                                + z
                                + " at index "
                                + i
                                + ", must be in ["
                                + qmin
                                + ", "
                                + qmax
                                + "] for "
                                + spec);
            }
        }
    }

    /**
     * Creates per-tensor parameters.
     *
     * @param spec a per-tensor spec
     * @param scale the scale, finite and {@code > 0}
     * @param zeroPoint the zero point, in {@code [qmin, qmax]}
     * @return the parameters
     */
    public static QParams perTensor(QSpec spec, float scale, long zeroPoint) {
        return new QParams(spec, new float[] {scale}, new long[] {zeroPoint}, new long[0]);
    }

    /**
     * Returns a copy of the scales.
     *
     * @return the scales, row-major over {@link #paramShape()}
     */
    @Override
    public float[] scales() {
        return scales.clone();
    }

    /**
     * Returns a copy of the zero points.
     *
     * @return the zero points, row-major over {@link #paramShape()}
     */
    @Override
    public long[] zeroPoints() {
        return zeroPoints.clone();
    }

    /**
     * Returns a copy of the parameter shape.
     *
     * @return {@code []} per tensor, {@code [C]} per channel, the grouped shape per group
     */
    @Override
    public long[] paramShape() {
        return paramShape.clone();
    }

    /**
     * Returns the number of scale / zero-point pairs.
     *
     * @return {@code scales().length}
     */
    public int size() {
        return scales.length;
    }

    /**
     * Returns the scale at a flat (row-major) index without copying.
     *
     * @param i the index
     * @return the scale
     */
    public float scaleAt(int i) {
        return scales[i];
    }

    /**
     * Returns the zero point at a flat (row-major) index without copying.
     *
     * @param i the index
     * @return the zero point
     */
    public long zeroPointAt(int i) {
        return zeroPoints[i];
    }

    /**
     * Returns the scale of per-tensor parameters.
     *
     * @return the single scale
     * @throws IllegalStateException if the parameters are not per tensor
     */
    public float scale() {
        requirePerTensor("scale()");
        return scales[0];
    }

    /**
     * Returns the zero point of per-tensor parameters.
     *
     * @return the single zero point
     * @throws IllegalStateException if the parameters are not per tensor
     */
    public long zeroPoint() {
        requirePerTensor("zeroPoint()");
        return zeroPoints[0];
    }

    private void requirePerTensor(String what) {
        if (spec.granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalStateException(
                    what
                            + " was called on "
                            + spec.granularity()
                            + " parameters, must be per-tensor; use scales()/zeroPoints()");
        }
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof QParams)) {
            return false;
        }
        QParams other = (QParams) o;
        return spec.equals(other.spec)
                && Arrays.equals(scales, other.scales)
                && Arrays.equals(zeroPoints, other.zeroPoints)
                && Arrays.equals(paramShape, other.paramShape);
    }

    @Override
    public int hashCode() {
        int h = spec.hashCode();
        h = 31 * h + Arrays.hashCode(scales);
        h = 31 * h + Arrays.hashCode(zeroPoints);
        return 31 * h + Arrays.hashCode(paramShape);
    }

    @Override
    public String toString() {
        return "QParams[spec="
                + spec
                + ", scales="
                + Arrays.toString(scales)
                + ", zeroPoints="
                + Arrays.toString(zeroPoints)
                + ", paramShape="
                + Arrays.toString(paramShape)
                + "]";
    }
}
