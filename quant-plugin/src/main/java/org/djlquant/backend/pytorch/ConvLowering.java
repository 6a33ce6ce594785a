package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.Dropout;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.ObservedConv2d;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.QuantizedConv2d;
import org.djlquant.nn.TwinControl;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * The lowering of the observed twin {@link ObservedConv2d} (STATIC and QAT, after calibration):
 * libtorch's INT8 convolution.
 *
 * <ul>
 *   <li>weights: INT8 values from the twin's weight parameters (per tensor, stored as equal
 *       per-channel scales, or per output channel), packed by {@code quantized::conv2d_prepack} in
 *       the submodule's {@code __setstate__} while libtorch loads the archive, so for the engine
 *       current at load (fbgemm / x86, onednn, qnnpack);
 *   <li>input: {@code torch.quantize_per_tensor} with the calibrated input parameters (clamped to
 *       the 7-bit range first when the config reduces it, as the simulation does), or the {@code
 *       quint8} value handed on by the previous INT8 layer when its parameters are these;
 *   <li>output: {@code quantized::conv2d} (or {@code conv2d_relu}) requantizing to (a) the twin's
 *       own output parameters when it observes its output, else (b) inside a {@code
 *       SequentialBlock}, the calibrated input parameters of the next static layer ({@code
 *       ObservedConv2d} or {@code ObservedLinear}) when only a ReLU ({@link
 *       ExportableBlocks#relu()} or DJL's {@code Activation.reluBlock()}, fused into {@code
 *       conv2d_relu}), max pooling, flatten, identity or dropout lie between: the activation stays
 *       {@code quint8} up to that layer, and the simulation's values are the same (a ReLU commutes
 *       with requantization to parameters whose range holds 0, max pooling and flatten with any
 *       monotone rounding);
 *   <li>(c) otherwise there are no parameters to requantize to: the layer runs {@code aten::conv2d}
 *       over the fake-quantized input and weights (exactly the simulation, but float arithmetic),
 *       and the manifest's kernel says so.
 * </ul>
 *
 * DYNAMIC and WEIGHT_ONLY conv twins, learnt (LSQ) scales, and weights or activations of other
 * types are refused with an {@link UnsupportedExportException}.
 *
 * <p>A {@link QuantizedConv2d} left by an in-place conversion is written the same way from its own
 * INT8 weights and parameters (its output parameters are the next static layer's input parameters,
 * as the converter chose them), so the archive computes what the converted model computes in place.
 */
final class ConvLowering {

    static final String KERNEL_FLOAT_FALLBACK =
            "aten::conv2d (fake-quantized input and weights: no output parameters to requantize"
                    + " to)";

    private ConvLowering() {}

    static void register() {
        Lowerings.register(
                ObservedConv2d.class,
                (b, in, ctx) ->
                        List.of(
                                lower(
                                        b,
                                        BuiltinLowerings.single(in, ctx),
                                        ctx,
                                        null,
                                        reluComputedByTwin(b))));
        Lowerings.register(
                QuantizedConv2d.class,
                (b, in, ctx) -> List.of(lowerConverted(b, BuiltinLowerings.single(in, ctx), ctx)));
    }

    /**
     * Whether the twin itself computes the ReLU that follows it ({@link
     * ObservedConv2d#isReluFused()}, set by the preparer for Conv2d+ReLU): a twin lowered on its
     * own then runs {@code conv2d_relu}. Inside a {@code SequentialBlock} the ReLU block that
     * follows is fused by {@link #inSequence} either way.
     */
    static boolean reluComputedByTwin(ObservedConv2d twin) {
        return twin.isReluFused();
    }

    /** Whether a block is a conv twin whose mode this lowering runs as INT8 (STATIC or QAT). */
    static boolean isStatic(Block b) {
        return b instanceof ObservedConv2d t && t.control().config().mode().observesActivations();
    }

    /** A DJL or {@link ExportableBlocks} ReLU. */
    static boolean isRelu(Block b) {
        return (b instanceof ExportableBlocks.Op op && op.kind.equals("relu"))
                || (b instanceof LambdaBlock l && "ReLU".equals(l.getName()));
    }

    /**
     * Blocks that pass a {@code quint8} value on with the values the float block would give the
     * next layer's input quantization: max pooling, flatten, identity and dropout commute with any
     * monotone rounding; a ReLU commutes with rounding to parameters whose range holds 0 (every
     * affine UINT8 range from a min/max that includes 0).
     */
    static boolean keepsQuantized(Block b) {
        if (b instanceof Dropout || isRelu(b)) {
            return true;
        }
        return b instanceof ExportableBlocks.Op op
                && (op.kind.equals("maxPool2d")
                        || op.kind.equals("flatten")
                        || op.kind.equals("identity"));
    }

    /** The result of lowering a conv twin inside a sequence: its value and the last child used. */
    record Step(TsValue value, int last) {}

    /**
     * Lowers the conv twin {@code children[i]} of a {@code SequentialBlock}: fuses a ReLU right
     * after it, and without own output parameters requantizes to the input parameters of the next
     * static layer if only blocks that keep quantized values lie between.
     */
    static Step inSequence(
            List<Block> children,
            int i,
            TsValue input,
            LoweringContext ctx,
            Map<Block, String> segments) {
        ObservedConv2d twin = (ObservedConv2d) children.get(i);
        LoweringContext own =
                new LoweringContext(ctx.session(), twin, childPath(ctx, segments, twin));
        boolean relu = i + 1 < children.size() && isRelu(children.get(i + 1));
        int last = relu ? i + 1 : i;
        int end = last;
        QParams target = null;
        if (isStatic(twin) && !twin.control().observers().containsKey(TwinControl.OUTPUT)) {
            // this layer's own calibration is checked before the next one's
            BuiltinLowerings.calibratedParams(twin.control(), own.path());
            int j = last + 1;
            while (j < children.size() && keepsQuantized(children.get(j))) {
                j++;
            }
            if (j < children.size()) {
                target = inputOfNext(children.get(j), childPath(ctx, segments, children.get(j)));
            }
            if (target != null) {
                end = j - 1;
            }
        }
        TsValue y = lower(twin, input, own, target, relu || reluComputedByTwin(twin));
        // the blocks up to the next static layer run on the quint8 tensor
        for (int k = last + 1; k <= end; k++) {
            Block b = children.get(k);
            if (isRelu(b)) {
                y =
                        new TsValue(
                                ctx.let("torch.relu(" + y.expression() + ")"),
                                true,
                                y.scale(),
                                y.zeroPoint());
            } else {
                y = ctx.lowerChild(b, List.of(y)).get(0);
            }
        }
        return new Step(y, end);
    }

    private static String childPath(LoweringContext ctx, Map<Block, String> segments, Block c) {
        return ctx.path().isEmpty() ? segments.get(c) : ctx.path() + "." + segments.get(c);
    }

    /** The calibrated input parameters of a static INT8 layer with UINT8 inputs, else null. */
    private static QParams inputOfNext(Block next, String path) {
        TwinControl control;
        if (next instanceof ObservedConv2d c && isStatic(c)) {
            control = c.control();
        } else if (next instanceof ObservedLinear l
                && l.control().config().mode().observesActivations()) {
            control = l.control();
        } else {
            return null;
        }
        QConfig config = control.config();
        if (config.learnableScale()
                || config.activationSpec().dtype() != QDataType.UINT8
                || !control.observers().containsKey(TwinControl.INPUT)) {
            return null;
        }
        return BuiltinLowerings.calibratedParams(control, path).get(TwinControl.INPUT);
    }

    /**
     * Lowers a conv twin.
     *
     * @param requantizeTo the parameters to requantize the output to when the twin has none of its
     *     own (the next static layer's input parameters), or null
     * @param relu whether the ReLU that follows is computed by the kernel
     */
    static TsValue lower(
            ObservedConv2d twin,
            TsValue input,
            LoweringContext ctx,
            QParams requantizeTo,
            boolean relu) {
        String path = ctx.path();
        String cls = twin.getClass().getName();
        TwinControl control = twin.control();
        QConfig config = control.config();
        QMode mode = config.mode();
        if (!mode.observesActivations()) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "mode was "
                            + mode
                            + "; an INT8 convolution is exported for modes STATIC and QAT"
                            + " (calibrated input ranges), prepare convolutions with one of those"
                            + " or leave them FP32");
        }
        if (config.learnableScale()) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "learnt (LSQ) scales cannot be exported yet; allowed: observer scales");
        }
        Map<String, QParams> params = BuiltinLowerings.calibratedParams(control, path);
        QParams wp = params.get(TwinControl.WEIGHT);
        QSpec ws = wp.spec();
        Granularity g = ws.granularity();
        boolean perChannel0 = g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0;
        if (ws.dtype() != QDataType.INT8
                || !(g.kind() == Granularity.Kind.PER_TENSOR || perChannel0)) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "weight spec was "
                            + ws
                            + "; INT8 convolutions need INT8 weights per tensor or per output"
                            + " channel (axis 0)");
        }
        QSpec as = config.activationSpec();
        if (as.dtype() != QDataType.UINT8) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "activation spec was "
                            + as
                            + "; libtorch's INT8 convolutions take UINT8 activations");
        }
        Parameter weight = twin.getDirectParameters().get("weight");
        Parameter bias = twin.isIncludeBias() ? twin.getDirectParameters().get("bias") : null;
        NDArray w = weight.getArray();
        long[] shape = w.getShape().getShape().clone();
        float[] wf = w.toFloatArray();
        QParams ip = params.get(TwinControl.INPUT);
        QParams outParams = params.get(TwinControl.OUTPUT);
        if (outParams == null) {
            outParams = requantizeTo;
        }
        long float32 = 4L * wf.length;
        Shape stride = twin.getStride();
        Shape padding = twin.getPadding();
        Shape dilation = twin.getDilation();
        if (stride.dimension() != 2 || padding.dimension() != 2 || dilation.dimension() != 2) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "stride "
                            + stride
                            + ", padding "
                            + padding
                            + ", dilation "
                            + dilation
                            + "; each must have 2 entries");
        }
        double lo = (ip.spec().qmin() - ip.zeroPoint()) * (double) ip.scale();
        double hi = (ip.spec().qmax() - ip.zeroPoint()) * (double) ip.scale();
        boolean clamp = ip.spec().qmin() != 0 || ip.spec().qmax() != 255;
        if (outParams == null) {
            // (c): float arithmetic over the simulation's rounded values
            float[] fq = QuantMath.fakeQuantize(wf, shape, wp);
            String b = bias == null ? "None" : ctx.parameter(bias);
            String wt = ctx.session().attribute("Tensor", TensorData.ofFloats(fq, shape));
            String x = ctx.asFloat(input);
            if (clamp) {
                x =
                        ctx.let(
                                "torch.clamp("
                                        + x
                                        + ", "
                                        + LoweringContext.literal(lo)
                                        + ", "
                                        + LoweringContext.literal(hi)
                                        + ")");
            }
            String xq =
                    ctx.let(
                            "torch.dequantize(torch.quantize_per_tensor("
                                    + x
                                    + ", "
                                    + LoweringContext.literal(ip.scale())
                                    + ", "
                                    + ip.zeroPoint()
                                    + ", 13))");
            String y =
                    ctx.let(
                            "torch.conv2d("
                                    + xq
                                    + ", "
                                    + wt
                                    + ", "
                                    + b
                                    + ", "
                                    + list(stride)
                                    + ", "
                                    + list(padding)
                                    + ", "
                                    + list(dilation)
                                    + ", "
                                    + twin.getGroups()
                                    + ")");
            if (relu) {
                y = ctx.let("torch.relu(" + y + ")");
            }
            BuiltinLowerings.record(
                    ctx, path, mode, KERNEL_FLOAT_FALLBACK, wp, ip, false, float32, float32);
            return TsValue.plain(y);
        }
        long[] q = QuantMath.quantize(wf, shape, wp);
        byte[] qb = new byte[q.length];
        for (int k = 0; k < q.length; k++) {
            qb[k] = (byte) q[k];
        }
        float[] biasValues = bias == null ? null : bias.getArray().toFloatArray();
        return emitInt8(
                ctx,
                mode,
                qb,
                shape,
                wp,
                biasValues,
                new long[] {stride.get(0), stride.get(1)},
                new long[] {padding.get(0), padding.get(1)},
                new long[] {dilation.get(0), dilation.get(1)},
                twin.getGroups(),
                ip,
                outParams,
                relu,
                input);
    }

    /**
     * Lowers a {@link QuantizedConv2d} that an in-place conversion left in the model: the same
     * {@code quantized::conv2d} / {@code conv2d_relu} over its own INT8 weights, input quantized
     * with its input parameters (clamped to their spec's range, as in place), output requantized to
     * its output parameters (the next static layer's input parameters) and handed on as {@code
     * quint8}.
     */
    static TsValue lowerConverted(QuantizedConv2d conv, TsValue input, LoweringContext ctx) {
        return emitInt8(
                ctx,
                conv.getMode(),
                conv.getWeightInt8(),
                conv.getWeightShape(),
                conv.getWeightParams(),
                conv.getBias(),
                conv.getStride(),
                conv.getPadding(),
                conv.getDilation(),
                conv.getGroups(),
                conv.getInputParams(),
                conv.getOutputParams(),
                conv.isReluFused(),
                input);
    }

    /**
     * Writes one INT8 convolution: a {@code QConv2d} submodule holding the INT8 weights (packed for
     * the loading engine when the archive loads), the input quantization (or the {@code quint8}
     * input as it is when its parameters are the layer's), the kernel requantizing to {@code
     * outParams} (clamped to their spec's range) and the manifest entry.
     */
    private static TsValue emitInt8(
            LoweringContext ctx,
            QMode mode,
            byte[] qb,
            long[] shape,
            QParams wp,
            float[] biasValues,
            long[] stride,
            long[] padding,
            long[] dilation,
            int groups,
            QParams ip,
            QParams outParams,
            boolean relu,
            TsValue input) {
        int out = (int) shape[0];
        double lo = (ip.spec().qmin() - ip.zeroPoint()) * (double) ip.scale();
        double hi = (ip.spec().qmax() - ip.zeroPoint()) * (double) ip.scale();
        boolean clamp = ip.spec().qmin() != 0 || ip.spec().qmax() != 255;
        float[] scales = new float[out];
        byte[] zps = new byte[out];
        for (int o = 0; o < out; o++) {
            int k = wp.size() == 1 ? 0 : o;
            scales[o] = wp.scaleAt(k);
            zps[o] = (byte) wp.zeroPointAt(k);
        }
        TensorData biasData =
                biasValues == null ? null : TensorData.ofFloats(biasValues, (long) out);
        String m =
                ctx.session()
                        .submodule(
                                new Pickler.ScriptObject(
                                        TorchScriptExporter.QUALIFIED,
                                        "QConv2d",
                                        Pickler.Tuple.of(
                                                TensorData.ofInt8(qb, shape),
                                                TensorData.ofFloats(scales, (long) out),
                                                TensorData.ofInt8(zps, (long) out),
                                                biasData,
                                                false,
                                                stride[0],
                                                stride[1],
                                                padding[0],
                                                padding[1],
                                                dilation[0],
                                                dilation[1],
                                                (long) groups,
                                                (double) ip.scale(),
                                                ip.zeroPoint(),
                                                lo,
                                                hi,
                                                clamp)));
        ctx.session().convLayers++;
        String yq = BuiltinLowerings.int8Call(ctx, m, input, ip, relu, outParams, true);
        BuiltinLowerings.record(
                ctx,
                ctx.path(),
                mode,
                relu ? "quantized::conv2d_relu" : "quantized::conv2d",
                wp,
                ip,
                true,
                (long) qb.length + 5L * out,
                4L * qb.length);
        return new TsValue(yq, true, outParams.scale(), outParams.zeroPoint());
    }

    private static String list(Shape s) {
        StringBuilder sb = new StringBuilder("[");
        for (int k = 0; k < s.dimension(); k++) {
            if (k > 0) {
                sb.append(", ");
            }
            sb.append(s.get(k));
        }
        return sb.append(']').toString();
    }
}
