package org.djlquant.backend.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.util.Pair;
import java.lang.reflect.Field;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.ObservedBertSelfAttention;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.QuantTwin;
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

/** The lowerings {@link LoweringRegistry#standard()} starts with. */
final class BuiltinLowerings {

    private static final int FLOAT = 1; // TensorProto.DataType.FLOAT

    private BuiltinLowerings() {}

    static void registerAll(LoweringRegistry r) {
        r.register(Linear.class, BuiltinLowerings::linear);
        r.register(SequentialBlock.class, BuiltinLowerings::sequential);
        r.register(LambdaBlock.class, BuiltinLowerings::lambda);
        r.register(LayerNorm.class, BuiltinLowerings::layerNorm);
        r.register(BertModelBlock.class, BuiltinLowerings::bertModel);
        r.register(BertEmbeddings.class, BuiltinLowerings::bertEmbeddings);
        r.register(BertEncoder.class, BuiltinLowerings::bertEncoder);
        r.register(BertLayer.class, BuiltinLowerings::bertLayer);
        r.register(BertSelfAttention.class, BuiltinLowerings::bertSelfAttention);
        r.register(ObservedBertSelfAttention.class, BuiltinLowerings::observedBertSelfAttention);
    }

    // ---------------------------------------------------------------- paths

    /** The clean path of a child: its DJL name without the ordinal, or the ordinal if unnamed. */
    static String childPath(Block parent, Block child, String parentPath) {
        Map<String, String> seg = new LinkedHashMap<>();
        Map<String, Integer> counts = new HashMap<>();
        String found = null;
        for (Pair<String, Block> c : parent.getChildren()) {
            String key = c.getKey();
            int i = 0;
            while (i < key.length() && Character.isDigit(key.charAt(i))) {
                i++;
            }
            String digits = key.substring(0, i);
            String name = key.substring(i);
            Block b = c.getValue();
            Class<?> k = b instanceof QuantTwin t ? t.original().getClass() : b.getClass();
            String s = name.isEmpty() || name.equals(k.getSimpleName()) ? digits : name;
            seg.put(key, s.isEmpty() ? key : s);
            counts.merge(seg.get(key), 1, Integer::sum);
            if (b == child) {
                found = key;
            }
        }
        if (found == null) {
            throw new IllegalStateException(
                    "block at " + parentPath + " does not list its child " + child + " as a child");
        }
        String s = seg.get(found);
        if (counts.get(s) > 1) {
            s = found;
        }
        return parentPath.isEmpty() ? s : parentPath + "." + s;
    }

    private static String single(List<String> inputs, String path, Block block) {
        if (inputs.size() != 1) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "block was given " + inputs.size() + " inputs",
                    List.of("exactly 1 input"));
        }
        return inputs.get(0);
    }

    // ---------------------------------------------------------------- containers

    private static List<String> sequential(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        List<String> x = inputs;
        for (Pair<String, Block> c : block.getChildren()) {
            x = ctx.lower(c.getValue(), childPath(block, c.getValue(), path), x);
        }
        return x;
    }

    private static List<String> lambda(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        String name = ((LambdaBlock) block).getName();
        String x = single(inputs, path, block);
        switch (name) {
            case "ReLU":
                ctx.record(path, "Relu");
                return List.of(ctx.op("Relu", path, List.of(x)));
            case "GELU":
                ctx.record(path, "GELU (erf)");
                return List.of(gelu(ctx, path, x));
            default:
                throw new UnsupportedExportException(
                        path,
                        block.getClass().getName(),
                        "LambdaBlock named '" + name + "' has no ONNX lowering",
                        List.of("LambdaBlock named ReLU", "LambdaBlock named GELU"));
        }
    }

    /** Exact GELU: {@code x · ½ (1 + erf(x / √2))}. */
    private static String gelu(LoweringContext ctx, String path, String x) {
        String scaled =
                ctx.op(
                        "Div",
                        path + ".gelu",
                        List.of(
                                x,
                                ctx.floats(path + ".sqrt2", new float[] {(float) Math.sqrt(2)})));
        String erf = ctx.op("Erf", path + ".gelu", List.of(scaled));
        String one = ctx.floats(path + ".one", new float[] {1f});
        String plus = ctx.op("Add", path + ".gelu", List.of(erf, one));
        String times = ctx.op("Mul", path + ".gelu", List.of(x, plus));
        return ctx.op(
                "Mul",
                path + ".gelu",
                List.of(times, ctx.floats(path + ".half", new float[] {0.5f})));
    }

    // ---------------------------------------------------------------- LayerNorm

    private static List<String> layerNorm(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        String x = single(inputs, path, block);
        float epsilon = (Float) read(block, LayerNorm.class, "epsilon");
        int[] axis = (int[]) read(block, LayerNorm.class, "axis");
        if (axis == null || axis.length != 1) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "LayerNorm over axes "
                            + (axis == null ? "null" : java.util.Arrays.toString(axis)),
                    List.of("one axis, the last of the input"));
        }
        Parameter gamma = block.getParameters().get("gamma");
        Parameter beta = block.getParameters().get("beta");
        float[] g = gamma == null ? null : gamma.getArray().toFloatArray();
        float[] b = beta == null ? null : beta.getArray().toFloatArray();
        int h = g != null ? g.length : b != null ? b.length : -1;
        if (h < 0) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "LayerNorm without scale and centre parameters",
                    List.of("LayerNorm with gamma or beta"));
        }
        if (g == null) {
            g = new float[h];
            java.util.Arrays.fill(g, 1f);
        }
        if (b == null) {
            b = new float[h];
        }
        String gn = ctx.floats(path + ".gamma", g, h);
        String bn = ctx.floats(path + ".beta", b, h);
        if (ctx.options().layerNorm() == ExportOptions.LayerNormForm.FUSED) {
            ctx.record(path, "LayerNormalization");
            return List.of(
                    ctx.op(
                            "LayerNormalization",
                            path,
                            List.of(x, gn, bn),
                            "axis",
                            (long) axis[0],
                            "epsilon",
                            epsilon));
        }
        ctx.record(path, "LayerNorm decomposed");
        long[] axes = {axis[0]};
        String mean = ctx.op("ReduceMean", path, List.of(x), "axes", axes, "keepdims", 1L);
        String d = ctx.op("Sub", path, List.of(x, mean));
        String sq = ctx.op("Mul", path, List.of(d, d));
        String var = ctx.op("ReduceMean", path, List.of(sq), "axes", axes, "keepdims", 1L);
        String eps = ctx.floats(path + ".epsilon", new float[] {epsilon});
        String std = ctx.op("Sqrt", path, List.of(ctx.op("Add", path, List.of(var, eps))));
        String norm = ctx.op("Div", path, List.of(d, std));
        return List.of(ctx.op("Add", path, List.of(ctx.op("Mul", path, List.of(norm, gn)), bn)));
    }

    private static Object read(Object target, Class<?> owner, String field) {
        try {
            Field f = owner.getDeclaredField(field);
            f.setAccessible(true);
            return f.get(target);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException(
                    "cannot read " + owner.getSimpleName() + "." + field + " of this DJL version",
                    e);
        }
    }

    // ---------------------------------------------------------------- Linear

    private static List<String> linear(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        String x = single(inputs, path, block);
        Block original = block instanceof QuantTwin t ? t.original() : block;
        Parameter weight = original.getParameters().get("weight");
        Parameter bias = original.getParameters().get("bias");
        if (weight == null || !weight.isInitialized()) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "Linear weight is not initialized",
                    List.of("initialized blocks"));
        }
        NDArray wa = weight.getArray();
        Shape ws = wa.getShape();
        long out = ws.get(0);
        long in = ws.get(1);
        float[] w = wa.toFloatArray();
        float[] bf = bias == null ? null : bias.getArray().toFloatArray();
        // the float bias initializer is written only by the lowerings that use it (static INT8
        // writes an INT32 bias instead)
        java.util.function.Supplier<String> floatBias =
                () -> bf == null ? null : ctx.floats(path + ".bias", bf, out);
        String cls = block.getClass().getName();
        if (!(block instanceof QuantTwin twin)) {
            ctx.record(path, "float MatMul");
            String wt = ctx.floats(path + ".weight_t", transpose(w, out, in), in, out);
            return List.of(
                    addBias(ctx, path, ctx.op("MatMul", path, List.of(x, wt)), floatBias.get()));
        }
        TwinControl control = twin.control();
        QConfig config = control.config();
        Map<String, QParams> params;
        try {
            params = control.computeParams();
        } catch (IllegalStateException e) {
            throw new UncalibratedLayerException(path, TwinControl.INPUT, "export", e);
        }
        QuantizedWeight qw =
                QuantizedWeight.of(path, cls, params.get(TwinControl.WEIGHT), w, out, in);
        switch (config.mode()) {
            case STATIC:
            case QAT:
                if (config.learnableScale()) {
                    throw new UnsupportedExportException(
                            path,
                            cls,
                            "QAT with learnt (LSQ) scales is not exported",
                            List.of(
                                    "STATIC",
                                    "QAT without learnable scales",
                                    "DYNAMIC",
                                    "WEIGHT_ONLY INT8"));
                }
                return List.of(
                        staticLinear(
                                ctx,
                                path,
                                cls,
                                x,
                                qw,
                                bf,
                                params,
                                twin instanceof ObservedLinear l && l.isReluFused()));
            case DYNAMIC:
                return List.of(
                        dynamicLinear(
                                ctx, path, cls, x, qw, floatBias.get(), config.activationSpec()));
            case WEIGHT_ONLY:
                ctx.record(path, "weight-only INT8 (DequantizeLinear weight, float MatMul)");
                return List.of(
                        addBias(
                                ctx,
                                path,
                                ctx.op("MatMul", path, List.of(x, qw.dequantized(ctx))),
                                floatBias.get()));
            default:
                throw new UnsupportedExportException(
                        path,
                        cls,
                        "mode " + config.mode(),
                        List.of(java.util.Arrays.toString(QMode.values())));
        }
    }

    private static String addBias(LoweringContext ctx, String path, String y, String bias) {
        return bias == null ? y : ctx.op("Add", path, List.of(y, bias));
    }

    private static String staticLinear(
            LoweringContext ctx,
            String path,
            String cls,
            String x,
            QuantizedWeight qw,
            float[] floatBias,
            Map<String, QParams> params,
            boolean reluFused) {
        QParams in = params.get(TwinControl.INPUT);
        if (in == null) {
            throw new UncalibratedLayerException(
                    path,
                    TwinControl.INPUT,
                    "export",
                    new IllegalStateException("the layer has no input observer"));
        }
        String xd = qdq(ctx, path + ".input", path, cls, x, in);
        String y = ctx.op("MatMul", path, List.of(xd, qw.dequantized(ctx)));
        if (floatBias != null) {
            y = ctx.op("Add", path, List.of(y, int32Bias(ctx, path, floatBias, in, qw)));
        }
        if (reluFused) {
            // the twin computes the ReLU that follows it and observes its output (the ReLU block
            // that follows is then an identity on it)
            y = ctx.op("Relu", path, List.of(y));
        }
        QParams outParams = params.get(TwinControl.OUTPUT);
        if (outParams != null) {
            y = qdq(ctx, path + ".output", path, cls, y, outParams);
        }
        ctx.record(
                path,
                "static INT8 QDQ (input "
                        + in.spec().dtype()
                        + " s="
                        + in.scale()
                        + " z="
                        + in.zeroPoint()
                        + ", weight "
                        + qw.describe()
                        + (outParams != null ? ", output QDQ" : "")
                        + ")");
        return y;
    }

    /**
     * The bias as ONNX Runtime's QDQ fusions expect it: INT32 with scale {@code s_x · s_w[j]} and
     * zero point 0, through a DequantizeLinear (a float bias after a 2-D MatMul is fused into a
     * float Gemm first, which then keeps the whole layer in float). Rounding the bias to that grid
     * moves each output by at most {@code s_x · s_w[j] / 2}.
     */
    static String int32Bias(
            LoweringContext ctx, String path, float[] b, QParams in, QuantizedWeight qw) {
        float[] scales = biasScales(in, qw.params(), b.length);
        int[] q = new int[b.length];
        for (int j = 0; j < b.length; j++) {
            q[j] = (int) Math.rint(b[j] / scales[j]);
        }
        String qb = ctx.ints(path + ".bias_quantized", q, b.length);
        String sb = ctx.floats(path + ".bias_scale", scales, b.length);
        String zb = ctx.ints(path + ".bias_zero_point", new int[b.length], b.length);
        return ctx.op("DequantizeLinear", path + ".bias", List.of(qb, sb, zb), "axis", 0L);
    }

    /** Bias scales {@code s_x · s_w[j]} in float32, one per output feature. */
    static float[] biasScales(QParams in, QParams weight, int out) {
        float[] s = new float[out];
        for (int j = 0; j < out; j++) {
            s[j] = in.scale() * weight.scaleAt(weight.size() == 1 ? 0 : j);
        }
        return s;
    }

    /** QuantizeLinear + DequantizeLinear of an activation with fixed per-tensor parameters. */
    private static String qdq(
            LoweringContext ctx, String hint, String path, String cls, String x, QParams p) {
        QSpec spec = p.spec();
        boolean signed = spec.dtype() == QDataType.INT8;
        if (p.size() != 1) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "activation parameters with " + p.size() + " scales",
                    List.of("per-tensor activation parameters"));
        }
        if ((spec.dtype() != QDataType.UINT8 && !signed) || spec.reduceRange()) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "activation spec "
                            + spec
                            + " cannot be written as ONNX QuantizeLinear"
                            + " (it saturates to the full 8-bit range)",
                    List.of(
                            "UINT8 or INT8 without reduceRange, e.g."
                                    + " QConfig.staticInt8(BackendTarget.ONNXRUNTIME)"));
        }
        String s = ctx.floats(hint + "_scale", new float[] {p.scale()});
        String z = ctx.bytes(hint + "_zero_point", new byte[] {(byte) p.zeroPoint()}, signed);
        String q = ctx.op("QuantizeLinear", hint, List.of(x, s, z));
        return ctx.op("DequantizeLinear", hint, List.of(q, s, z));
    }

    private static String dynamicLinear(
            LoweringContext ctx,
            String path,
            String cls,
            String x,
            QuantizedWeight qw,
            String bias,
            QSpec act) {
        if (act.dtype() != QDataType.UINT8
                || act.scheme() != QScheme.AFFINE
                || act.reduceRange()
                || act.granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new UnsupportedExportException(
                    path,
                    cls,
                    "dynamic activation spec "
                            + act
                            + " differs from ONNX DynamicQuantizeLinear (UINT8 affine, full range,"
                            + " per tensor)",
                    List.of("QConfig.dynamicInt8(BackendTarget.ONNXRUNTIME)"));
        }
        if (ctx.options().dynamicOperator()
                == ExportOptions.DynamicOperator.DYNAMIC_QUANTIZE_MATMUL) {
            ctx.record(
                    path,
                    "dynamic INT8 com.microsoft.DynamicQuantizeMatMul, weight " + qw.describe());
            return ctx.node(
                            LoweringContext.MICROSOFT_DOMAIN,
                            "DynamicQuantizeMatMul",
                            path,
                            List.of(
                                    x,
                                    qw.quantized(ctx),
                                    qw.scales(ctx),
                                    qw.zeroPoints(ctx),
                                    bias == null ? "" : bias),
                            1)
                    .get(0);
        }
        ctx.record(
                path,
                "dynamic INT8 DynamicQuantizeLinear + MatMulInteger, weight " + qw.describe());
        List<String> dq = ctx.node("", "DynamicQuantizeLinear", path, List.of(x), 3);
        String acc =
                ctx.op(
                        "MatMulInteger",
                        path,
                        List.of(dq.get(0), qw.quantized(ctx), dq.get(2), qw.zeroPoints(ctx)));
        String accf = ctx.op("Cast", path, List.of(acc), "to", (long) FLOAT);
        String scale = ctx.op("Mul", path, List.of(dq.get(1), qw.scales(ctx)));
        return addBias(ctx, path, ctx.op("Mul", path, List.of(accf, scale)), bias);
    }

    static float[] transpose(float[] w, long rows, long cols) {
        float[] t = new float[w.length];
        int r = (int) rows;
        int c = (int) cols;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) {
                t[j * r + i] = w[i * c + j];
            }
        }
        return t;
    }

    /** An INT8 weight quantized in Java with our math, stored transposed [in, out]. */
    static final class QuantizedWeight {
        private final String path;
        private final QParams params;
        private final byte[] transposed;
        private final long in;
        private final long out;
        private String quantizedName;
        private String scaleName;
        private String zeroName;

        private QuantizedWeight(String path, QParams params, byte[] transposed, long in, long out) {
            this.path = path;
            this.params = params;
            this.transposed = transposed;
            this.in = in;
            this.out = out;
        }

        static QuantizedWeight of(
                String path, String cls, QParams p, float[] w, long out, long in) {
            QSpec spec = p.spec();
            Granularity g = spec.granularity();
            boolean perTensor = g.kind() == Granularity.Kind.PER_TENSOR;
            boolean perRow = g.kind() == Granularity.Kind.PER_CHANNEL && g.axis() == 0;
            if (spec.dtype() != QDataType.INT8 || !(perTensor || perRow)) {
                throw new UnsupportedExportException(
                        path,
                        cls,
                        "weight spec "
                                + spec
                                + " is not exported (ONNX Runtime's MatMulNBits for INT4 per-group"
                                + " weights is not written by this exporter)",
                        List.of("INT8 per tensor", "INT8 per channel on axis 0 (output features)"));
            }
            long[] q = QuantMath.quantize(w, new long[] {out, in}, p);
            byte[] t = new byte[q.length];
            int r = (int) out;
            int c = (int) in;
            for (int i = 0; i < r; i++) {
                for (int j = 0; j < c; j++) {
                    t[j * r + i] = (byte) q[i * c + j];
                }
            }
            return new QuantizedWeight(path, p, t, in, out);
        }

        QParams params() {
            return params;
        }

        String describe() {
            return params.spec().dtype()
                    + " "
                    + params.spec().scheme()
                    + (params.size() == 1
                            ? " per tensor"
                            : " per channel (DequantizeLinear axis 1)");
        }

        private long[] paramDims() {
            return params.size() == 1 ? new long[0] : new long[] {out};
        }

        String quantized(LoweringContext ctx) {
            if (quantizedName == null) {
                quantizedName = ctx.bytes(path + ".weight_quantized", transposed, true, in, out);
            }
            return quantizedName;
        }

        String scales(LoweringContext ctx) {
            if (scaleName == null) {
                scaleName = ctx.floats(path + ".weight_scale", params.scales(), paramDims());
            }
            return scaleName;
        }

        String zeroPoints(LoweringContext ctx) {
            if (zeroName == null) {
                long[] z = params.zeroPoints();
                byte[] zb = new byte[z.length];
                for (int i = 0; i < z.length; i++) {
                    zb[i] = (byte) z[i];
                }
                zeroName = ctx.bytes(path + ".weight_zero_point", zb, true, paramDims());
            }
            return zeroName;
        }

        String dequantized(LoweringContext ctx) {
            if (params.size() == 1) {
                return ctx.op(
                        "DequantizeLinear",
                        path + ".weight",
                        List.of(quantized(ctx), scales(ctx), zeroPoints(ctx)));
            }
            return ctx.op(
                    "DequantizeLinear",
                    path + ".weight",
                    List.of(quantized(ctx), scales(ctx), zeroPoints(ctx)),
                    "axis",
                    1L);
        }
    }

    // ---------------------------------------------------------------- BERT

    private static List<String> bertModel(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        BertModelBlock bert = (BertModelBlock) block;
        if (inputs.size() != 3) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "BertModelBlock was given " + inputs.size() + " inputs",
                    List.of("input_ids, attention_mask, token_type_ids"));
        }
        String mask = ctx.op("Cast", path + "mask", List.of(inputs.get(1)), "to", (long) FLOAT);
        String one = ctx.floats(path + "mask.one", new float[] {1f});
        String inverted = ctx.op("Sub", path + "mask", List.of(one, mask));
        String scaled =
                ctx.op(
                        "Mul",
                        path + "mask",
                        List.of(
                                inverted,
                                ctx.floats(
                                        path + "mask.value",
                                        new float[] {bert.getConfig().maskValue()})));
        String additive =
                ctx.op(
                        "Unsqueeze",
                        path + "mask",
                        List.of(scaled, ctx.longs(path + "mask.axes", new long[] {1, 2}, 2)));
        ctx.record(path.isEmpty() ? "(mask)" : path + ".mask", "additive mask [B,1,1,T]");
        Block emb = bert.getEmbeddings();
        String e =
                ctx.lower(emb, childPath(block, emb, path), List.of(inputs.get(0), inputs.get(2)))
                        .get(0);
        Block enc = bert.getEncoder();
        return ctx.lower(enc, childPath(block, enc, path), List.of(e, additive));
    }

    private static List<String> bertEmbeddings(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        BertEmbeddings emb = (BertEmbeddings) block;
        String ids = inputs.get(0);
        String types = inputs.get(1);
        NDArray table = emb.getWord().getArray();
        long vocab = table.getShape().get(0);
        long hidden = table.getShape().get(1);
        String words;
        if (ctx.options().embeddings() == ExportOptions.EmbeddingPrecision.INT8_PER_ROW) {
            byte[] qb = new byte[Math.toIntExact(vocab * hidden)];
            QParams p =
                    QuantMath.quantizeRowsInt8(
                            table.toFloatArray(),
                            Math.toIntExact(vocab),
                            Math.toIntExact(hidden),
                            qb);
            String qt = ctx.bytes(path + ".word_quantized", qb, true, vocab, hidden);
            String st = ctx.floats(path + ".word_scale", p.scales(), vocab);
            String rows = ctx.op("Gather", path + ".word", List.of(qt, ids));
            String rowsF = ctx.op("Cast", path + ".word", List.of(rows), "to", (long) FLOAT);
            String s = ctx.op("Gather", path + ".word", List.of(st, ids));
            String s3 =
                    ctx.op(
                            "Unsqueeze",
                            path + ".word",
                            List.of(s, ctx.longs(path + ".word.axes", new long[] {-1}, 1)));
            words = ctx.op("Mul", path + ".word", List.of(rowsF, s3));
            ctx.record(path, "Gather; word table INT8 symmetric per row (weight-only)");
        } else {
            String wt = ctx.floats(path + ".word", table.toFloatArray(), vocab, hidden);
            words = ctx.op("Gather", path + ".word", List.of(wt, ids));
            ctx.record(path, "Gather; word table float");
        }
        NDArray typeTable = emb.getTokenType().getArray();
        String tt =
                ctx.floats(
                        path + ".tokenType",
                        typeTable.toFloatArray(),
                        typeTable.getShape().getShape());
        String typed = ctx.op("Gather", path + ".tokenType", List.of(tt, types));
        NDArray posTable = emb.getPosition().getArray();
        String pt =
                ctx.floats(
                        path + ".position",
                        posTable.toFloatArray(),
                        posTable.getShape().getShape());
        String shape = ctx.op("Shape", path + ".position", List.of(ids));
        String length =
                ctx.op(
                        "Slice",
                        path + ".position",
                        List.of(
                                shape,
                                ctx.longs(path + ".position.one", new long[] {1}, 1),
                                ctx.longs(path + ".position.two", new long[] {2}, 1)));
        String positions =
                ctx.op(
                        "Slice",
                        path + ".position",
                        List.of(
                                pt,
                                ctx.longs(path + ".position.zero", new long[] {0}, 1),
                                length,
                                ctx.longs(path + ".position.axis", new long[] {0}, 1)));
        String sum =
                ctx.op("Add", path, List.of(ctx.op("Add", path, List.of(words, typed)), positions));
        Block norm = emb.getNorm();
        return ctx.lower(norm, childPath(block, norm, path), List.of(sum));
    }

    private static List<String> bertEncoder(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        String x = inputs.get(0);
        String mask = inputs.get(1);
        for (Block layer : ((BertEncoder) block).getLayers()) {
            x = ctx.lower(layer, childPath(block, layer, path), List.of(x, mask)).get(0);
        }
        return List.of(x);
    }

    private static List<String> bertLayer(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        BertLayer layer = (BertLayer) block;
        String x = inputs.get(0);
        Block att = layer.getAttention();
        String attended = ctx.lower(att, childPath(block, att, path), inputs).get(0);
        String r1 = ctx.op("Add", path, List.of(attended, x));
        Block n1 = layer.getAttentionNorm();
        String a = ctx.lowerOne(n1, childPath(block, n1, path), r1);
        Block inter = layer.getIntermediate();
        String h = ctx.lowerOne(inter, childPath(block, inter, path), a);
        String g = gelu(ctx, path, h);
        Block out = layer.getOutput();
        String f = ctx.lowerOne(out, childPath(block, out, path), g);
        String r2 = ctx.op("Add", path, List.of(f, a));
        Block n2 = layer.getOutputNorm();
        return List.of(ctx.lowerOne(n2, childPath(block, n2, path), r2));
    }

    private static List<String> bertSelfAttention(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        return attention(ctx, (BertSelfAttention) block, null, path, inputs);
    }

    /**
     * The observed twin of our BERT attention: the same graph as {@link BertSelfAttention}, plus a
     * QuantizeLinear/DequantizeLinear of the attention probabilities P with the twin's {@code
     * probs} parameters, as its fake-quant forward rounds P.
     */
    private static List<String> observedBertSelfAttention(
            LoweringContext ctx, Block block, String path, List<String> inputs) {
        ObservedBertSelfAttention twin = (ObservedBertSelfAttention) block;
        if (twin.control().config().learnableScale()) {
            throw new UnsupportedExportException(
                    path,
                    block.getClass().getName(),
                    "QAT with learnt (LSQ) scales is not exported",
                    List.of("STATIC", "QAT without learnable scales"));
        }
        QParams probs;
        try {
            probs = twin.control().computeParams().get(TwinControl.PROBS);
        } catch (IllegalStateException e) {
            throw new UncalibratedLayerException(path, TwinControl.PROBS, "export", e);
        }
        return attention(ctx, (BertSelfAttention) twin.original(), probs, path, inputs);
    }

    /**
     * BERT self-attention: {@code output(concat_heads(softmax(Q Kᵀ / √d + m) V))}; with {@code
     * probs}, P goes through QuantizeLinear/DequantizeLinear with those parameters.
     */
    private static List<String> attention(
            LoweringContext ctx,
            BertSelfAttention att,
            QParams probParams,
            String path,
            List<String> inputs) {
        String x = inputs.get(0);
        String mask = inputs.get(1);
        Block query = att.getQuery();
        Block original = query instanceof QuantTwin t ? t.original() : query;
        long hidden = original.getParameters().get("weight").getShape().get(0);
        long heads = att.getHeadCount();
        long headSize = hidden / heads;
        String split = ctx.longs(path + ".split", new long[] {0, 0, heads, headSize}, 4);
        String q = heads(ctx, att, query, path, x, split, new long[] {0, 2, 1, 3});
        String k = heads(ctx, att, att.getKey(), path, x, split, new long[] {0, 2, 3, 1});
        String v = heads(ctx, att, att.getValue(), path, x, split, new long[] {0, 2, 1, 3});
        String scores = ctx.op("MatMul", path + ".scores", List.of(q, k));
        String scaled =
                ctx.op(
                        "Div",
                        path + ".scores",
                        List.of(
                                scores,
                                ctx.floats(
                                        path + ".sqrt_head",
                                        new float[] {(float) Math.sqrt(headSize)})));
        String masked = ctx.op("Add", path + ".scores", List.of(scaled, mask));
        String probs = ctx.op("Softmax", path + ".probs", List.of(masked), "axis", -1L);
        if (probParams != null) {
            probs = qdq(ctx, path + ".probs", path, att.getClass().getName(), probs, probParams);
        }
        String context = ctx.op("MatMul", path + ".context", List.of(probs, v));
        String merged =
                ctx.op(
                        "Transpose",
                        path + ".context",
                        List.of(context),
                        "perm",
                        new long[] {0, 2, 1, 3});
        String flat =
                ctx.op(
                        "Reshape",
                        path + ".context",
                        List.of(merged, ctx.longs(path + ".merge", new long[] {0, 0, hidden}, 3)));
        ctx.record(
                path,
                (probParams == null
                                ? "float attention: MatMul, Softmax, MatMul ("
                                : "attention: MatMul, Softmax, QDQ of P (s="
                                        + probParams.scale()
                                        + " z="
                                        + probParams.zeroPoint()
                                        + "), MatMul (")
                        + heads
                        + " heads)");
        Block out = att.getOutput();
        return List.of(ctx.lowerOne(out, childPath(att, out, path), flat));
    }

    private static String heads(
            LoweringContext ctx,
            Block att,
            Block projection,
            String path,
            String x,
            String split,
            long[] perm) {
        String p = ctx.lowerOne(projection, childPath(att, projection, path), x);
        String r = ctx.op("Reshape", path, List.of(p, split));
        return ctx.op("Transpose", path, List.of(r), "perm", perm);
    }
}
