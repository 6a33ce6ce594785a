package org.djlquant.io.onnx;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.onnx.proto.OnnxMl;
import com.google.protobuf.InvalidProtocolBufferException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertEmbeddings;
import org.djlquant.nn.transformer.BertEncoder;
import org.djlquant.nn.transformer.BertLayer;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.nn.transformer.BertSelfAttention;

/**
 * Reads an ONNX BERT-family encoder and rebuilds it as a DJL block tree holding its weights.
 *
 * <p>Supported: graphs with default-domain opset 11 or newer and inline weights, inputs {@code
 * input_ids}, {@code attention_mask}, {@code token_type_ids} (int64 [B, T]) and one output [B, T,
 * H], made of word/position/token-type embeddings, post-norm encoder layers with multi-head
 * self-attention and an exact (erf) GELU feed-forward, as written by the PyTorch/Hugging Face and
 * optimum exporters. The graph is recognised by its data flow (see the package documentation);
 * anything else is refused with an {@link UnsupportedGraphException} naming the nodes it could not
 * map.
 */
public final class OnnxImporter {

    private static final long MIN_OPSET = 11;

    private OnnxImporter() {}

    /**
     * Imports an ONNX file.
     *
     * @param file the {@code .onnx} file
     * @return the rebuilt model
     * @throws QuantizationException if the file cannot be read or parsed; an {@link
     *     UnsupportedGraphException} if it is not a supported encoder
     */
    public static ImportedModel importModel(Path file) throws QuantizationException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new QuantizationException("cannot read ONNX file " + file + ": " + e, e);
        }
        try {
            return convert(OnnxMl.ModelProto.parseFrom(bytes), file.toString());
        } catch (InvalidProtocolBufferException e) {
            throw new QuantizationException(
                    "file "
                            + file
                            + " is not a valid ONNX model (truncated or corrupt): "
                            + e.getMessage(),
                    e);
        }
    }

    /**
     * Imports an ONNX model from a stream, which is read to its end but not closed.
     *
     * @param in the serialized {@code ModelProto}
     * @return the rebuilt model
     * @throws QuantizationException if the stream cannot be read or parsed; an {@link
     *     UnsupportedGraphException} if it is not a supported encoder
     */
    public static ImportedModel importModel(InputStream in) throws QuantizationException {
        try {
            return convert(OnnxMl.ModelProto.parseFrom(in), "stream");
        } catch (InvalidProtocolBufferException e) {
            throw new QuantizationException(
                    "stream is not a valid ONNX model (truncated or corrupt): " + e.getMessage(),
                    e);
        } catch (IOException e) {
            throw new QuantizationException("cannot read ONNX model from stream: " + e, e);
        }
    }

    private static ImportedModel convert(OnnxMl.ModelProto proto, String source)
            throws QuantizationException {
        if (!proto.hasGraph() || proto.getGraph().getNodeCount() == 0) {
            throw new QuantizationException(source + " holds no ONNX graph (no nodes)");
        }
        long opset = -1;
        for (OnnxMl.OperatorSetIdProto id : proto.getOpsetImportList()) {
            if (id.getDomain().isEmpty() || id.getDomain().equals("ai.onnx")) {
                opset = id.getVersion();
            }
        }
        if (opset < MIN_OPSET) {
            throw new QuantizationException(
                    source + " uses opset " + opset + ", must be " + MIN_OPSET + " or newer");
        }
        OnnxGraph graph = new OnnxGraph(proto.getGraph());
        BertGraphMatcher.Match match = new BertGraphMatcher(graph).match();
        try {
            BertModelBlock block = build(graph, match);
            return new ImportedModel(
                    block,
                    List.of(
                            BertGraphMatcher.INPUT_IDS,
                            BertGraphMatcher.ATTENTION_MASK,
                            BertGraphMatcher.TOKEN_TYPE_IDS),
                    match.output(),
                    opset,
                    proto.getProducerName());
        } catch (IllegalArgumentException e) {
            throw new QuantizationException(
                    "cannot convert the weights of " + source + ": " + e.getMessage(), e);
        }
    }

    private static BertModelBlock build(OnnxGraph graph, BertGraphMatcher.Match match) {
        OnnxMl.TensorProto word = graph.constant(match.wordEmbedding());
        OnnxMl.TensorProto position = graph.constant(match.positionEmbedding());
        OnnxMl.TensorProto tokenType = graph.constant(match.tokenTypeEmbedding());
        BertGraphMatcher.Layer first = match.layers().get(0);
        float eps = match.embeddingNorm().eps();
        for (BertGraphMatcher.Layer l : match.layers()) {
            if (l.attentionNorm().eps() != eps || l.outputNorm().eps() != eps) {
                throw new IllegalArgumentException(
                        "layer norms use different epsilons ("
                                + eps
                                + ", "
                                + l.attentionNorm().eps()
                                + ", "
                                + l.outputNorm().eps()
                                + "); one epsilon per model is supported");
            }
            if (l.heads() != first.heads()) {
                throw new IllegalArgumentException(
                        "layers use different head counts " + first.heads() + " and " + l.heads());
            }
        }
        BertConfig config =
                new BertConfig(
                        (int) word.getDims(0),
                        (int) word.getDims(1),
                        match.layers().size(),
                        first.heads(),
                        (int) graph.constant(first.intermediate().weight()).getDims(1),
                        (int) position.getDims(0),
                        (int) tokenType.getDims(0),
                        eps,
                        match.maskValue());
        BertModelBlock block = new BertModelBlock(config);
        BertEmbeddings embeddings = (BertEmbeddings) block.getEmbeddings();
        table(embeddings.getWord(), word);
        table(embeddings.getPosition(), position);
        table(embeddings.getTokenType(), tokenType);
        norm(graph, embeddings.getNorm(), match.embeddingNorm());
        for (int i = 0; i < config.layerCount(); i++) {
            BertGraphMatcher.Layer from = match.layers().get(i);
            BertLayer to = (BertLayer) ((BertEncoder) block.getEncoder()).getLayers().get(i);
            BertSelfAttention attention = (BertSelfAttention) to.getAttention();
            linear(graph, attention.getQuery(), from.query());
            linear(graph, attention.getKey(), from.key());
            linear(graph, attention.getValue(), from.value());
            linear(graph, attention.getOutput(), from.attentionOutput());
            norm(graph, to.getAttentionNorm(), from.attentionNorm());
            linear(graph, to.getIntermediate(), from.intermediate());
            linear(graph, to.getOutput(), from.output());
            norm(graph, to.getOutputNorm(), from.outputNorm());
        }
        return block;
    }

    private static void table(Parameter parameter, OnnxMl.TensorProto t) {
        Shape shape = new Shape(t.getDims(0), t.getDims(1));
        parameter.setInitializer(new ArrayInitializer(t.getName(), shape, OnnxGraph.floats(t)));
    }

    /** ONNX MatMul weights are [in, out]; DJL's Linear keeps [out, in]. */
    private static void linear(OnnxGraph graph, Block linear, BertGraphMatcher.Linear from) {
        OnnxMl.TensorProto w = graph.constant(from.weight());
        int in = (int) w.getDims(0);
        int out = (int) w.getDims(1);
        float[] onnx = OnnxGraph.floats(w);
        float[] djl = new float[onnx.length];
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < out; j++) {
                djl[j * in + i] = onnx[i * out + j];
            }
        }
        linear.getParameters()
                .get("weight")
                .setInitializer(new ArrayInitializer(w.getName(), new Shape(out, in), djl));
        OnnxMl.TensorProto b = graph.constant(from.bias());
        linear.getParameters()
                .get("bias")
                .setInitializer(
                        new ArrayInitializer(b.getName(), new Shape(out), OnnxGraph.floats(b)));
    }

    private static void norm(OnnxGraph graph, Block norm, BertGraphMatcher.Norm from) {
        OnnxMl.TensorProto gamma = graph.constant(from.gamma());
        OnnxMl.TensorProto beta = graph.constant(from.beta());
        norm.getParameters()
                .get("gamma")
                .setInitializer(
                        new ArrayInitializer(
                                gamma.getName(),
                                new Shape(gamma.getDims(0)),
                                OnnxGraph.floats(gamma)));
        norm.getParameters()
                .get("beta")
                .setInitializer(
                        new ArrayInitializer(
                                beta.getName(),
                                new Shape(beta.getDims(0)),
                                OnnxGraph.floats(beta)));
    }
}
