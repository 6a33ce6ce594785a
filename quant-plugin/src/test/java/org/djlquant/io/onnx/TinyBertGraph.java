package org.djlquant.io.onnx;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Writes small BERT encoders as ONNX graphs with random weights, in the node patterns the PyTorch
 * exporter produces (decomposed layer norm, erf GELU, Div-scaled scores) or the newer fused ones
 * (LayerNormalization, Mul-scaled scores, opset 17).
 */
final class TinyBertGraph {

    static final int VOCAB = 40;
    static final int HIDDEN = 8;
    static final int HEADS = 2;
    static final int INTERMEDIATE = 16;
    static final int POSITIONS = 16;

    private final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder().setName("tiny");
    private final Random random = new Random(7);
    private final boolean fused;
    private final boolean tanhGelu;
    private final boolean floatDataWeights;
    private final int opset;
    private final float maskValue;
    private int counter;

    private TinyBertGraph(boolean fused, boolean tanhGelu, boolean floatDataWeights) {
        this.fused = fused;
        this.tanhGelu = tanhGelu;
        this.floatDataWeights = floatDataWeights;
        this.opset = fused ? 17 : 11;
        this.maskValue = fused ? -Float.MAX_VALUE : -10000f;
    }

    /** One layer, decomposed norms, opset 11, weights as raw little-endian bytes. */
    static OnnxMl.ModelProto exporterStyle() {
        return new TinyBertGraph(false, false, false).build(1);
    }

    /** Two layers, LayerNormalization nodes, opset 17, weights in float_data. */
    static OnnxMl.ModelProto fusedStyle() {
        return new TinyBertGraph(true, false, true).build(2);
    }

    /** Like {@link #exporterStyle()} but with the tanh approximation of GELU. */
    static OnnxMl.ModelProto withTanhGelu() {
        return new TinyBertGraph(false, true, false).build(1);
    }

    static float expectedMaskValue(OnnxMl.ModelProto model) {
        return model.getOpsetImport(0).getVersion() >= 17 ? -Float.MAX_VALUE : -10000f;
    }

    private OnnxMl.ModelProto build(int layers) {
        for (String name : new String[] {"input_ids", "attention_mask", "token_type_ids"}) {
            graph.addInput(valueInfo(name, OnnxMl.TensorProto.DataType.INT64, "batch", "seq"));
        }
        graph.addOutput(
                valueInfo(
                        "last_hidden_state",
                        OnnxMl.TensorProto.DataType.FLOAT,
                        "batch",
                        "seq",
                        HIDDEN));

        String mask =
                node("Unsqueeze", unsqueezeInputs("attention_mask", 1), 1, ints("axes", 1))[0];
        mask = node("Unsqueeze", unsqueezeInputs(mask, 2), 1, ints("axes", 2))[0];
        mask = node("Cast", new String[] {mask}, 1, intAttr("to", 1))[0];
        mask = node("Sub", new String[] {scalar(1f), mask}, 1)[0];
        mask = node("Mul", new String[] {mask, scalar(maskValue)}, 1)[0];

        long[] arange = new long[POSITIONS];
        for (int i = 0; i < POSITIONS; i++) {
            arange[i] = i;
        }
        String positionIds = longInit("embeddings.position_ids", new long[] {1, POSITIONS}, arange);
        String shape = node("Shape", new String[] {"input_ids"}, 1)[0];
        String seq = node("Gather", new String[] {shape, longScalar(1)}, 1, intAttr("axis", 0))[0];
        String end = node("Unsqueeze", unsqueezeInputs(seq, 0), 1, ints("axes", 0))[0];
        String positions =
                node(
                        "Slice",
                        new String[] {
                            positionIds, longVector(0), end, longVector(1), longVector(1)
                        },
                        1)[0];

        String word = floatInit("embeddings.word_embeddings.weight", VOCAB, HIDDEN);
        String position = floatInit("embeddings.position_embeddings.weight", POSITIONS, HIDDEN);
        String type = floatInit("embeddings.token_type_embeddings.weight", 2, HIDDEN);
        String w = node("Gather", new String[] {word, "input_ids"}, 1)[0];
        String t = node("Gather", new String[] {type, "token_type_ids"}, 1)[0];
        String sum = node("Add", new String[] {w, t}, 1)[0];
        String p = node("Gather", new String[] {position, positions}, 1)[0];
        sum = node("Add", new String[] {sum, p}, 1)[0];
        String x = layerNorm(sum, "embeddings.LayerNorm");

        int headSize = HIDDEN / HEADS;
        for (int l = 0; l < layers; l++) {
            String prefix = "encoder.layer." + l + ".";
            String q = linear(x, prefix + "attention.self.query", HIDDEN, HIDDEN);
            String k = linear(x, prefix + "attention.self.key", HIDDEN, HIDDEN);
            String v = linear(x, prefix + "attention.self.value", HIDDEN, HIDDEN);
            String split = longVector(0, 0, HEADS, headSize);
            q = node("Reshape", new String[] {q, split}, 1)[0];
            q = node("Transpose", new String[] {q}, 1, ints("perm", 0, 2, 1, 3))[0];
            k = node("Reshape", new String[] {k, split}, 1)[0];
            k = node("Transpose", new String[] {k}, 1, ints("perm", 0, 2, 3, 1))[0];
            v = node("Reshape", new String[] {v, split}, 1)[0];
            v = node("Transpose", new String[] {v}, 1, ints("perm", 0, 2, 1, 3))[0];
            String scores = node("MatMul", new String[] {q, k}, 1)[0];
            scores =
                    fused
                            ? node(
                                    "Mul",
                                    new String[] {
                                        scores, scalar((float) (1 / Math.sqrt(headSize)))
                                    },
                                    1)[0]
                            : node(
                                    "Div",
                                    new String[] {scores, scalar((float) Math.sqrt(headSize))},
                                    1)[0];
            scores = node("Add", new String[] {scores, mask}, 1)[0];
            String probs =
                    node("Softmax", new String[] {scores}, 1, intAttr("axis", fused ? -1 : 3))[0];
            String context = node("MatMul", new String[] {probs, v}, 1)[0];
            context = node("Transpose", new String[] {context}, 1, ints("perm", 0, 2, 1, 3))[0];
            context = node("Reshape", new String[] {context, longVector(0, 0, HIDDEN)}, 1)[0];
            String attended = linear(context, prefix + "attention.output.dense", HIDDEN, HIDDEN);
            String residual = node("Add", new String[] {attended, x}, 1)[0];
            String a = layerNorm(residual, prefix + "attention.output.LayerNorm");
            String h = linear(a, prefix + "intermediate.dense", HIDDEN, INTERMEDIATE);
            h = gelu(h);
            String f = linear(h, prefix + "output.dense", INTERMEDIATE, HIDDEN);
            residual = node("Add", new String[] {f, a}, 1)[0];
            x = layerNorm(residual, prefix + "output.LayerNorm");
        }
        node("Identity", new String[] {x}, 1);
        // rename the last output to the graph output
        OnnxMl.NodeProto last = graph.getNode(graph.getNodeCount() - 1);
        graph.setNode(graph.getNodeCount() - 1, last.toBuilder().setOutput(0, "last_hidden_state"));

        return OnnxMl.ModelProto.newBuilder()
                .setIrVersion(8)
                .setProducerName("djl-quant test")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(opset))
                .setGraph(graph)
                .build();
    }

    private String gelu(String x) {
        if (tanhGelu) {
            // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            String cube = node("Pow", new String[] {x, scalar(3f)}, 1)[0];
            String inner = node("Mul", new String[] {cube, scalar(0.044715f)}, 1)[0];
            inner = node("Add", new String[] {x, inner}, 1)[0];
            inner = node("Mul", new String[] {inner, scalar((float) Math.sqrt(2 / Math.PI))}, 1)[0];
            String th = node("Tanh", new String[] {inner}, 1)[0];
            th = node("Add", new String[] {th, scalar(1f)}, 1)[0];
            String half = node("Mul", new String[] {x, scalar(0.5f)}, 1)[0];
            return node("Mul", new String[] {half, th}, 1)[0];
        }
        if (fused) {
            String half = node("Mul", new String[] {x, scalar(0.5f)}, 1)[0];
            String e = node("Mul", new String[] {x, scalar((float) Math.sqrt(0.5))}, 1)[0];
            e = node("Erf", new String[] {e}, 1)[0];
            e = node("Add", new String[] {e, scalar(1f)}, 1)[0];
            return node("Mul", new String[] {half, e}, 1)[0];
        }
        String e = node("Div", new String[] {x, scalar((float) Math.sqrt(2))}, 1)[0];
        e = node("Erf", new String[] {e}, 1)[0];
        e = node("Add", new String[] {e, scalar(1f)}, 1)[0];
        String m = node("Mul", new String[] {x, e}, 1)[0];
        return node("Mul", new String[] {m, scalar(0.5f)}, 1)[0];
    }

    private String linear(String x, String name, int in, int out) {
        String weight = floatInit(name + ".weight_t", in, out);
        String bias = floatInit(name + ".bias", out);
        String mm = node("MatMul", new String[] {x, weight}, 1)[0];
        return node("Add", new String[] {bias, mm}, 1)[0];
    }

    private String layerNorm(String x, String name) {
        String gamma = floatInit(name + ".weight", HIDDEN);
        String beta = floatInit(name + ".bias", HIDDEN);
        if (fused) {
            return node(
                    "LayerNormalization",
                    new String[] {x, gamma, beta},
                    1,
                    intAttr("axis", -1),
                    OnnxMl.AttributeProto.newBuilder()
                            .setName("epsilon")
                            .setType(OnnxMl.AttributeProto.AttributeType.FLOAT)
                            .setF(1e-12f)
                            .build())[0];
        }
        String mean = node("ReduceMean", new String[] {x}, 1, ints("axes", -1))[0];
        String d = node("Sub", new String[] {x, mean}, 1)[0];
        String sq = node("Pow", new String[] {d, scalar(2f)}, 1)[0];
        String var = node("ReduceMean", new String[] {sq}, 1, ints("axes", -1))[0];
        String eps = node("Add", new String[] {var, scalar(1e-12f)}, 1)[0];
        String sd = node("Sqrt", new String[] {eps}, 1)[0];
        String n = node("Div", new String[] {d, sd}, 1)[0];
        n = node("Mul", new String[] {n, gamma}, 1)[0];
        return node("Add", new String[] {n, beta}, 1)[0];
    }

    private String[] unsqueezeInputs(String x, long axis) {
        return opset >= 13 ? new String[] {x, longVector(axis)} : new String[] {x};
    }

    private String[] node(
            String op, String[] inputs, int outputs, OnnxMl.AttributeProto... attributes) {
        if (op.equals("Unsqueeze") && opset >= 13) {
            attributes = new OnnxMl.AttributeProto[0];
        }
        if (op.equals("ReduceMean") && opset >= 18) {
            throw new IllegalStateException("not written for opset 18");
        }
        String name = "/" + op + "_" + counter++;
        OnnxMl.NodeProto.Builder node = OnnxMl.NodeProto.newBuilder().setName(name).setOpType(op);
        for (String in : inputs) {
            node.addInput(in);
        }
        String[] out = new String[outputs];
        for (int i = 0; i < outputs; i++) {
            out[i] = name + "_output_" + i;
            node.addOutput(out[i]);
        }
        for (OnnxMl.AttributeProto a : attributes) {
            node.addAttribute(a);
        }
        graph.addNode(node);
        return out;
    }

    private String scalar(float value) {
        return constant(
                OnnxMl.TensorProto.newBuilder()
                        .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                        .addFloatData(value)
                        .build());
    }

    private String longScalar(long value) {
        return constant(
                OnnxMl.TensorProto.newBuilder()
                        .setDataType(OnnxMl.TensorProto.DataType.INT64.getNumber())
                        .addInt64Data(value)
                        .build());
    }

    private String longVector(long... values) {
        OnnxMl.TensorProto.Builder t =
                OnnxMl.TensorProto.newBuilder()
                        .setDataType(OnnxMl.TensorProto.DataType.INT64.getNumber())
                        .addDims(values.length);
        for (long v : values) {
            t.addInt64Data(v);
        }
        return constant(t.build());
    }

    private String constant(OnnxMl.TensorProto value) {
        return node(
                "Constant",
                new String[0],
                1,
                OnnxMl.AttributeProto.newBuilder()
                        .setName("value")
                        .setType(OnnxMl.AttributeProto.AttributeType.TENSOR)
                        .setT(value)
                        .build())[0];
    }

    private String floatInit(String name, long... dims) {
        int size = 1;
        for (long d : dims) {
            size *= (int) d;
        }
        OnnxMl.TensorProto.Builder t =
                OnnxMl.TensorProto.newBuilder()
                        .setName(name)
                        .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber());
        for (long d : dims) {
            t.addDims(d);
        }
        boolean gamma = name.endsWith("LayerNorm.weight");
        ByteBuffer raw = ByteBuffer.allocate(size * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; i++) {
            float v =
                    (float) (gamma ? 1 + 0.1 * random.nextGaussian() : 0.3 * random.nextGaussian());
            if (floatDataWeights) {
                t.addFloatData(v);
            } else {
                raw.putFloat(v);
            }
        }
        if (!floatDataWeights) {
            t.setRawData(ByteString.copyFrom(raw.array()));
        }
        graph.addInitializer(t);
        return name;
    }

    private String longInit(String name, long[] dims, long[] values) {
        OnnxMl.TensorProto.Builder t =
                OnnxMl.TensorProto.newBuilder()
                        .setName(name)
                        .setDataType(OnnxMl.TensorProto.DataType.INT64.getNumber());
        for (long d : dims) {
            t.addDims(d);
        }
        ByteBuffer raw =
                ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            raw.putLong(v);
        }
        t.setRawData(ByteString.copyFrom(raw.array()));
        graph.addInitializer(t);
        return name;
    }

    static OnnxMl.AttributeProto ints(String name, long... values) {
        OnnxMl.AttributeProto.Builder a =
                OnnxMl.AttributeProto.newBuilder()
                        .setName(name)
                        .setType(OnnxMl.AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    static OnnxMl.AttributeProto intAttr(String name, long value) {
        return OnnxMl.AttributeProto.newBuilder()
                .setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.INT)
                .setI(value)
                .build();
    }

    static OnnxMl.ValueInfoProto valueInfo(
            String name, OnnxMl.TensorProto.DataType type, Object... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            OnnxMl.TensorShapeProto.Dimension.Builder dim =
                    OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String s) {
                dim.setDimParam(s);
            } else {
                dim.setDimValue(((Number) d).longValue());
            }
            shape.addDim(dim);
        }
        return OnnxMl.ValueInfoProto.newBuilder()
                .setName(name)
                .setType(
                        OnnxMl.TypeProto.newBuilder()
                                .setTensorType(
                                        OnnxMl.TypeProto.Tensor.newBuilder()
                                                .setElemType(type.getNumber())
                                                .setShape(shape)))
                .build();
    }
}
