package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.ObservedBertSelfAttention;
import org.djlquant.nn.ObservedConv2d;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.UncalibratedLayerException;
import org.djlquant.nn.transformer.BertEmbeddings;
import org.djlquant.nn.transformer.BertEncoder;
import org.djlquant.nn.transformer.BertLayer;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/** The lowerings registered by default (see {@link Lowerings}). */
final class BuiltinLowerings {

    private BuiltinLowerings() {}

    static void registerAll() {
        Lowerings.register(SequentialBlock.class, BuiltinLowerings::sequential);
        Lowerings.register(Linear.class, BuiltinLowerings::linear);
        Lowerings.register(
                ObservedLinear.class,
                (b, in, ctx) -> List.of(observedLinear(b, in.get(0), ctx, null, false)));
        Lowerings.register(LayerNorm.class, BuiltinLowerings::layerNorm);
        Lowerings.register(Dropout.class, (b, in, ctx) -> in);
        Lowerings.register(Conv2d.class, BuiltinLowerings::conv2d);
        Lowerings.register(ExportableBlocks.Op.class, BuiltinLowerings::op);
        Lowerings.register(ExportableBlocks.Join.class, BuiltinLowerings::join);
        Lowerings.register(BertModelBlock.class, BuiltinLowerings::bertModel);
        Lowerings.register(BertEmbeddings.class, BuiltinLowerings::bertEmbeddings);
        Lowerings.register(BertEncoder.class, BuiltinLowerings::bertEncoder);
        Lowerings.register(BertLayer.class, BuiltinLowerings::bertLayer);
        Lowerings.register(BertSelfAttention.class, BuiltinLowerings::bertAttention);
        Lowerings.register(
                ObservedBertSelfAttention.class, BuiltinLowerings::observedBertAttention);
        WeightOnlyLowering.register();
        ConvLowering.register();
    }

    // ---- composition

    private static List<TsValue> sequential(
            SequentialBlock block, List<TsValue> inputs, LoweringContext ctx) {
        List<Block> children = new ArrayList<>();
        block.getChildren().forEach(p -> children.add(p.getValue()));
        Map<Block, String> segments = ctx.childSegments();
        List<TsValue> current = inputs;
        for (int i = 0; i < children.size(); i++) {
            Block child = children.get(i);
            if (child instanceof ObservedConv2d && current.size() == 1) {
                ConvLowering.Step step =
                        ConvLowering.inSequence(children, i, current.get(0), ctx, segments);
                current = List.of(step.value());
                i = step.last();
                continue;
            }
            if (isStatic(child)
                    && current.size() == 1
                    && !((ObservedLinear) child)
                            .control()
                            .observers()
                            .containsKey(TwinControl.OUTPUT)) {
                int j = i + 1;
                boolean relu = false;
                if (j < children.size() && isRelu(children.get(j))) {
                    relu = true;
                    j++;
                }
                if (j < children.size() && isStatic(children.get(j))) {
                    ObservedLinear next = (ObservedLinear) children.get(j);
                    QParams nextInput = inputParams(next, childPath(ctx, segments, next));
                    LoweringContext childCtx =
                            new LoweringContext(
                                    ctx.session(), child, childPath(ctx, segments, child));
                    current =
                            List.of(
                                    observedLinear(
                                            (ObservedLinear) child,
                                            current.get(0),
                                            childCtx,
                                            nextInput,
                                            relu));
                    i = j - 1;
                    continue;
                }
            }
            current = ctx.lowerChild(child, current);
            if (child instanceof ObservedLinear t
                    && t.isReluFused()
                    && i + 1 < children.size()
                    && isReluLambda(children.get(i + 1))) {
                // the twin computed the ReLU (quantized::linear_relu); the ReLU block that stays
                // in the prepared model is an identity on its output
                i++;
            }
        }
        return current;
    }

    private static boolean isReluLambda(Block b) {
        return b instanceof LambdaBlock l && "ReLU".equals(l.getName());
    }

    private static String childPath(LoweringContext ctx, Map<Block, String> segments, Block c) {
        return ctx.path().isEmpty() ? segments.get(c) : ctx.path() + "." + segments.get(c);
    }

    private static boolean isStatic(Block b) {
        if (!(b instanceof ObservedLinear t)) {
            return false;
        }
        QMode mode = t.control().config().mode();
        return mode == QMode.STATIC || mode == QMode.QAT;
    }

    private static boolean isRelu(Block b) {
        return b instanceof ExportableBlocks.Op op && op.kind.equals("relu");
    }

    private static List<TsValue> op(
            ExportableBlocks.Op block, List<TsValue> inputs, LoweringContext ctx) {
        TsValue in = single(inputs, ctx);
        long[] s = block.settings;
        if (in.quantized()
                && (block.kind.equals("maxPool2d")
                        || block.kind.equals("flatten")
                        || block.kind.equals("identity"))) {
            // libtorch runs these on a per-tensor quint8 tensor (quantized max pooling, views):
            // the values are exactly those of the float op on the dequantized tensor
            String e =
                    block.kind.equals("identity")
                            ? in.expression()
                            : ctx.let(
                                    block.kind.equals("flatten")
                                            ? "torch.flatten(" + in.expression() + ", 1)"
                                            : maxPool2d(in.expression(), s));
            return List.of(new TsValue(e, true, in.scale(), in.zeroPoint()));
        }
        String x = ctx.asFloat(in);
        String y;
        switch (block.kind) {
            case "relu":
                y = "torch.relu(" + x + ")";
                break;
            case "gelu":
                y = "torch.gelu(" + x + ")";
                break;
            case "flatten":
                y = "torch.flatten(" + x + ", 1)";
                break;
            case "identity":
                return List.of(TsValue.plain(x));
            case "maxPool2d":
                y = maxPool2d(x, s);
                break;
            case "avgPool2d":
                y =
                        "torch.avg_pool2d("
                                + x
                                + ", ["
                                + s[0]
                                + ", "
                                + s[0]
                                + "], ["
                                + s[1]
                                + ", "
                                + s[1]
                                + "], ["
                                + s[2]
                                + ", "
                                + s[2]
                                + "], False, True)";
                break;
            case "globalAvgPool2d":
                y = "torch.mean(" + x + ", [2, 3])";
                break;
            default:
                throw new UnsupportedExportException(
                        ctx.path(), block.getClass().getName(), "unknown op " + block.kind);
        }
        return List.of(TsValue.plain(ctx.let(y)));
    }

    private static List<TsValue> join(
            ExportableBlocks.Join block, List<TsValue> inputs, LoweringContext ctx) {
        List<String> heads = new ArrayList<>();
        for (var child : block.getChildren()) {
            heads.add(ctx.asFloat(ctx.lowerChild(child.getValue(), inputs).get(0)));
        }
        String y;
        if (block.concat) {
            y = "torch.cat([" + String.join(", ", heads) + "], " + block.axis + ")";
        } else {
            y = String.join(" + ", heads);
        }
        return List.of(TsValue.plain(ctx.let(y)));
    }

    private static String maxPool2d(String x, long[] s) {
        return "torch.max_pool2d("
                + x
                + ", ["
                + s[0]
                + ", "
                + s[0]
                + "], ["
                + s[1]
                + ", "
                + s[1]
                + "], ["
                + s[2]
                + ", "
                + s[2]
                + "], [1, 1], False)";
    }

    static TsValue single(List<TsValue> inputs, LoweringContext ctx) {
        if (inputs.size() != 1) {
            throw new UnsupportedExportException(
                    ctx.path(),
                    "?",
                    "receives " + inputs.size() + " inputs, this block takes exactly 1");
        }
        return inputs.get(0);
    }

    // ---- float layers

    private static List<TsValue> linear(Linear block, List<TsValue> inputs, LoweringContext ctx) {
        String x = ctx.asFloat(single(inputs, ctx));
        Parameter w = block.getDirectParameters().get("weight");
        Parameter b = (Parameter) read(block, Linear.class, "bias");
        String bias = b == null ? "None" : ctx.parameter(b);
        return List.of(
                TsValue.plain(
                        ctx.let(
                                "torch.linear("
                                        + x
                                        + ", "
                                        + ctx.parameter(w)
                                        + ", "
                                        + bias
                                        + ")")));
    }

    private static List<TsValue> layerNorm(
            LayerNorm block, List<TsValue> inputs, LoweringContext ctx) {
        String x = ctx.asFloat(single(inputs, ctx));
        float eps = (Float) read(block, LayerNorm.class, "epsilon");
        int[] axes = (int[]) read(block, LayerNorm.class, "axis");
        boolean center = (Boolean) read(block, LayerNorm.class, "center");
        boolean scale = (Boolean) read(block, LayerNorm.class, "scale");
        Shape normalized = (Shape) read(block, LayerNorm.class, "normalizedShape");
        Shape[] in = block.getInputShapes();
        int rank = in.length > 0 ? in[0].dimension() : -1;
        for (int k = 0; k < axes.length; k++) {
            int a = axes[k] < 0 ? axes[k] + rank : axes[k];
            if (rank < 0 || a != rank - axes.length + k) {
                throw new UnsupportedExportException(
                        ctx.path(),
                        block.getClass().getName(),
                        "normalizes axes "
                                + java.util.Arrays.toString(axes)
                                + " of rank "
                                + rank
                                + " input; only trailing axes can be exported");
            }
        }
        List<String> dims = new ArrayList<>();
        for (long d : normalized.getShape()) {
            dims.add(Long.toString(d));
        }
        String gamma =
                scale ? ctx.parameter((Parameter) read(block, LayerNorm.class, "gamma")) : "None";
        String beta =
                center ? ctx.parameter((Parameter) read(block, LayerNorm.class, "beta")) : "None";
        return List.of(
                TsValue.plain(
                        ctx.let(
                                "torch.layer_norm("
                                        + x
                                        + ", ["
                                        + String.join(", ", dims)
                                        + "], "
                                        + gamma
                                        + ", "
                                        + beta
                                        + ", "
                                        + LoweringContext.literal(eps)
                                        + ")")));
    }

    private static List<TsValue> conv2d(Conv2d block, List<TsValue> inputs, LoweringContext ctx) {
        String x = ctx.asFloat(single(inputs, ctx));
        String w = ctx.parameter(block.getDirectParameters().get("weight"));
        String b =
                block.isIncludeBias()
                        ? ctx.parameter(block.getDirectParameters().get("bias"))
                        : "None";
        return List.of(
                TsValue.plain(
                        ctx.let(
                                "torch.conv2d("
                                        + x
                                        + ", "
                                        + w
                                        + ", "
                                        + b
                                        + ", "
                                        + list(block.getStride())
                                        + ", "
                                        + list(block.getPadding())
                                        + ", "
                                        + list(block.getDilation())
                                        + ", "
                                        + block.getGroups()
                                        + ")")));
    }

    private static String list(Shape s) {
        List<String> dims = new ArrayList<>();
        for (long d : s.getShape()) {
            dims.add(Long.toString(d));
        }
        return "[" + String.join(", ", dims) + "]";
    }

    // ---- BERT

    private static List<TsValue> bertModel(
            BertModelBlock block, List<TsValue> inputs, LoweringContext ctx) {
        if (inputs.size() != 3) {
            throw new UnsupportedExportException(
                    ctx.path(),
                    block.getClass().getName(),
                    "receives "
                            + inputs.size()
                            + " inputs, takes 3: input_ids, attention_mask,"
                            + " token_type_ids");
        }
        String ids = inputs.get(0).expression();
        String mask = inputs.get(1).expression();
        String additive =
                ctx.let(
                        "torch.reshape(torch.mul(torch.add(torch.neg(torch.to("
                                + mask
                                + ", 6)), 1.), "
                                + LoweringContext.literal(block.getConfig().maskValue())
                                + "), ["
                                + ids
                                + ".size(0), 1, 1, "
                                + ids
                                + ".size(1)])");
        List<TsValue> embedded =
                ctx.lowerChild(block.getEmbeddings(), List.of(inputs.get(0), inputs.get(2)));
        return ctx.lowerChild(
                block.getEncoder(), List.of(embedded.get(0), TsValue.plain(additive)));
    }

    private static List<TsValue> bertEmbeddings(
            BertEmbeddings block, List<TsValue> inputs, LoweringContext ctx) {
        String ids = inputs.get(0).expression();
        String types = inputs.get(1).expression();
        String word;
        String positions;
        String type;
        if (ctx.session().int8Embeddings) {
            word =
                    int8Rows(
                            block.getWord().getArray(),
                            ctx,
                            "word",
                            "aten::embedding",
                            t -> "torch.embedding(" + t + ", " + ids + ")");
            positions =
                    int8Rows(
                            block.getPosition().getArray(),
                            ctx,
                            "position",
                            "aten::slice",
                            t -> "torch.slice(" + t + ", 0, 0, " + ids + ".size(1))");
            type = ctx.parameter(block.getTokenType());
        } else {
            // attribute order word, token type, position: archives keep their bytes
            word = "torch.embedding(" + ctx.parameter(block.getWord()) + ", " + ids + ")";
            type = ctx.parameter(block.getTokenType());
            positions =
                    "torch.slice("
                            + ctx.parameter(block.getPosition())
                            + ", 0, 0, "
                            + ids
                            + ".size(1))";
        }
        String sum =
                ctx.let(
                        "torch.add(torch.add("
                                + word
                                + ", torch.embedding("
                                + type
                                + ", "
                                + types
                                + ")), "
                                + positions
                                + ")");
        return ctx.lowerChild(block.getNorm(), List.of(TsValue.plain(sum)));
    }

    /**
     * Stores a float table INT8 per row ({@link QuantMath#quantizeRowsInt8}) and returns the
     * expression that selects rows of it (the same selection applied to the INT8 table and to its
     * column of scales) and dequantizes them. Records the table in the manifest as a weight-only
     * INT8 layer at {@code <block path>.<name>} (symmetric, one scale per row).
     */
    private static String int8Rows(
            NDArray table,
            LoweringContext ctx,
            String name,
            String gather,
            java.util.function.UnaryOperator<String> select) {
        long[] shape = table.getShape().getShape();
        int rows = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[1]);
        byte[] q = new byte[rows * cols];
        float[] scales = QuantMath.quantizeRowsInt8(table.toFloatArray(), rows, cols, q).scales();
        double smin = Double.MAX_VALUE;
        double smax = 0;
        for (float s : scales) {
            smin = Math.min(smin, s);
            smax = Math.max(smax, s);
        }
        ctx.session()
                .layers
                .add(
                        new QuantizationManifest.Layer(
                                ctx.path().isEmpty() ? name : ctx.path() + "." + name,
                                QMode.WEIGHT_ONLY,
                                gather + " (int8 rows) + aten::mul (row scales)",
                                QDataType.INT8,
                                QScheme.SYMMETRIC,
                                Granularity.perChannel(0).toString(),
                                smin,
                                smax,
                                0,
                                0,
                                null,
                                null,
                                false,
                                (long) rows * cols + 4L * rows,
                                4L * rows * cols));
        try (NDManager m = table.getManager().newSubManager()) {
            String qt = ctx.tensor(m.create(q, new Shape(rows, cols)));
            String st = ctx.tensor(m.create(scales, new Shape(rows, 1)));
            return ctx.let(
                    "torch.mul(torch.to(" + select.apply(qt) + ", 6), " + select.apply(st) + ")");
        }
    }

    private static List<TsValue> bertEncoder(
            BertEncoder block, List<TsValue> inputs, LoweringContext ctx) {
        TsValue x = inputs.get(0);
        TsValue mask = inputs.get(1);
        for (Block layer : block.getLayers()) {
            x = ctx.lowerChild(layer, List.of(x, mask)).get(0);
        }
        return List.of(x);
    }

    private static List<TsValue> bertLayer(
            BertLayer block, List<TsValue> inputs, LoweringContext ctx) {
        String x = ctx.asFloat(inputs.get(0));
        String attended = ctx.asFloat(ctx.lowerChild(block.getAttention(), inputs).get(0));
        TsValue a =
                ctx.lowerChild(
                                block.getAttentionNorm(),
                                List.of(
                                        TsValue.plain(
                                                ctx.let("torch.add(" + attended + ", " + x + ")"))))
                        .get(0);
        String h = ctx.asFloat(ctx.lowerChild(block.getIntermediate(), List.of(a)).get(0));
        String g = ctx.let("torch.gelu(" + h + ")");
        String f = ctx.asFloat(ctx.lowerChild(block.getOutput(), List.of(TsValue.plain(g))).get(0));
        return ctx.lowerChild(
                block.getOutputNorm(),
                List.of(TsValue.plain(ctx.let("torch.add(" + f + ", " + ctx.asFloat(a) + ")"))));
    }

    private static List<TsValue> bertAttention(
            BertSelfAttention block, List<TsValue> inputs, LoweringContext ctx) {
        return attention(block, null, null, inputs, ctx);
    }

    private static List<TsValue> observedBertAttention(
            ObservedBertSelfAttention twin, List<TsValue> inputs, LoweringContext ctx) {
        QParams probs;
        try {
            probs = twin.control().computeParams().get(TwinControl.PROBS);
        } catch (IllegalStateException e) {
            throw new UncalibratedLayerException(ctx.path(), TwinControl.PROBS, "export", e);
        }
        BertSelfAttention original = (BertSelfAttention) twin.original();
        return attention(
                original, probs, sharedProjectionInput(original, inputs, ctx), inputs, ctx);
    }

    /**
     * The hidden states quantized once for Q, K and V when all three are static twins with the same
     * calibrated input parameters over the full 8-bit range (each would otherwise quantize the same
     * tensor to the same values); {@code null} otherwise.
     */
    private static TsValue sharedProjectionInput(
            BertSelfAttention block, List<TsValue> inputs, LoweringContext ctx) {
        Block[] projections = {block.getQuery(), block.getKey(), block.getValue()};
        QParams first = null;
        for (Block p : projections) {
            if (!isStatic(p)) {
                return null;
            }
            ObservedLinear twin = (ObservedLinear) p;
            QParams ip;
            try {
                ip = twin.control().computeParams().get(TwinControl.INPUT);
            } catch (IllegalStateException e) {
                return null;
            }
            if (ip == null
                    || ip.spec().dtype() != QDataType.UINT8
                    || ip.spec().qmin() != 0
                    || ip.spec().qmax() != 255
                    || (first != null
                            && (ip.scale() != first.scale()
                                    || ip.zeroPoint() != first.zeroPoint()))) {
                return null;
            }
            first = first == null ? ip : first;
        }
        String x = ctx.asFloat(inputs.get(0));
        return new TsValue(
                ctx.let(
                        "torch.quantize_per_tensor("
                                + x
                                + ", "
                                + LoweringContext.literal(first.scale())
                                + ", "
                                + first.zeroPoint()
                                + ", 13)"),
                true,
                first.scale(),
                first.zeroPoint());
    }

    /**
     * BERT attention; with {@code probs}, P is fake-quantized as the observed twin does. With
     * {@code projectionInput}, the Q, K and V projections receive that value (e.g. the hidden
     * states quantized once) instead of the float hidden states.
     */
    static List<TsValue> attention(
            BertSelfAttention block,
            QParams probParams,
            TsValue projectionInput,
            List<TsValue> inputs,
            LoweringContext ctx) {
        String x = ctx.asFloat(inputs.get(0));
        TsValue px = projectionInput == null ? TsValue.plain(x) : projectionInput;
        String mask = ctx.asFloat(inputs.get(1));
        int heads = block.getHeadCount();
        long hidden = block.getHiddenSize();
        long headSize = hidden / heads;
        String b = ctx.let(x + ".size(0)");
        String t = ctx.let(x + ".size(1)");
        String[] qkv = new String[3];
        Block[] projections = {block.getQuery(), block.getKey(), block.getValue()};
        for (int i = 0; i < 3; i++) {
            String p = ctx.asFloat(ctx.lowerChild(projections[i], List.of(px)).get(0));
            qkv[i] =
                    ctx.let(
                            "torch.transpose(torch.reshape("
                                    + p
                                    + ", ["
                                    + b
                                    + ", "
                                    + t
                                    + ", "
                                    + heads
                                    + ", "
                                    + headSize
                                    + "]), 1, 2)");
        }
        if (ctx.session().attention == AttentionKernel.FUSED_SDPA) {
            // one fused kernel; its default scale is 1/sqrt(head size), as the division below
            String fused =
                    ctx.let(
                            "torch.reshape(torch.transpose(torch.scaled_dot_product_attention("
                                    + qkv[0]
                                    + ", "
                                    + qkv[1]
                                    + ", "
                                    + qkv[2]
                                    + ", "
                                    + mask
                                    + "), 1, 2), ["
                                    + b
                                    + ", "
                                    + t
                                    + ", "
                                    + hidden
                                    + "])");
            return ctx.lowerChild(block.getOutput(), List.of(TsValue.plain(fused)));
        }
        String scores =
                ctx.let(
                        "torch.div(torch.matmul("
                                + qkv[0]
                                + ", torch.transpose("
                                + qkv[1]
                                + ", 2, 3)), "
                                + LoweringContext.literal((float) Math.sqrt(headSize))
                                + ")");
        String probs = ctx.let("torch.softmax(torch.add(" + scores + ", " + mask + "), -1)");
        if (probParams != null) {
            probs = fakeQuant(ctx, probs, probParams);
        }
        String context =
                ctx.let(
                        "torch.reshape(torch.transpose(torch.matmul("
                                + probs
                                + ", "
                                + qkv[2]
                                + "), 1, 2), ["
                                + b
                                + ", "
                                + t
                                + ", "
                                + hidden
                                + "])");
        return ctx.lowerChild(block.getOutput(), List.of(TsValue.plain(context)));
    }

    // ---- quantized linear

    private static QParams inputParams(ObservedLinear twin, String path) {
        return calibratedParams(twin.control(), path).get(TwinControl.INPUT);
    }

    /**
     * A static twin's calibrated parameters by role; an observer that never saw data is an {@link
     * UncalibratedLayerException} naming {@code path} and the input role.
     */
    static Map<String, QParams> calibratedParams(TwinControl control, String path) {
        try {
            return control.computeParams();
        } catch (IllegalStateException e) {
            throw new UncalibratedLayerException(path, TwinControl.INPUT, "export", e);
        }
    }

    /**
     * Lowers an observed linear layer. With {@code outParams} (static layers only) the output is
     * requantized to them ({@code quint8}, ReLU fused if asked) and stays quantized.
     */
    static TsValue observedLinear(
            ObservedLinear twin,
            TsValue input,
            LoweringContext ctx,
            QParams requantizeTo,
            boolean fuseRelu) {
        QParams outParams = requantizeTo;
        boolean relu = fuseRelu;
        String path = ctx.path();
        String cls = twin.getClass().getName();
        TwinControl control = twin.control();
        QConfig config = control.config();
        if (config.learnableScale()) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "learnt (LSQ) scales cannot be exported yet; allowed: observer scales");
        }
        Map<String, QParams> params = calibratedParams(control, path);
        Parameter weight = twin.getDirectParameters().get("weight");
        Parameter bias = (Parameter) read(twin, Linear.class, "bias");
        NDArray w = weight.getArray();
        long[] shape = w.getShape().getShape();
        QParams wp = params.get(TwinControl.WEIGHT);
        float[] wf = w.toFloatArray();
        QMode mode = config.mode();
        if (mode == QMode.WEIGHT_ONLY) {
            float[] fq = QuantMath.fakeQuantize(wf, shape, wp);
            String x = ctx.asFloat(input);
            String ws = ctx.session().attribute("Tensor", TensorData.ofFloats(fq, shape));
            String bs = bias == null ? "None" : ctx.parameter(bias);
            record(
                    ctx,
                    path,
                    mode,
                    "aten::linear (fake-quantized weights)",
                    wp,
                    null,
                    false,
                    4L * fq.length,
                    4L * fq.length);
            return TsValue.plain(ctx.let("torch.linear(" + x + ", " + ws + ", " + bs + ")"));
        }
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
                            + "; INT8 kernels need INT8 weights per tensor or per channel on"
                            + " axis 0");
        }
        int out = (int) shape[0];
        long[] q = QuantMath.quantize(wf, shape, wp);
        byte[] qb = new byte[q.length];
        for (int i = 0; i < q.length; i++) {
            qb[i] = (byte) q[i];
        }
        // scales are float32 values and zero points fit int8: stored so, widened at load
        float[] scales = new float[out];
        byte[] zps = new byte[out];
        for (int o = 0; o < out; o++) {
            int k = wp.size() == 1 ? 0 : o;
            scales[o] = wp.scaleAt(k);
            zps[o] = (byte) wp.zeroPointAt(k);
        }
        long stored = (long) qb.length + 5L * out;
        long float32 = 4L * qb.length;
        TensorData biasData =
                bias == null ? null : TensorData.ofFloats(bias.getArray().toFloatArray(), out);
        QSpec as = config.activationSpec();
        if (as.dtype() != QDataType.UINT8) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "activation spec was " + as + "; libtorch's INT8 linear kernels take UINT8");
        }
        if (mode == QMode.DYNAMIC) {
            String m =
                    ctx.session()
                            .submodule(
                                    qlinear(
                                            qb,
                                            shape,
                                            scales,
                                            zps,
                                            biasData,
                                            0,
                                            0,
                                            0,
                                            0,
                                            false,
                                            as.reduceRange()));
            record(ctx, path, mode, "quantized::linear_dynamic", wp, null, false, stored, float32);
            return TsValue.plain(ctx.let(m + ".dynamic(" + ctx.asFloat(input) + ")"));
        }
        QParams ip = params.get(TwinControl.INPUT);
        double lo = (ip.spec().qmin() - ip.zeroPoint()) * (double) ip.scale();
        double hi = (ip.spec().qmax() - ip.zeroPoint()) * (double) ip.scale();
        boolean clamp = ip.spec().qmin() != 0 || ip.spec().qmax() != 255;
        String m =
                ctx.session()
                        .submodule(
                                qlinear(
                                        qb,
                                        shape,
                                        scales,
                                        zps,
                                        biasData,
                                        ip.scale(),
                                        ip.zeroPoint(),
                                        lo,
                                        hi,
                                        clamp,
                                        false));
        QParams ownOutput = params.get(TwinControl.OUTPUT);
        if (outParams == null && ownOutput != null) {
            // the twin fake-quantizes its output (after the ReLU it computes, if fused): run the
            // INT8 kernel with that requantization and hand on the quint8 tensor (consumers
            // dequantize, or take it as it is if their input parameters are these)
            outParams = ownOutput;
            relu = twin.isReluFused();
        }
        if (outParams != null) {
            String yq = int8Call(ctx, m, input, ip, relu, outParams, true);
            record(
                    ctx,
                    path,
                    mode,
                    relu ? "quantized::linear_relu" : "quantized::linear",
                    wp,
                    ip,
                    true,
                    stored,
                    float32);
            return new TsValue(yq, true, outParams.scale(), outParams.zeroPoint());
        }
        if (ctx.engine() == QEngine.QNNPACK) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "a static layer whose output goes to float ops needs a float-output INT8"
                            + " kernel (fbgemm and onednn have one); engine was "
                            + ctx.engine()
                            + ", allowed: X86, FBGEMM, ONEDNN (or quantize this layer DYNAMIC)");
        }
        String y = ctx.let(m + ".fp32(" + ctx.asFloat(input) + ")");
        record(
                ctx,
                path,
                mode,
                "quantized::linear_with_input_q_dq_qweight_dq_output_fp32",
                wp,
                ip,
                false,
                stored,
                float32);
        return TsValue.plain(y);
    }

    /**
     * Emits an INT8 kernel call of a submodule with {@code quant} / {@code q} methods ({@code
     * QLinear}, {@code QConv2d}): the input quantized with {@code ip} (or the {@code quint8} input
     * as it is when its parameters are {@code ip}), {@code m.q(xq, relu, scale, zp)} requantizing
     * to {@code out}, then, with {@code clampOutput}, clamped to the real range of {@code out}'s
     * integer levels when that is not the full 8-bit range (as the simulation clamps a 7-bit grid).
     *
     * @return the expression of the {@code quint8} result
     */
    static String int8Call(
            LoweringContext ctx,
            String m,
            TsValue input,
            QParams ip,
            boolean relu,
            QParams out,
            boolean clampOutput) {
        boolean inputMatches =
                input.quantized()
                        && input.scale() == ip.scale()
                        && input.zeroPoint() == ip.zeroPoint();
        String xq =
                inputMatches
                        ? input.expression()
                        : ctx.let(m + ".quant(" + ctx.asFloat(input) + ")");
        String yq =
                ctx.let(
                        m
                                + ".q("
                                + xq
                                + ", "
                                + (relu ? "True" : "False")
                                + ", "
                                + LoweringContext.literal(out.scale())
                                + ", "
                                + out.zeroPoint()
                                + ")");
        QSpec os = out.spec();
        if (clampOutput && (os.qmin() != 0 || os.qmax() != 255)) {
            double lo = (os.qmin() - out.zeroPoint()) * (double) out.scale();
            double hi = (os.qmax() - out.zeroPoint()) * (double) out.scale();
            yq =
                    ctx.let(
                            "torch.clamp("
                                    + yq
                                    + ", "
                                    + LoweringContext.literal(lo)
                                    + ", "
                                    + LoweringContext.literal(hi)
                                    + ")");
        }
        return yq;
    }

    private static String fakeQuant(LoweringContext ctx, String x, QParams p) {
        QSpec spec = p.spec();
        int dtype = -1;
        if (spec.qmin() == 0 && spec.qmax() == 255) {
            dtype = 13; // quint8
        } else if (spec.qmin() == -128 && spec.qmax() == 127) {
            dtype = 12; // qint8
        }
        if (dtype >= 0) {
            // quantize + dequantize over the dtype's whole range computes the same values as the
            // fake-quant op (rint(x * (1 / scale)) + zero point, clamped) in a fraction of its
            // time:
            // the fake-quant op also writes the mask its backward would need
            return ctx.let(
                    "torch.dequantize(torch.quantize_per_tensor("
                            + x
                            + ", "
                            + LoweringContext.literal(p.scale())
                            + ", "
                            + p.zeroPoint()
                            + ", "
                            + dtype
                            + "))");
        }
        return ctx.let(
                "torch.fake_quantize_per_tensor_affine("
                        + x
                        + ", "
                        + LoweringContext.literal(p.scale())
                        + ", "
                        + p.zeroPoint()
                        + ", "
                        + p.spec().qmin()
                        + ", "
                        + p.spec().qmax()
                        + ")");
    }

    static Pickler.ScriptObject qlinear(
            byte[] q,
            long[] shape,
            float[] scales,
            byte[] zps,
            TensorData bias,
            double inScale,
            long inZp,
            double lo,
            double hi,
            boolean clamp,
            boolean reduceRange) {
        return new Pickler.ScriptObject(
                TorchScriptExporter.QUALIFIED,
                "QLinear",
                Pickler.Tuple.of(
                        TensorData.ofInt8(q, shape),
                        TensorData.ofFloats(scales, shape[0]),
                        TensorData.ofInt8(zps, shape[0]),
                        bias,
                        false,
                        inScale,
                        inZp,
                        lo,
                        hi,
                        clamp,
                        reduceRange));
    }

    static void record(
            LoweringContext ctx,
            String path,
            QMode mode,
            String kernel,
            QParams wp,
            QParams ip,
            boolean outputQuantized,
            long storedBytes,
            long float32Bytes) {
        double smin = Double.MAX_VALUE;
        double smax = 0;
        long zmin = Long.MAX_VALUE;
        long zmax = Long.MIN_VALUE;
        for (int i = 0; i < wp.size(); i++) {
            smin = Math.min(smin, wp.scaleAt(i));
            smax = Math.max(smax, wp.scaleAt(i));
            zmin = Math.min(zmin, wp.zeroPointAt(i));
            zmax = Math.max(zmax, wp.zeroPointAt(i));
        }
        QSpec s = wp.spec();
        ctx.session()
                .layers
                .add(
                        new QuantizationManifest.Layer(
                                path,
                                mode,
                                kernel,
                                s.dtype(),
                                s.scheme(),
                                s.granularity().toString(),
                                smin,
                                smax,
                                zmin,
                                zmax,
                                ip == null ? null : (double) ip.scale(),
                                ip == null ? null : ip.zeroPoint(),
                                outputQuantized,
                                storedBytes,
                                float32Bytes));
    }

    static Object read(Object target, Class<?> owner, String field) {
        try {
            Field f = owner.getDeclaredField(field);
            f.setAccessible(true);
            return f.get(target);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(
                    "DJL's " + owner.getName() + " has no field '" + field + "' (DJL version?)", e);
        }
    }
}
