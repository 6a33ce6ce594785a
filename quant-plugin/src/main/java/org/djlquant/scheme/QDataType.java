package org.djlquant.scheme;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The data types a tensor can be quantized to (or kept in), each knowing its bit width and, for
 * integer types, its integer range {@code [qmin, qmax]}.
 *
 * <table>
 *   <caption>Integer ranges</caption>
 *   <tr><th>type</th><th>bits</th><th>range</th><th>reduceRange</th></tr>
 *   <tr><td>INT8</td><td>8</td><td>[-128, 127]</td><td>[-64, 63]</td></tr>
 *   <tr><td>UINT8</td><td>8</td><td>[0, 255]</td><td>[0, 127]</td></tr>
 *   <tr><td>INT4</td><td>4</td><td>[-8, 7]</td><td>[-4, 3]</td></tr>
 *   <tr><td>UINT4</td><td>4</td><td>[0, 15]</td><td>[0, 7]</td></tr>
 *   <tr><td>INT2</td><td>2</td><td>[-2, 1]</td><td>not allowed</td></tr>
 *   <tr><td>BINARY</td><td>1</td><td>[0, 1]</td><td>not allowed</td></tr>
 *   <tr><td>TERNARY</td><td>2 (stored)</td><td>[-1, 1]</td><td>not allowed</td></tr>
 * </table>
 *
 * <p>{@code reduceRange} drops one bit of range, as PyTorch's {@code reduce_range=True} does for
 * fbgemm on x86 CPUs without VNNI (where the 16-bit accumulation of {@code vpmaddubsw} would
 * otherwise saturate). It is defined for the 8- and 4-bit types only: on types of 2 bits or fewer
 * it would leave one level or none.
 *
 * <p>{@link #FP16}, {@link #BF16} and {@link #FP32} are float types used by mixed precision; they
 * have no integer range, and {@link #qmin(boolean)}/{@link #qmax(boolean)} refuse them. Their range
 * is {@code ±}{@link #maxFinite()} with relative precision {@link #machineEpsilon()}.
 */
public enum QDataType {
    /** Signed 8-bit integer, [-128, 127]. */
    INT8(8, true, true, -128, 127),
    /** Unsigned 8-bit integer, [0, 255]. */
    UINT8(8, true, false, 0, 255),
    /** Signed 4-bit integer, [-8, 7]. */
    INT4(4, true, true, -8, 7),
    /** Unsigned 4-bit integer, [0, 15]. */
    UINT4(4, true, false, 0, 15),
    /** Signed 2-bit integer, [-2, 1]. */
    INT2(2, true, true, -2, 1),
    /** One bit, [0, 1]. */
    BINARY(1, true, false, 0, 1),
    /** Three levels {-1, 0, 1}, stored in 2 bits. */
    TERNARY(2, true, true, -1, 1),
    /** IEEE 754 half precision. */
    FP16(16, false, true, 0, 0),
    /** bfloat16 (8-bit exponent, 7-bit mantissa). */
    BF16(16, false, true, 0, 0),
    /** IEEE 754 single precision (no quantization). */
    FP32(32, false, true, 0, 0);

    private final int bits;
    private final boolean integer;
    private final boolean signed;
    private final long qmin;
    private final long qmax;

    QDataType(int bits, boolean integer, boolean signed, long qmin, long qmax) {
        this.bits = bits;
        this.integer = integer;
        this.signed = signed;
        this.qmin = qmin;
        this.qmax = qmax;
    }

    /**
     * Returns the storage bit width: 8, 8, 4, 4, 2, 1, 2 (ternary), 16, 16, 32.
     *
     * @return the number of bits one value takes
     */
    public int bits() {
        return bits;
    }

    /**
     * Returns whether this is an integer (quantized) type, INT8 to TERNARY.
     *
     * @return true for integer types, false for FP16, BF16 and FP32
     */
    public boolean isInteger() {
        return integer;
    }

    /**
     * Returns whether the type holds negative values.
     *
     * @return true for INT8, INT4, INT2, TERNARY and the float types
     */
    public boolean isSigned() {
        return signed;
    }

    /**
     * Returns whether {@code reduceRange} may be used with this type (integer types of 4 or more
     * bits).
     *
     * @return true for INT8, UINT8, INT4 and UINT4
     */
    public boolean supportsReduceRange() {
        return integer && bits >= 4;
    }

    /**
     * Returns the smallest integer value.
     *
     * @param reduceRange whether one bit of range is dropped (see the class javadoc)
     * @return the lower end of the integer range
     * @throws UnsupportedOperationException for a float type
     * @throws IllegalArgumentException if {@code reduceRange} is asked of a type under 4 bits
     */
    public long qmin(boolean reduceRange) {
        checkRange(reduceRange);
        return reduceRange && signed ? qmin / 2 : qmin;
    }

    /**
     * Returns the largest integer value.
     *
     * @param reduceRange whether one bit of range is dropped (see the class javadoc)
     * @return the upper end of the integer range
     * @throws UnsupportedOperationException for a float type
     * @throws IllegalArgumentException if {@code reduceRange} is asked of a type under 4 bits
     */
    public long qmax(boolean reduceRange) {
        checkRange(reduceRange);
        if (!reduceRange) {
            return qmax;
        }
        return (qmax + 1) / 2 - 1;
    }

    private void checkRange(boolean reduceRange) {
        if (!integer) {
            throw new UnsupportedOperationException(
                    "dtype was "
                            + this
                            + ", a float type without an integer range; integer types are "
                            + integerNames());
        }
        if (reduceRange && !supportsReduceRange()) {
            throw new IllegalArgumentException(
                    "reduceRange was true for dtype "
                            + this
                            + " ("
                            + bits
                            + " bits), must be false below 4 bits; allowed with INT8, UINT8, INT4,"
                            + " UINT4");
        }
    }

    /**
     * Returns the largest finite value the type holds: {@code qmax(false)} for integer types, 65504
     * for FP16, {@code (2 - 2^-7) 2^127 ≈ 3.39e38} for BF16, {@link Float#MAX_VALUE} for FP32.
     *
     * @return the upper end of the type's range (the lower end is its negation for float types)
     */
    public double maxFinite() {
        switch (this) {
            case FP16:
                return 65504.0;
            case BF16:
                return (2 - Math.pow(2, -7)) * Math.pow(2, 127);
            case FP32:
                return Float.MAX_VALUE;
            default:
                return qmax;
        }
    }

    /**
     * Returns the machine epsilon of a float type (the gap between 1 and the next value): {@code
     * 2^-10} for FP16, {@code 2^-7} for BF16, {@code 2^-23} for FP32. Casting to the type has a
     * relative error of at most half of it (round to nearest even).
     *
     * @return the machine epsilon
     * @throws UnsupportedOperationException for an integer type (its step is the scale)
     */
    public double machineEpsilon() {
        switch (this) {
            case FP16:
                return Math.pow(2, -10);
            case BF16:
                return Math.pow(2, -7);
            case FP32:
                return Math.pow(2, -23);
            default:
                throw new UnsupportedOperationException(
                        "dtype was "
                                + this
                                + ", an integer type without a machine epsilon; float types are"
                                + " FP16, BF16, FP32");
        }
    }

    /**
     * Parses a type name, case-insensitively ("int8", "UINT8", "bf16").
     *
     * @param name the name
     * @return the data type
     * @throws IllegalArgumentException naming the value given and the allowed names
     */
    public static QDataType parse(String name) {
        if (name != null) {
            String n = name.trim().toUpperCase(Locale.ROOT);
            for (QDataType t : values()) {
                if (t.name().equals(n)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException(
                "dtype was '"
                        + name
                        + "', must be one of "
                        + Arrays.stream(values()).map(Enum::name).collect(Collectors.toList()));
    }

    private static String integerNames() {
        return Arrays.stream(values())
                .filter(QDataType::isInteger)
                .map(Enum::name)
                .collect(Collectors.toList())
                .toString();
    }
}
