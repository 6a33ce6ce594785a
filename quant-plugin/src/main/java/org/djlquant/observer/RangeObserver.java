package org.djlquant.observer;

import ai.djl.ndarray.NDArray;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.NonFiniteValueException;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Min/max observers: running extremes, or their exponential moving average (PyTorch's {@code
 * averaging_constant} semantics: the first batch sets the range, each later one moves it by {@code
 * c * (current - running)}), per tensor or per channel / group.
 */
final class RangeObserver implements Observer {

    private final QSpec spec;
    private final float momentum; // NaN for plain min/max
    private final String kind;

    private float[] min;
    private float[] max;
    private long[] paramShape;
    private long batches; // successful observe calls since creation / reset, for messages

    RangeObserver(QSpec spec, float momentum) {
        this.spec = spec;
        this.momentum = momentum;
        boolean perTensor = spec.granularity().kind() == Granularity.Kind.PER_TENSOR;
        boolean avg = !Float.isNaN(momentum);
        this.kind =
                (perTensor ? "" : "PerChannel") + (avg ? "MovingAverage" : "") + "MinMaxObserver";
    }

    @Override
    public QSpec spec() {
        return spec;
    }

    @Override
    public void observe(NDArray x) {
        float[][] cur;
        try {
            cur = NDQuant.minMax(x, spec.granularity());
        } catch (NonFiniteValueException e) {
            throw new NonFiniteValueException(
                    this + " batch " + batches,
                    e.getMessage().replace(", must be finite (no NaN or Inf)", ""));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    this + " batch " + batches + ": " + e.getMessage(), e);
        }
        long[] ps = spec.granularity().paramShape(x.getShape().getShape());
        if (min == null) {
            min = cur[0];
            max = cur[1];
            paramShape = ps;
            batches++;
            return;
        }
        if (!Arrays.equals(ps, paramShape)) {
            throw new IllegalArgumentException(
                    this
                            + ": tensor of shape "
                            + x.getShape()
                            + " gives parameter shape "
                            + Arrays.toString(ps)
                            + ", must be "
                            + Arrays.toString(paramShape)
                            + " as for earlier tensors");
        }
        for (int i = 0; i < min.length; i++) {
            if (Float.isNaN(momentum)) {
                min[i] = Math.min(min[i], cur[0][i]);
                max[i] = Math.max(max[i], cur[1][i]);
            } else {
                min[i] = min[i] + momentum * (cur[0][i] - min[i]);
                max[i] = max[i] + momentum * (cur[1][i] - max[i]);
            }
        }
        batches++;
    }

    @Override
    public boolean hasData() {
        return min != null;
    }

    @Override
    public QParams computeParams() {
        requireData();
        return QuantMath.paramsFromMinMax(spec, min, max, paramShape);
    }

    @Override
    public void reset() {
        min = null;
        max = null;
        paramShape = null;
        batches = 0;
    }

    @Override
    public float[][] observedRange() {
        requireData();
        return new float[][] {min.clone(), max.clone()};
    }

    @Override
    public ObserverState saveState() {
        Map<String, float[]> v = new TreeMap<>();
        if (min != null) {
            v.put("min", min);
            v.put("max", max);
            float[] ps = new float[paramShape.length];
            for (int i = 0; i < ps.length; i++) {
                ps[i] = paramShape[i];
            }
            v.put("paramShape", ps);
        }
        return new ObserverState(kind, v);
    }

    @Override
    public void loadState(ObserverState state) {
        if (state == null || !kind.equals(state.kind())) {
            throw new IllegalArgumentException(
                    "state kind was "
                            + (state == null ? "null" : state.kind())
                            + ", must be "
                            + kind
                            + " for "
                            + this);
        }
        float[] mn = state.get("min");
        float[] mx = state.get("max");
        float[] ps = state.get("paramShape");
        if (mn == null && mx == null && ps == null) {
            reset();
            return;
        }
        if (mn == null || mx == null || ps == null || mn.length != mx.length) {
            throw new IllegalArgumentException(
                    "state " + state + " must hold min, max and paramShape of equal sizes");
        }
        long[] shape = new long[ps.length];
        long n = 1;
        for (int i = 0; i < ps.length; i++) {
            shape[i] = (long) ps[i];
            n *= shape[i];
        }
        if (n != mn.length) {
            throw new IllegalArgumentException(
                    "state paramShape "
                            + Arrays.toString(shape)
                            + " does not match "
                            + mn.length
                            + " min/max values");
        }
        // validate against the spec (throws for per-tensor with a channel shape etc.)
        QuantMath.paramsFromMinMax(spec, mn, mx, shape);
        min = mn;
        max = mx;
        paramShape = shape;
    }

    private void requireData() {
        if (min == null) {
            throw new IllegalStateException(
                    this + " has observed no data; call observe(x) with calibration data first");
        }
    }

    @Override
    public String toString() {
        return kind + "(" + spec + (Float.isNaN(momentum) ? "" : ", momentum=" + momentum) + ")";
    }
}
