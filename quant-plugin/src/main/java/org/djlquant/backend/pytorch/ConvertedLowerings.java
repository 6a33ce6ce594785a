package org.djlquant.backend.pytorch;

import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import java.util.List;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.config.QMode;
import org.djlquant.nn.QuantizedBertSelfAttention;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.djlquant.scheme.QParams;

/**
 * Lowerings of the blocks an in-place conversion ({@code org.djlquant.nn.Converter}) leaves in a
 * model, so that a converted model exports to the archive that computes what it computes in place:
 *
 * <ul>
 *   <li>{@link QuantizedLinear} DYNAMIC: {@code quantized::linear_dynamic} over the layer's own
 *       INT8 weights, with its activation range reduction ({@code quantized::linear_relu_dynamic}
 *       when the converter fused the following ReLU into it);
 *   <li>{@link QuantizedLinear} STATIC: the input quantized with the layer's input parameters (no
 *       clamp, as in place), {@code quantized::linear} or {@code quantized::linear_relu}
 *       requantizing to its output parameters; the {@code quint8} output is handed on, and a
 *       consumer dequantizes it (as in place) or, if it is a static layer whose input parameters
 *       are exactly these, takes it as it is (dequantizing and requantizing on the same grid gives
 *       the same integers);
 *   <li>{@link QuantizedBertSelfAttention}: the hidden states quantized once for Q, K and V when
 *       their input parameters agree (as in place), float scores, softmax and {@code P·V} (P is not
 *       quantized in place either), then the output projection;
 *   <li>DJL's {@code LambdaBlock} named {@code ReLU} ({@code Activation.reluBlock()}) or {@code
 *       GELU}, and the identity the converter leaves where it fused a ReLU ({@code "ReLU fused into
 *       <path>"}); any other {@code LambdaBlock} is refused.
 * </ul>
 *
 * <p>The manifest gets the same per-layer entry as for a prepared export (mode, kernel, weight
 * parameters, input parameters, whether the output stays quantized, stored and FP32 weight bytes).
 */
final class ConvertedLowerings {

    static final String FUSED_RELU_PREFIX = "ReLU fused into ";

    private ConvertedLowerings() {}

    static void registerAll() {
        Lowerings.register(
                QuantizedLinear.class,
                (b, in, ctx) -> List.of(quantizedLinear(b, single(b, in, ctx), ctx)));
        Lowerings.register(
                QuantizedBertSelfAttention.class, ConvertedLowerings::quantizedAttention);
        Lowerings.register(LambdaBlock.class, ConvertedLowerings::lambda);
    }

    private static TsValue single(Block b, List<TsValue> inputs, LoweringContext ctx) {
        if (inputs.size() != 1) {
            throw new UnsupportedExportException(
                    ctx.path(),
                    b.getClass().getName(),
                    "receives " + inputs.size() + " inputs, this block takes exactly 1");
        }
        return inputs.get(0);
    }

    /** Lowers a converted linear layer; see the class documentation. */
    static TsValue quantizedLinear(QuantizedLinear layer, TsValue input, LoweringContext ctx) {
        String path = ctx.path();
        if (layer.isClosed()) {
            throw new UnsupportedExportException(
                    path,
                    layer.getClass().getName(),
                    "its packed weights were freed (the model was closed); export before closing");
        }
        long[] shape = layer.getWeightShape();
        int out = (int) shape[0];
        QParams wp = layer.getWeightParams();
        float[] scales = new float[out];
        byte[] zps = new byte[out];
        for (int o = 0; o < out; o++) {
            int k = wp.size() == 1 ? 0 : o;
            scales[o] = wp.scaleAt(k);
            zps[o] = (byte) wp.zeroPointAt(k);
        }
        byte[] q = layer.getWeightInt8();
        float[] bias = layer.getBias();
        TensorData biasData = bias == null ? null : TensorData.ofFloats(bias, out);
        long stored = (long) q.length + 5L * out;
        long float32 = 4L * q.length;
        if (layer.getMode() == QMode.DYNAMIC) {
            String m =
                    ctx.session()
                            .submodule(
                                    BuiltinLowerings.qlinear(
                                            q,
                                            shape,
                                            scales,
                                            zps,
                                            biasData,
                                            0,
                                            0,
                                            0,
                                            0,
                                            false,
                                            layer.isReduceRange()));
            boolean relu = layer.isReluFused();
            BuiltinLowerings.record(
                    ctx,
                    path,
                    QMode.DYNAMIC,
                    relu ? "quantized::linear_relu_dynamic" : "quantized::linear_dynamic",
                    wp,
                    null,
                    false,
                    stored,
                    float32);
            if (relu) {
                // the ReLU the converter fused: applied in fbgemm's requantization, as in place
                return TsValue.plain(
                        ctx.let(
                                "ops.quantized.linear_relu_dynamic("
                                        + ctx.asFloat(input)
                                        + ", "
                                        + m
                                        + "._packed, "
                                        + (layer.isReduceRange() ? "True" : "False")
                                        + ")"));
            }
            return TsValue.plain(ctx.let(m + ".dynamic(" + ctx.asFloat(input) + ")"));
        }
        QParams ip = layer.getInputParams();
        QParams op = layer.getOutputParams();
        String m =
                ctx.session()
                        .submodule(
                                BuiltinLowerings.qlinear(
                                        q,
                                        shape,
                                        scales,
                                        zps,
                                        biasData,
                                        ip.scale(),
                                        ip.zeroPoint(),
                                        0,
                                        0,
                                        false,
                                        false));
        boolean relu = layer.isReluFused();
        // no output clamp: the in-place layer does not clamp its output either
        String yq = BuiltinLowerings.int8Call(ctx, m, input, ip, relu, op, false);
        BuiltinLowerings.record(
                ctx,
                path,
                QMode.STATIC,
                relu ? "quantized::linear_relu" : "quantized::linear",
                wp,
                ip,
                true,
                stored,
                float32);
        return new TsValue(yq, true, op.scale(), op.zeroPoint());
    }

    private static List<TsValue> quantizedAttention(
            QuantizedBertSelfAttention block, List<TsValue> inputs, LoweringContext ctx) {
        if (inputs.size() != 2) {
            throw new UnsupportedExportException(
                    ctx.path(),
                    block.getClass().getName(),
                    "receives " + inputs.size() + " inputs, takes 2: hidden states, additive mask");
        }
        BertSelfAttention original = block.getOriginal();
        TsValue projectionInput = null;
        QuantizedLinear[] p = {block.query(), block.key(), block.value()};
        if (block.getMode() == QMode.STATIC && sameInput(p)) {
            QParams in = p[0].getInputParams();
            String x = ctx.asFloat(inputs.get(0));
            projectionInput =
                    new TsValue(
                            ctx.let(
                                    "torch.quantize_per_tensor("
                                            + x
                                            + ", "
                                            + LoweringContext.literal(in.scale())
                                            + ", "
                                            + in.zeroPoint()
                                            + ", 13)"),
                            true,
                            in.scale(),
                            in.zeroPoint());
        }
        return BuiltinLowerings.attention(original, null, projectionInput, inputs, ctx);
    }

    private static boolean sameInput(QuantizedLinear[] p) {
        QParams a = p[0].getInputParams();
        for (QuantizedLinear l : p) {
            QParams b = l.getInputParams();
            if (a == null
                    || b == null
                    || b.scale() != a.scale()
                    || b.zeroPoint() != a.zeroPoint()) {
                return false;
            }
        }
        return true;
    }

    private static List<TsValue> lambda(
            LambdaBlock block, List<TsValue> inputs, LoweringContext ctx) {
        String name = block.getName();
        if (name != null && name.startsWith(FUSED_RELU_PREFIX)) {
            // the ReLU ran inside the preceding layer's requantization
            return inputs;
        }
        if ("ReLU".equals(name) || "GELU".equals(name)) {
            String x = ctx.asFloat(single(block, inputs, ctx));
            String f = "ReLU".equals(name) ? "torch.relu" : "torch.gelu";
            return List.of(TsValue.plain(ctx.let(f + "(" + x + ")")));
        }
        throw new UnsupportedExportException(
                ctx.path(),
                block.getClass().getName(),
                "a LambdaBlock named '"
                        + name
                        + "' runs Java code the exporter cannot see; allowed: LambdaBlocks named"
                        + " ReLU or GELU (Activation.reluBlock(), Activation.geluBlock()), the"
                        + " identity the converter leaves for a fused ReLU, or the blocks of"
                        + " ExportableBlocks");
    }
}
