package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.UncalibratedLayerException;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Lowers a prepared weight-only INT8 {@link ObservedLinear} (INT8 SYMMETRIC per tensor or per
 * output channel) to the op the in-place {@code nn.WeightOnlyLinear} runs: the weight is stored as
 * an int8 {@code [out, in]} tensor with float32 per-channel scales (1 byte a weight instead of 4)
 * and {@code forward} calls {@code aten::_weight_int8pack_mm} on the input flattened to {@code [M,
 * in]} (float32 compute), adds the bias and restores the leading dimensions. The archive needs
 * nothing but libtorch, so plain DJL loads it.
 *
 * <p>Every other {@link ObservedLinear} (dynamic, static, QAT, INT4 weight-only) goes to the
 * built-in lowering unchanged: INT4 weight-only stays exported as fake-quantized float weights,
 * since libtorch's packed INT4 layout depends on the CPU's vector width and so cannot be stored
 * portably, and packing at every call would cost more than the matmul.
 *
 * <p>Registered for {@code ObservedLinear} by {@link BuiltinLowerings} (one line, after the
 * built-in registration it wraps). Stateless, thread-safe.
 */
final class WeightOnlyLowering {

    private WeightOnlyLowering() {}

    /**
     * Registers this lowering for {@link ObservedLinear}, replacing (and delegating to) the
     * built-in one.
     */
    static void register() {
        Lowerings.register(ObservedLinear.class, WeightOnlyLowering::lower);
    }

    private static boolean int8WeightOnly(QConfig config) {
        if (config.mode() != QMode.WEIGHT_ONLY || config.learnableScale()) {
            return false;
        }
        QSpec s = config.weightSpec();
        Granularity g = s.granularity();
        return s.dtype() == QDataType.INT8
                && s.scheme() == QScheme.SYMMETRIC
                && (g.kind() == Granularity.Kind.PER_TENSOR
                        || (g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0));
    }

    static List<TsValue> lower(ObservedLinear twin, List<TsValue> inputs, LoweringContext ctx) {
        TwinControl control = twin.control();
        if (!int8WeightOnly(control.config())) {
            return List.of(BuiltinLowerings.observedLinear(twin, inputs.get(0), ctx, null, false));
        }
        String path = ctx.path();
        Map<String, QParams> params;
        try {
            params = control.computeParams();
        } catch (IllegalStateException e) {
            throw new UncalibratedLayerException(path, TwinControl.WEIGHT, "export", e);
        }
        QParams wp = params.get(TwinControl.WEIGHT);
        Parameter weight = twin.getDirectParameters().get("weight");
        Parameter bias = (Parameter) BuiltinLowerings.read(twin, Linear.class, "bias");
        NDArray w = weight.getArray();
        long[] shape = w.getShape().getShape();
        int out = (int) shape[0];
        long[] q = QuantMath.quantize(w.toFloatArray(), shape, wp);
        byte[] qb = new byte[q.length];
        for (int i = 0; i < q.length; i++) {
            qb[i] = (byte) q[i];
        }
        float[] scales = new float[out];
        for (int o = 0; o < out; o++) {
            scales[o] = wp.scaleAt(wp.size() == 1 ? 0 : o);
        }
        String ws = ctx.session().attribute("Tensor", TensorData.ofInt8(qb, shape));
        String ss = ctx.session().attribute("Tensor", TensorData.ofFloats(scales, out));
        String x = ctx.asFloat(inputs.get(0));
        String lead = ctx.let(x + ".size()[:-1]");
        String x2 = ctx.let(x + ".reshape([-1, " + shape[1] + "]).contiguous()");
        String y = ctx.let("torch._weight_int8pack_mm(" + x2 + ", " + ws + ", " + ss + ")");
        if (bias != null && bias.isInitialized()) {
            y = ctx.let(y + " + " + ctx.parameter(bias));
        }
        double smin = Double.MAX_VALUE;
        double smax = 0;
        for (float s : scales) {
            smin = Math.min(smin, s);
            smax = Math.max(smax, s);
        }
        QSpec spec = wp.spec();
        ctx.session()
                .layers
                .add(
                        new QuantizationManifest.Layer(
                                path,
                                QMode.WEIGHT_ONLY,
                                "aten::_weight_int8pack_mm",
                                spec.dtype(),
                                spec.scheme(),
                                spec.granularity().toString(),
                                smin,
                                smax,
                                0,
                                0,
                                null,
                                null,
                                false,
                                qb.length + 4L * out,
                                4L * qb.length));
        return List.of(TsValue.plain(ctx.let(y + ".reshape(" + lead + " + [" + out + "])")));
    }
}
