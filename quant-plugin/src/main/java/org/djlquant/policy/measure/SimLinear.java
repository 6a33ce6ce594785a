package org.djlquant.policy.measure;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.lang.reflect.Field;
import org.djlquant.backend.pytorch.HalfPrecisionOps;

/**
 * A stand-in for a {@code Linear} that shares its parameters and computes either exactly what the
 * original computes (recording the first input shape it sees), or the original simulated in a half
 * type: input, weight, bias and output each cast to FLOAT16 / BFLOAT16 and back, the product
 * computed in FP32.
 */
final class SimLinear extends Linear {

    /** No cast: compute what the original computes. */
    static final long FP32 = -1;

    private final Linear original;
    private final String path;
    private final long cast;
    private final Parameter weightParam;
    private final Parameter biasParam;
    private volatile Shape firstInput;

    SimLinear(Linear original, String path, long cast) {
        super(new Units(original));
        this.original = original;
        this.path = path;
        this.cast = cast;
        this.weightParam = (Parameter) read(original, "weight");
        this.biasParam = (Parameter) read(original, "bias");
        parameters.clear();
        parameters.putAll(original.getDirectParameters().toMap());
    }

    Linear original() {
        return original;
    }

    Shape firstInput() {
        return firstInput;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        if (firstInput == null) {
            firstInput = x.getShape();
        }
        Device device = x.getDevice();
        NDArray w = ps.getValue(weightParam, device, training);
        NDArray b = biasParam == null ? null : ps.getValue(biasParam, device, training);
        if (w.getShape().get(1) != x.getShape().get(x.getShape().dimension() - 1)) {
            throw new IllegalArgumentException(
                    "layer "
                            + path
                            + ": input shape was "
                            + x.getShape()
                            + ", must be (..., "
                            + w.getShape().get(1)
                            + ")");
        }
        if (cast == FP32) {
            return b == null ? Linear.linear(x, w) : Linear.linear(x, w, b);
        }
        NDArray xc = HalfPrecisionOps.roundTrip(x, cast);
        // the weight lives in the model's manager: borrow it so that its copies are freed here
        try (NDManager scope = x.getManager().newSubManager()) {
            scope.tempAttachAll(b == null ? new NDList(w) : new NDList(w, b));
            NDArray wc = HalfPrecisionOps.roundTrip(w, cast);
            NDArray bc = b == null ? null : HalfPrecisionOps.roundTrip(b, cast);
            NDArray y =
                    (bc == null ? Linear.linear(xc, wc) : Linear.linear(xc, wc, bc))
                            .singletonOrThrow();
            y.attach(x.getManager());
            return new NDList(HalfPrecisionOps.roundTrip(y, cast));
        }
    }

    @Override
    public boolean isInitialized() {
        return original.isInitialized();
    }

    @Override
    public String toString() {
        return "SimLinear("
                + (cast == FP32 ? "FP32" : cast == HalfPrecisionOps.BFLOAT16 ? "BF16" : "FP16")
                + ", "
                + path
                + ")";
    }

    static Object read(Object target, String name) {
        try {
            Field f = Linear.class.getDeclaredField(name);
            f.setAccessible(true);
            return f.get(target);
        } catch (NoSuchFieldException | IllegalAccessException e) {
            throw new IllegalStateException(
                    "DJL Linear has no readable field '"
                            + name
                            + "'; this djl-quant build supports DJL 0.36.0",
                    e);
        }
    }

    /** Gives access to Linear's protected builder. */
    private static final class Units extends Linear.Builder {
        Units(Linear original) {
            setUnits((Long) read(original, "units"));
            optBias(read(original, "bias") != null);
        }
    }
}
