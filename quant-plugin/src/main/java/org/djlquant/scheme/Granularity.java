package org.djlquant.scheme;

/**
 * Which elements share one scale and zero point.
 *
 * <ul>
 *   <li>{@link Kind#PER_TENSOR}: one pair for the whole tensor ({@code axis == -1}, {@code
 *       groupSize == 0}).
 *   <li>{@link Kind#PER_CHANNEL}: one pair per index along {@code axis} (any axis {@code >= 0};
 *       axis 0 is the output channel of a {@code [out, in]} Linear weight).
 *   <li>{@link Kind#PER_GROUP}: one pair per run of {@code groupSize} consecutive elements along
 *       {@code axis}, separately for every index of the other axes. For a {@code [out, in]} weight
 *       grouped along axis 1 (the input dimension, as INT4 weight-only schemes do) the parameters
 *       have shape {@code [out, in / groupSize]}. The size of {@code axis} must be a multiple of
 *       {@code groupSize}.
 * </ul>
 *
 * @param kind the granularity kind
 * @param axis the channel or group axis, {@code -1} for per-tensor
 * @param groupSize the group size for per-group, {@code 0} otherwise
 */
public record Granularity(Kind kind, int axis, int groupSize) {

    /** The three granularities. */
    public enum Kind {
        /** One scale / zero point for the tensor. */
        PER_TENSOR,
        /** One scale / zero point per channel along an axis. */
        PER_CHANNEL,
        /** One scale / zero point per group of consecutive elements along an axis. */
        PER_GROUP
    }

    private static final Granularity PER_TENSOR = new Granularity(Kind.PER_TENSOR, -1, 0);

    /**
     * Validates the fields.
     *
     * @param kind the granularity kind
     * @param axis the channel or group axis, -1 for per-tensor
     * @param groupSize the group size for per-group, 0 otherwise
     * @throws IllegalArgumentException if kind is null, the axis is negative for per-channel or
     *     per-group, or the group size is not positive for per-group
     */
    public Granularity {
        if (kind == null) {
            throw new IllegalArgumentException(
                    "kind was null, must be one of PER_TENSOR, PER_CHANNEL, PER_GROUP");
        }
        switch (kind) {
            case PER_TENSOR:
                if (axis != -1 || groupSize != 0) {
                    throw new IllegalArgumentException(
                            "per-tensor granularity had axis "
                                    + axis
                                    + " and groupSize "
                                    + groupSize
                                    + ", must be -1 and 0");
                }
                break;
            case PER_CHANNEL:
                if (axis < 0) {
                    throw new IllegalArgumentException(
                            "per-channel axis was " + axis + ", must be >= 0");
                }
                if (groupSize != 0) {
                    throw new IllegalArgumentException(
                            "per-channel groupSize was " + groupSize + ", must be 0");
                }
                break;
            case PER_GROUP:
                if (axis < 0) {
                    throw new IllegalArgumentException(
                            "per-group axis was " + axis + ", must be >= 0");
                }
                if (groupSize < 1) {
                    throw new IllegalArgumentException(
                            "groupSize was " + groupSize + ", must be >= 1");
                }
                break;
        }
    }

    /**
     * Returns per-tensor granularity.
     *
     * @return one scale for the whole tensor
     */
    public static Granularity perTensor() {
        return PER_TENSOR;
    }

    /**
     * Returns per-channel granularity along {@code axis}.
     *
     * @param axis the channel axis, {@code >= 0}
     * @return the granularity
     */
    public static Granularity perChannel(int axis) {
        return new Granularity(Kind.PER_CHANNEL, axis, 0);
    }

    /**
     * Returns per-group granularity: groups of {@code groupSize} consecutive elements along {@code
     * axis} (axis 1, the input dimension, of a {@code [out, in]} weight).
     *
     * @param axis the grouped axis, {@code >= 0}
     * @param groupSize the number of elements per group, {@code >= 1}
     * @return the granularity
     */
    public static Granularity perGroup(int axis, int groupSize) {
        return new Granularity(Kind.PER_GROUP, axis, groupSize);
    }

    /**
     * Returns the shape of the parameter arrays for a tensor of the given shape: {@code []} per
     * tensor, {@code [shape[axis]]} per channel, {@code shape} with {@code shape[axis] / groupSize}
     * per group.
     *
     * @param shape the tensor shape
     * @return the parameter shape (a new array)
     * @throws IllegalArgumentException if the axis does not exist in the shape or the group size
     *     does not divide its size
     */
    public long[] paramShape(long[] shape) {
        switch (kind) {
            case PER_TENSOR:
                return new long[0];
            case PER_CHANNEL:
                checkAxis(shape);
                return new long[] {shape[axis]};
            default:
                checkAxis(shape);
                if (shape[axis] % groupSize != 0) {
                    throw new IllegalArgumentException(
                            "groupSize was "
                                    + groupSize
                                    + ", must divide the size "
                                    + shape[axis]
                                    + " of axis "
                                    + axis
                                    + " of shape "
                                    + java.util.Arrays.toString(shape));
                }
                long[] p = shape.clone();
                p[axis] = shape[axis] / groupSize;
                return p;
        }
    }

    private void checkAxis(long[] shape) {
        if (axis >= shape.length) {
            throw new IllegalArgumentException(
                    kind
                            + " axis was "
                            + axis
                            + ", must be in [0, "
                            + (shape.length - 1)
                            + "] for shape "
                            + java.util.Arrays.toString(shape));
        }
    }

    @Override
    public String toString() {
        switch (kind) {
            case PER_TENSOR:
                return "per-tensor";
            case PER_CHANNEL:
                return "per-channel(axis=" + axis + ")";
            default:
                return "per-group(axis=" + axis + ", groupSize=" + groupSize + ")";
        }
    }
}
