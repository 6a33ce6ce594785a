package org.djlquant.backend.pytorch;

import java.util.Objects;

/**
 * A tensor value in the TorchScript code an export writes: the expression that names it and whether
 * it is a float tensor or a {@code quint8} tensor (with its scale and zero point).
 *
 * @param expression a TorchScript expression, usually a local variable name
 * @param quantized true for a per-tensor {@code quint8} tensor, false for any plain tensor
 * @param scale the scale of a quantized value, {@code 0} otherwise
 * @param zeroPoint the zero point of a quantized value, {@code 0} otherwise
 */
public record TsValue(String expression, boolean quantized, double scale, long zeroPoint) {

    /**
     * Checks the expression.
     *
     * @param expression the expression
     * @param quantized whether the value is quantized
     * @param scale its scale
     * @param zeroPoint its zero point
     */
    public TsValue {
        Objects.requireNonNull(expression, "expression");
    }

    /**
     * A plain (float or integer) tensor.
     *
     * @param expression the expression
     * @return the value
     */
    public static TsValue plain(String expression) {
        return new TsValue(expression, false, 0, 0);
    }
}
