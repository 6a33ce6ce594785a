package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.pytorch.internal.Pickler;
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
 * Lowers a prepared weight-only {@link ObservedLinear} to the op the in-place {@code
 * nn.WeightOnlyLinear} runs, with the same integers, scales and casts (the compute dtype is the
 * exporter's {@code optWeightOnlyCompute}):
 *
 * <ul>
 *   <li>INT8 SYMMETRIC per tensor or per output channel: an int8 {@code [out, in]} tensor with
 *       float32 per-channel scales (1 byte a weight instead of 4); {@code forward} calls {@code
 *       aten::_weight_int8pack_mm} on the input flattened to {@code [M, in]} (cast to bfloat16 with
 *       the scales for BFLOAT16 compute, the result cast back), adds the bias and restores the
 *       leading dimensions;
 *   <li>INT4 AFFINE or SYMMETRIC per group along axis 1, in a shape libtorch's kernel takes ({@code
 *       WeightOnlyPackedLinear.int4ShapeProblem}): a {@code QInt4Linear} submodule holding {@code u
 *       = q + 8} two to a byte in a fixed order (half a byte a weight) and float32 {@code [in /
 *       group, out, 2]} scales and zero offsets {@code -s · z}. libtorch's packed INT4 layout
 *       depends on the CPU's vector width, so the archive does not store it: the submodule's {@code
 *       __setstate__} packs with {@code aten::_convert_weight_to_int4pack_for_cpu} once, on the
 *       machine that loads the archive, and {@code forward} calls {@code
 *       aten::_weight_int4pack_mm_for_cpu}.
 * </ul>
 *
 * <p>The archive needs nothing but libtorch, so plain DJL loads it. Every other {@link
 * ObservedLinear} (dynamic, static, QAT, INT4 in a shape the kernel refuses) goes to the built-in
 * lowering unchanged (INT4 then as fake-quantized float weights, which the manifest's kernel says).
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

    private static boolean int4WeightOnly(QConfig config, long[] shape) {
        if (config.mode() != QMode.WEIGHT_ONLY || config.learnableScale()) {
            return false;
        }
        QSpec s = config.weightSpec();
        Granularity g = s.granularity();
        return s.dtype() == QDataType.INT4
                && (s.scheme() == QScheme.AFFINE || s.scheme() == QScheme.SYMMETRIC)
                && g.kind() == Granularity.Kind.PER_GROUP
                && g.axis() == 1
                && shape.length == 2
                && WeightOnlyPackedLinear.int4ShapeProblem(shape, g.groupSize()) == null;
    }

    static List<TsValue> lower(ObservedLinear twin, List<TsValue> inputs, LoweringContext ctx) {
        TwinControl control = twin.control();
        Parameter weight = twin.getDirectParameters().get("weight");
        long[] shape = weight.getArray().getShape().getShape();
        boolean int4 = int4WeightOnly(control.config(), shape);
        if (!int4 && !int8WeightOnly(control.config())) {
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
        Parameter bias = (Parameter) BuiltinLowerings.read(twin, Linear.class, "bias");
        NDArray w = weight.getArray();
        if (int4) {
            return List.of(int4(twin, inputs.get(0), ctx, wp, w.toFloatArray(), shape, bias));
        }
        WeightOnlyPackedLinear.Compute compute = ctx.session().weightOnlyCompute;
        String why = WeightOnlyPackedLinear.int8ShapeProblem(shape, compute);
        if (why != null) {
            throw new UnsupportedExportException(path, twin.getClass().getName(), why);
        }
        boolean bf16 = compute == WeightOnlyPackedLinear.Compute.BFLOAT16;
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
        String y;
        if (bf16) {
            // as WeightOnlyOps.int8_linear_bf16: input and scales in bfloat16, output back
            String xb = ctx.let("torch.to(" + x2 + ", 15)");
            String yb =
                    ctx.let(
                            "torch._weight_int8pack_mm("
                                    + xb
                                    + ", "
                                    + ws
                                    + ", torch.to("
                                    + ss
                                    + ", 15))");
            y = ctx.let("torch.to(" + yb + ", 6)");
        } else {
            y = ctx.let("torch._weight_int8pack_mm(" + x2 + ", " + ws + ", " + ss + ")");
        }
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
                                "aten::_weight_int8pack_mm" + (bf16 ? " (bfloat16)" : ""),
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

    /** The INT4 form; see the class documentation. */
    private static TsValue int4(
            ObservedLinear twin,
            TsValue input,
            LoweringContext ctx,
            QParams wp,
            float[] weight,
            long[] shape,
            Parameter bias) {
        String path = ctx.path();
        int out = (int) shape[0];
        int in = (int) shape[1];
        int group = wp.spec().granularity().groupSize();
        int groups = in / group;
        long[] q = QuantMath.quantize(weight, shape, wp);
        // portable nibble order: u[n][2j] in the low half of byte [n][j], u[n][2j + 1] in the high
        byte[] nibbles = new byte[out * in / 2];
        for (int i = 0; i < nibbles.length; i++) {
            int lo = (int) q[2 * i] + 8;
            int hi = (int) q[2 * i + 1] + 8;
            if (lo < 0 || lo > 15 || hi < 0 || hi > 15) {
                throw new IllegalStateException(
                        "layer " + path + ": INT4 value outside [-8, 7] at element " + 2 * i);
            }
            nibbles[i] = (byte) (lo | hi << 4);
        }
        float[] sz = new float[2 * out * groups];
        double smin = Double.MAX_VALUE;
        double smax = 0;
        long zmin = Long.MAX_VALUE;
        long zmax = Long.MIN_VALUE;
        for (int o = 0; o < out; o++) {
            for (int g = 0; g < groups; g++) {
                int p = o * groups + g;
                float s = wp.scaleAt(p);
                long z = wp.zeroPointAt(p);
                // the same float32 products as nn.WeightOnlyLinear
                sz[(g * out + o) * 2] = s;
                sz[(g * out + o) * 2 + 1] = -s * z;
                smin = Math.min(smin, s);
                smax = Math.max(smax, s);
                zmin = Math.min(zmin, z);
                zmax = Math.max(zmax, z);
            }
        }
        float[] b = bias != null && bias.isInitialized() ? bias.getArray().toFloatArray() : null;
        boolean bf16 = ctx.session().weightOnlyCompute == WeightOnlyPackedLinear.Compute.BFLOAT16;
        String m =
                ctx.session()
                        .submodule(
                                new Pickler.ScriptObject(
                                        TorchScriptExporter.QUALIFIED,
                                        "QInt4Linear",
                                        Pickler.Tuple.of(
                                                TensorData.ofUint8(nibbles, out, in / 2),
                                                TensorData.ofFloats(sz, groups, out, 2),
                                                b == null ? null : TensorData.ofFloats(b, out),
                                                (long) group,
                                                bf16,
                                                false)));
        ctx.session().int4Layers++;
        QSpec spec = wp.spec();
        ctx.session()
                .layers
                .add(
                        new QuantizationManifest.Layer(
                                path,
                                QMode.WEIGHT_ONLY,
                                "aten::_convert_weight_to_int4pack_for_cpu (at load) +"
                                        + " aten::_weight_int4pack_mm_for_cpu"
                                        + (bf16 ? " (bfloat16)" : ""),
                                spec.dtype(),
                                spec.scheme(),
                                spec.granularity().toString(),
                                smin,
                                smax,
                                zmin,
                                zmax,
                                null,
                                null,
                                false,
                                nibbles.length + 4L * sz.length,
                                4L * q.length));
        return TsValue.plain(ctx.let(m + ".linear(" + ctx.asFloat(input) + ")"));
    }
}
