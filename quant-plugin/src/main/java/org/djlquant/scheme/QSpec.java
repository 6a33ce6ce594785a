package org.djlquant.scheme;

/**
 * How one tensor is quantized: data type, scheme, granularity and whether the range is reduced by
 * one bit. Validated in the canonical constructor; immutable.
 *
 * <p>A spec with a float data type (FP16, BF16, FP32) is allowed so that mixed-precision plans can
 * describe every layer with one type, but it has no integer range: {@link #qmin()}, {@link #qmax()}
 * and {@link QuantMath#paramsFromMinMax} refuse it.
 *
 * @param dtype the target data type
 * @param scheme symmetric or affine
 * @param granularity per tensor, per channel or per group
 * @param reduceRange drop one bit of the integer range (fbgemm without VNNI), 4- and 8-bit only
 */
public record QSpec(QDataType dtype, QScheme scheme, Granularity granularity, boolean reduceRange) {

    /**
     * Validates the fields.
     *
     * @param dtype the target data type
     * @param scheme symmetric or affine
     * @param granularity per tensor, per channel or per group
     * @param reduceRange drop one bit of the integer range
     * @throws IllegalArgumentException if a field is null, or reduceRange is asked of a type that
     *     cannot reduce its range or of a float type
     */
    public QSpec {
        if (dtype == null) {
            throw new IllegalArgumentException(
                    "dtype was null, must be one of "
                            + java.util.Arrays.toString(QDataType.values()));
        }
        if (scheme == null) {
            throw new IllegalArgumentException("scheme was null, must be SYMMETRIC or AFFINE");
        }
        if (granularity == null) {
            throw new IllegalArgumentException(
                    "granularity was null, must be per-tensor, per-channel or per-group");
        }
        if (reduceRange && !dtype.supportsReduceRange()) {
            throw new IllegalArgumentException(
                    "reduceRange was true for dtype "
                            + dtype
                            + ", must be false; allowed only with INT8, UINT8, INT4, UINT4");
        }
    }

    /**
     * Returns the smallest integer value of this spec.
     *
     * @return {@code dtype.qmin(reduceRange)}
     * @throws UnsupportedOperationException for a float data type
     */
    public long qmin() {
        return dtype.qmin(reduceRange);
    }

    /**
     * Returns the largest integer value of this spec.
     *
     * @return {@code dtype.qmax(reduceRange)}
     * @throws UnsupportedOperationException for a float data type
     */
    public long qmax() {
        return dtype.qmax(reduceRange);
    }

    /**
     * Returns the zero point a symmetric scheme uses: 0 for signed types, the upper midpoint {@code
     * (qmin + qmax + 1) / 2} for unsigned ones (128 for UINT8, as PyTorch; 64 for UINT8 with
     * reduceRange, where PyTorch keeps 128, outside its own range [0, 127]).
     *
     * @return the symmetric zero point
     * @throws UnsupportedOperationException for a float data type
     */
    public long symmetricZeroPoint() {
        return dtype.isSigned() ? 0 : (qmin() + qmax() + 1) / 2;
    }

    /**
     * Returns a copy with another granularity.
     *
     * @param g the granularity
     * @return the new spec
     */
    public QSpec withGranularity(Granularity g) {
        return new QSpec(dtype, scheme, g, reduceRange);
    }

    /**
     * INT8 symmetric per channel, the fbgemm / qnnpack weight scheme.
     *
     * @param axis the output-channel axis (0 for a {@code [out, in]} Linear weight)
     * @return the spec
     */
    public static QSpec int8SymmetricPerChannel(int axis) {
        return new QSpec(QDataType.INT8, QScheme.SYMMETRIC, Granularity.perChannel(axis), false);
    }

    /**
     * INT8 symmetric per tensor.
     *
     * @return the spec
     */
    public static QSpec int8SymmetricPerTensor() {
        return new QSpec(QDataType.INT8, QScheme.SYMMETRIC, Granularity.perTensor(), false);
    }

    /**
     * UINT8 affine per tensor, the fbgemm / qnnpack activation scheme.
     *
     * @return the spec
     */
    public static QSpec uint8AffinePerTensor() {
        return new QSpec(QDataType.UINT8, QScheme.AFFINE, Granularity.perTensor(), false);
    }

    /**
     * INT8 affine per tensor (ONNX Runtime's signed activations).
     *
     * @return the spec
     */
    public static QSpec int8AffinePerTensor() {
        return new QSpec(QDataType.INT8, QScheme.AFFINE, Granularity.perTensor(), false);
    }

    /**
     * INT4 symmetric per group, the weight-only INT4 scheme.
     *
     * @param axis the grouped axis (1, the input dimension of a {@code [out, in]} weight)
     * @param groupSize elements per group (32, 64, 128 are usual)
     * @return the spec
     */
    public static QSpec int4SymmetricPerGroup(int axis, int groupSize) {
        return new QSpec(
                QDataType.INT4, QScheme.SYMMETRIC, Granularity.perGroup(axis, groupSize), false);
    }

    @Override
    public String toString() {
        return dtype + " " + scheme + " " + granularity + (reduceRange ? " reduceRange" : "");
    }
}
