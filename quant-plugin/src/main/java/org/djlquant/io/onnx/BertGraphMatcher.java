package org.djlquant.io.onnx;

import ai.onnx.proto.OnnxMl;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recognises a BERT encoder in an ONNX graph by its data flow, not by node names.
 *
 * <p>Linear layers are {@code MatMul(x, W) + b} with initializers W [in, out] and b [out]; layer
 * norms are either {@code LayerNormalization} nodes or the decomposed chain {@code ReduceMean, Sub,
 * Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul γ, Add β}; GELU is {@code Gelu} or the erf chain
 * {@code x · ½ (1 + erf(x / √2))}. Attention is found from each {@code Softmax}: the scores {@code
 * MatMul} (possibly scaled, plus the additive mask) and the probabilities' {@code MatMul} are
 * traced through {@code Reshape}/{@code Transpose} back to the query, key and value linears. Every
 * node used is claimed; shape arithmetic ({@code Shape}, {@code Gather}, {@code Concat}, …) feeding
 * a claimed node's shape input is claimed with it. Anything left over makes the graph unsupported.
 */
final class BertGraphMatcher {

    static final String INPUT_IDS = "input_ids";
    static final String ATTENTION_MASK = "attention_mask";
    static final String TOKEN_TYPE_IDS = "token_type_ids";

    private static final Set<String> LAYOUT_OPS =
            Set.of("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity");
    private static final Set<String> SHAPE_OPS =
            Set.of(
                    "Shape",
                    "Gather",
                    "Unsqueeze",
                    "Squeeze",
                    "Concat",
                    "Constant",
                    "Cast",
                    "Slice",
                    "Add",
                    "Sub",
                    "Mul",
                    "Div",
                    "ConstantOfShape",
                    "Range",
                    "Equal",
                    "Where",
                    "Expand",
                    "Reshape",
                    "ReduceProd");

    /** A projection {@code x·W + b}. */
    record Linear(String input, String output, String weight, String bias, int[] nodes) {}

    /** A layer normalisation over the last axis. */
    record Norm(String input, String output, String gamma, String beta, float eps, int[] nodes) {}

    /** The tensors an encoder layer is built from. */
    record Layer(
            Linear query,
            Linear key,
            Linear value,
            Linear attentionOutput,
            Norm attentionNorm,
            Linear intermediate,
            Linear output,
            Norm outputNorm,
            int heads) {}

    /** The whole recognised encoder. */
    record Match(
            String wordEmbedding,
            String positionEmbedding,
            String tokenTypeEmbedding,
            Norm embeddingNorm,
            List<Layer> layers,
            float maskValue,
            String output) {}

    private final OnnxGraph g;
    private final Map<String, Linear> linearByOutput = new HashMap<>();
    private final Map<String, List<Linear>> linearsByInput = new HashMap<>();
    private final Map<String, Norm> normByInput = new HashMap<>();
    private final Map<String, String> geluOutputByInput = new HashMap<>();
    private final Map<String, int[]> geluNodes = new HashMap<>();
    private float maskValue = Float.NaN;

    BertGraphMatcher(OnnxGraph graph) {
        this.g = graph;
    }

    /** Matches the graph or explains, with the unmapped nodes, why it cannot. */
    Match match() throws UnsupportedGraphException {
        for (String name : List.of(INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)) {
            if (!g.isGraphInput(name)) {
                throw refuse("graph input '" + name + "' is missing");
            }
        }
        findLinears();
        findNorms();
        findGelus();

        String word = null;
        String position = null;
        String tokenType = null;
        int wordGather = -1;
        int positionGather = -1;
        int typeGather = -1;
        for (int i = 0; i < g.size(); i++) {
            OnnxMl.NodeProto n = g.node(i);
            if (!n.getOpType().equals("Gather") || !isFloatInitializer(n.getInput(0), 2)) {
                continue;
            }
            String index = n.getInput(1);
            if (index.equals(INPUT_IDS)) {
                word = n.getInput(0);
                wordGather = i;
            } else if (index.equals(TOKEN_TYPE_IDS)) {
                tokenType = n.getInput(0);
                typeGather = i;
            } else if (isPositionIds(index)) {
                position = n.getInput(0);
                positionGather = i;
            }
        }
        if (word == null || position == null || tokenType == null) {
            throw refuse(
                    "no word, position and token-type embedding lookups (Gather of a 2-D weight by"
                            + " input_ids, by positions 0..T-1 and by token_type_ids) found");
        }
        Set<String> leaves =
                Set.of(
                        g.node(wordGather).getOutput(0),
                        g.node(positionGather).getOutput(0),
                        g.node(typeGather).getOutput(0));
        String sum = g.node(wordGather).getOutput(0);
        List<Integer> sumNodes = new ArrayList<>();
        while (!normByInput.containsKey(sum)) {
            int add = g.onlyConsumer(sum, "Add");
            if (add < 0 || sumNodes.size() > 2) {
                throw refuse("the embedding lookups are not summed into a layer normalisation");
            }
            sumNodes.add(add);
            sum = g.node(add).getOutput(0);
        }
        Set<String> found = new HashSet<>();
        collectAddLeaves(sum, found);
        if (!found.equals(leaves)) {
            throw refuse("the embedding sum combines " + found + ", expected exactly " + leaves);
        }
        g.claim(wordGather);
        g.claim(positionGather);
        g.claim(typeGather);
        sumNodes.forEach(g::claim);
        Norm embeddingNorm = normByInput.get(sum);
        claim(embeddingNorm.nodes());

        List<Layer> layers = new ArrayList<>();
        String current = embeddingNorm.output();
        while (linearsByInput.containsKey(current)) {
            layers.add(matchLayer(layers.size(), current));
            current = layers.get(layers.size() - 1).outputNorm().output();
        }
        if (layers.isEmpty()) {
            throw refuse("no self-attention layer reads the embedding output");
        }
        String output = current;
        int identity = g.onlyConsumer(current, "Identity");
        if (identity >= 0) {
            g.claim(identity);
            output = g.node(identity).getOutput(0);
        }
        List<String> outputs = new ArrayList<>();
        g.proto().getOutputList().forEach(o -> outputs.add(o.getName()));
        if (!outputs.equals(List.of(output))) {
            throw refuse(
                    "graph outputs are "
                            + outputs
                            + ", expected only the last layer's hidden states '"
                            + output
                            + "'");
        }
        claimUnusedConstants();
        if (!unmapped().isEmpty()) {
            throw refuse("nodes outside the BERT encoder pattern");
        }
        return new Match(
                word, position, tokenType, embeddingNorm, List.copyOf(layers), maskValue, output);
    }

    private Layer matchLayer(int index, String x) throws UnsupportedGraphException {
        String where = "layer " + index + ": ";
        List<Linear> readers = linearsByInput.get(x);
        if (readers.size() != 3) {
            throw refuse(where + readers.size() + " projections read the layer input, expected 3");
        }
        // the scores MatMul reads query (left) and key (right) after the head split
        Linear query = null;
        Linear key = null;
        Linear value = null;
        Linear attentionOutput = null;
        int heads = -1;
        for (int s = 0; s < g.size() && query == null; s++) {
            if (!g.node(s).getOpType().equals("Softmax") || g.isClaimed(s)) {
                continue;
            }
            List<Integer> used = new ArrayList<>();
            OnnxMl.NodeProto softmax = g.node(s);
            long axis = OnnxGraph.intAttribute(softmax, "axis", -1);
            String scores = softmax.getInput(0);
            int maskAdd = g.producer(scores, "Add");
            if (maskAdd >= 0) {
                OnnxMl.NodeProto add = g.node(maskAdd);
                int m = tracesToMask(add.getInput(1)) ? 1 : tracesToMask(add.getInput(0)) ? 0 : -1;
                if (m < 0) {
                    continue;
                }
                used.add(maskAdd);
                scores = add.getInput(1 - m);
            }
            float scale = 1f;
            int scaleNode = g.producer(scores);
            if (scaleNode >= 0 && g.node(scaleNode).getOpType().matches("Div|Mul")) {
                OnnxMl.NodeProto op = g.node(scaleNode);
                float c = g.scalar(op.getInput(1));
                if (Float.isNaN(c)) {
                    continue;
                }
                scale = op.getOpType().equals("Div") ? 1f / c : c;
                used.add(scaleNode);
                scores = op.getInput(0);
            }
            int qk = g.producer(scores, "MatMul");
            if (qk < 0) {
                continue;
            }
            List<Integer> qNodes = new ArrayList<>();
            List<Integer> kNodes = new ArrayList<>();
            Linear q = linearByOutput.get(backThroughLayout(g.node(qk).getInput(0), qNodes));
            Linear k = linearByOutput.get(backThroughLayout(g.node(qk).getInput(1), kNodes));
            if (q == null || k == null || !readers.contains(q)) {
                continue;
            }
            int pv = g.onlyConsumer(softmax.getOutput(0), "MatMul");
            if (pv < 0 || !g.node(pv).getInput(0).equals(softmax.getOutput(0))) {
                throw refuse(where + "attention probabilities are not multiplied with the values");
            }
            List<Integer> vNodes = new ArrayList<>();
            Linear v = linearByOutput.get(backThroughLayout(g.node(pv).getInput(1), vNodes));
            List<Integer> cNodes = new ArrayList<>();
            String context = forwardThroughLayout(g.node(pv).getOutput(0), cNodes);
            List<Linear> out = linearsByInput.getOrDefault(context, List.of());
            if (v == null || !readers.contains(k) || !readers.contains(v) || out.size() != 1) {
                throw refuse(
                        where + "query/key/value/output projections of the attention not found");
            }
            if (axis != -1 && axis != 3) {
                throw refuse(where + "softmax axis was " + axis + ", must be -1 or 3");
            }
            checkPermutation(where + "query", qNodes, new int[] {0, 2, 1, 3});
            checkPermutation(where + "key", kNodes, new int[] {0, 2, 3, 1});
            checkPermutation(where + "value", vNodes, new int[] {0, 2, 1, 3});
            checkPermutation(where + "context", cNodes, new int[] {0, 2, 1, 3});
            heads = headCount(where, qNodes, scale);
            if (headCount(where, kNodes, scale) != heads
                    || headCount(where, vNodes, scale) != heads) {
                throw refuse(where + "query, key and value are split into different head counts");
            }
            query = q;
            key = k;
            value = v;
            attentionOutput = out.get(0);
            used.add(s);
            used.add(qk);
            used.add(pv);
            used.addAll(qNodes);
            used.addAll(kNodes);
            used.addAll(vNodes);
            used.addAll(cNodes);
            used.forEach(g::claim);
        }
        if (query == null) {
            throw refuse(where + "no softmax attention over its query and key projections found");
        }
        for (Linear l : List.of(query, key, value, attentionOutput)) {
            claim(l.nodes());
        }
        Norm attentionNorm = residualNorm(where + "attention", attentionOutput, x);
        List<Linear> ffn = linearsByInput.getOrDefault(attentionNorm.output(), List.of());
        if (ffn.size() != 1) {
            throw refuse(where + "expected one intermediate projection after the attention norm");
        }
        Linear intermediate = ffn.get(0);
        String gelu = geluOutputByInput.get(intermediate.output());
        if (gelu == null) {
            throw refuse(where + "the intermediate projection is not followed by an erf GELU");
        }
        claim(geluNodes.get(intermediate.output()));
        List<Linear> outs = linearsByInput.getOrDefault(gelu, List.of());
        if (outs.size() != 1) {
            throw refuse(where + "expected one output projection after the GELU");
        }
        Linear output = outs.get(0);
        claim(intermediate.nodes());
        claim(output.nodes());
        Norm outputNorm = residualNorm(where + "output", output, attentionNorm.output());
        return new Layer(
                query,
                key,
                value,
                attentionOutput,
                attentionNorm,
                intermediate,
                output,
                outputNorm,
                heads);
    }

    private Norm residualNorm(String where, Linear projection, String residual)
            throws UnsupportedGraphException {
        int add = g.onlyConsumer(projection.output(), "Add");
        if (add < 0 || !g.node(add).getInputList().contains(residual)) {
            throw refuse(where + ": projection output is not added to the residual " + residual);
        }
        Norm norm = normByInput.get(g.node(add).getOutput(0));
        if (norm == null) {
            throw refuse(where + ": residual sum is not layer-normalised");
        }
        g.claim(add);
        claim(norm.nodes());
        return norm;
    }

    private int headCount(String where, List<Integer> queryLayout, float scale)
            throws UnsupportedGraphException {
        long headSize = -1;
        long heads = -1;
        for (int i : queryLayout) {
            OnnxMl.NodeProto n = g.node(i);
            if (n.getOpType().equals("Reshape")) {
                long[] shape = staticShape(n.getInput(1));
                if (shape != null && shape.length == 4 && shape[2] > 0 && shape[3] > 0) {
                    heads = shape[2];
                    headSize = shape[3];
                }
            }
        }
        if (heads < 0) {
            throw refuse(where + "cannot read the head count from a query/key/value reshape");
        }
        double expected = 1 / Math.sqrt(headSize);
        if (Math.abs(scale - expected) > 1e-4 * expected) {
            throw refuse(
                    where
                            + "attention scores are scaled by "
                            + scale
                            + ", expected 1/sqrt("
                            + headSize
                            + ") = "
                            + expected);
        }
        return (int) heads;
    }

    /** Reads a reshape target that is a constant or a Concat of (partly) constant pieces. */
    private long[] staticShape(String tensor) {
        long[] constant = g.longsOrNull(tensor);
        if (constant != null) {
            return constant;
        }
        int concat = g.producer(tensor, "Concat");
        if (concat < 0) {
            return null;
        }
        List<Long> dims = new ArrayList<>();
        for (String part : g.node(concat).getInputList()) {
            long[] v = g.longsOrNull(part);
            if (v == null) {
                dims.add(-1L);
            } else {
                for (long d : v) {
                    dims.add(d);
                }
            }
        }
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    private void checkPermutation(String where, List<Integer> layout, int[] expected)
            throws UnsupportedGraphException {
        int[] perm = {0, 1, 2, 3};
        boolean split = false;
        for (int i : layout) {
            OnnxMl.NodeProto n = g.node(i);
            if (n.getOpType().equals("Transpose")) {
                long[] p = OnnxGraph.intsAttribute(n, "perm");
                if (p == null || p.length != 4) {
                    throw refuse(where + " transpose " + n.getName() + " is not a 4-D permutation");
                }
                int[] next = new int[4];
                for (int j = 0; j < 4; j++) {
                    next[j] = perm[(int) p[j]];
                }
                perm = next;
            } else if (n.getOpType().equals("Reshape")) {
                split = true;
            }
        }
        if (!split || !Arrays.equals(perm, expected)) {
            throw refuse(
                    where
                            + " heads are laid out with permutation "
                            + Arrays.toString(perm)
                            + ", expected [B, T, N, d] permuted by "
                            + Arrays.toString(expected));
        }
    }

    /** Follows a tensor up through layout ops, collecting them and their shape arithmetic. */
    private String backThroughLayout(String tensor, List<Integer> nodes) {
        int p = g.producer(tensor);
        while (p >= 0 && LAYOUT_OPS.contains(g.node(p).getOpType())) {
            nodes.add(0, p);
            OnnxMl.NodeProto n = g.node(p);
            for (int i = 1; i < n.getInputCount(); i++) {
                claimShapeArithmetic(n.getInput(i));
            }
            tensor = n.getInput(0);
            p = g.producer(tensor);
        }
        return tensor;
    }

    /** Follows a tensor down through single-consumer layout ops. */
    private String forwardThroughLayout(String tensor, List<Integer> nodes) {
        while (true) {
            int c = g.onlyConsumer(tensor);
            if (c < 0 || !LAYOUT_OPS.contains(g.node(c).getOpType())) {
                return tensor;
            }
            OnnxMl.NodeProto n = g.node(c);
            if (!n.getInput(0).equals(tensor)) {
                return tensor;
            }
            nodes.add(c);
            for (int i = 1; i < n.getInputCount(); i++) {
                claimShapeArithmetic(n.getInput(i));
            }
            tensor = n.getOutput(0);
        }
    }

    /** Claims the shape computation producing a tensor, stopping at {@code Shape} nodes. */
    private void claimShapeArithmetic(String tensor) {
        int p = g.producer(tensor);
        if (p < 0 || g.isClaimed(p) || !SHAPE_OPS.contains(g.node(p).getOpType())) {
            return;
        }
        g.claim(p);
        if (!g.node(p).getOpType().equals("Shape")) {
            for (String in : g.node(p).getInputList()) {
                claimShapeArithmetic(in);
            }
        }
    }

    /**
     * True if the tensor is {@code (1 - float(mask)) · c} of the attention mask, reshaped; records
     * c as the mask value and claims the nodes.
     */
    private boolean tracesToMask(String tensor) {
        List<Integer> nodes = new ArrayList<>();
        float value = Float.NaN;
        boolean inverted = false;
        String t = tensor;
        while (!t.equals(ATTENTION_MASK)) {
            int p = g.producer(t);
            if (p < 0) {
                return false;
            }
            OnnxMl.NodeProto n = g.node(p);
            nodes.add(p);
            switch (n.getOpType()) {
                case "Unsqueeze", "Cast", "Reshape", "Expand" -> t = n.getInput(0);
                case "Mul" -> {
                    int c = Float.isNaN(g.scalar(n.getInput(1))) ? 0 : 1;
                    value = g.scalar(n.getInput(c));
                    if (Float.isNaN(value)) {
                        return false;
                    }
                    t = n.getInput(1 - c);
                }
                case "Sub" -> {
                    if (g.scalar(n.getInput(0)) != 1f) {
                        return false;
                    }
                    inverted = true;
                    t = n.getInput(1);
                }
                default -> {
                    return false;
                }
            }
        }
        if (!inverted || !(value < 0)) {
            return false;
        }
        if (!Float.isNaN(maskValue) && maskValue != value) {
            return false;
        }
        maskValue = value;
        for (int p : nodes) {
            g.claim(p);
            OnnxMl.NodeProto n = g.node(p);
            if (LAYOUT_OPS.contains(n.getOpType()) || n.getOpType().equals("Expand")) {
                for (int i = 1; i < n.getInputCount(); i++) {
                    claimShapeArithmetic(n.getInput(i));
                }
            }
        }
        return true;
    }

    /** True if the tensor is the position ids 0..T-1: a prefix slice of a constant arange. */
    private boolean isPositionIds(String tensor) {
        String source = tensor;
        int slice = g.producer(tensor, "Slice");
        if (slice >= 0) {
            OnnxMl.NodeProto n = g.node(slice);
            long[] starts = g.longsOrNull(n.getInput(1));
            if (starts == null || Arrays.stream(starts).anyMatch(s -> s != 0)) {
                return false;
            }
            source = n.getInput(0);
        }
        long[] ids = g.isInitializer(source) ? g.longsOrNull(source) : null;
        if (ids == null) {
            return false;
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] != i) {
                return false;
            }
        }
        if (slice >= 0) {
            g.claim(slice);
            for (String in : g.node(slice).getInputList()) {
                claimShapeArithmetic(in);
            }
        }
        return true;
    }

    private void collectAddLeaves(String tensor, Set<String> leaves) {
        int add = g.producer(tensor, "Add");
        if (add < 0) {
            leaves.add(tensor);
            return;
        }
        for (String in : g.node(add).getInputList()) {
            collectAddLeaves(in, leaves);
        }
    }

    private void findLinears() {
        for (int i = 0; i < g.size(); i++) {
            OnnxMl.NodeProto n = g.node(i);
            if (!n.getOpType().equals("MatMul") || !isFloatInitializer(n.getInput(1), 2)) {
                continue;
            }
            long out = g.constant(n.getInput(1)).getDims(1);
            int add = g.onlyConsumer(n.getOutput(0), "Add");
            if (add < 0) {
                continue;
            }
            OnnxMl.NodeProto a = g.node(add);
            int b = a.getInput(0).equals(n.getOutput(0)) ? 1 : 0;
            String bias = a.getInput(b);
            if (!isFloatInitializer(bias, 1) || g.constant(bias).getDims(0) != out) {
                continue;
            }
            Linear l =
                    new Linear(
                            n.getInput(0), a.getOutput(0), n.getInput(1), bias, new int[] {i, add});
            linearByOutput.put(l.output(), l);
            linearsByInput.computeIfAbsent(l.input(), k -> new ArrayList<>()).add(l);
        }
    }

    private void findNorms() {
        for (int i = 0; i < g.size(); i++) {
            OnnxMl.NodeProto n = g.node(i);
            if (n.getOpType().equals("LayerNormalization")) {
                long axis = OnnxGraph.intAttribute(n, "axis", -1);
                if ((axis == -1 || axis == 2)
                        && n.getInputCount() == 3
                        && isFloatInitializer(n.getInput(1), 1)
                        && isFloatInitializer(n.getInput(2), 1)) {
                    float eps = OnnxGraph.floatAttribute(n, "epsilon", 1e-5f);
                    normByInput.put(
                            n.getInput(0),
                            new Norm(
                                    n.getInput(0),
                                    n.getOutput(0),
                                    n.getInput(1),
                                    n.getInput(2),
                                    eps,
                                    new int[] {i}));
                }
            } else if (n.getOpType().equals("ReduceMean") && lastAxis(n)) {
                Norm norm = decomposedNorm(i);
                if (norm != null) {
                    normByInput.put(norm.input(), norm);
                }
            }
        }
    }

    private boolean lastAxis(OnnxMl.NodeProto reduceMean) {
        long[] axes = OnnxGraph.intsAttribute(reduceMean, "axes");
        if (axes == null && reduceMean.getInputCount() > 1) {
            axes = g.longsOrNull(reduceMean.getInput(1));
        }
        return axes != null && axes.length == 1 && (axes[0] == -1 || axes[0] == 2);
    }

    private Norm decomposedNorm(int mean) {
        String x = g.node(mean).getInput(0);
        String mu = g.node(mean).getOutput(0);
        int sub = g.onlyConsumer(mu, "Sub");
        if (sub < 0 || !g.node(sub).getInput(0).equals(x)) {
            return null;
        }
        String d = g.node(sub).getOutput(0);
        int pow = -1;
        int div = -1;
        for (int c : g.consumers(d)) {
            String op = g.node(c).getOpType();
            if (op.equals("Pow") && g.scalar(g.node(c).getInput(1)) == 2f) {
                pow = c;
            } else if (op.equals("Div") && g.node(c).getInput(0).equals(d)) {
                div = c;
            }
        }
        if (pow < 0 || div < 0 || g.consumers(d).size() != 2) {
            return null;
        }
        int var = g.onlyConsumer(g.node(pow).getOutput(0), "ReduceMean");
        int addEps = var < 0 ? -1 : g.onlyConsumer(g.node(var).getOutput(0), "Add");
        if (addEps < 0 || !lastAxis(g.node(var))) {
            return null;
        }
        OnnxMl.NodeProto ae = g.node(addEps);
        float eps = g.scalar(ae.getInput(ae.getInput(0).equals(g.node(var).getOutput(0)) ? 1 : 0));
        int sqrt = g.onlyConsumer(ae.getOutput(0), "Sqrt");
        if (Float.isNaN(eps)
                || sqrt < 0
                || !g.node(div).getInput(1).equals(g.node(sqrt).getOutput(0))) {
            return null;
        }
        int mul = g.onlyConsumer(g.node(div).getOutput(0), "Mul");
        if (mul < 0) {
            return null;
        }
        String gamma = other(g.node(mul), g.node(div).getOutput(0));
        int add = g.onlyConsumer(g.node(mul).getOutput(0), "Add");
        if (add < 0 || !isFloatInitializer(gamma, 1)) {
            return null;
        }
        String beta = other(g.node(add), g.node(mul).getOutput(0));
        if (!isFloatInitializer(beta, 1)) {
            return null;
        }
        return new Norm(
                x,
                g.node(add).getOutput(0),
                gamma,
                beta,
                eps,
                new int[] {mean, sub, pow, var, addEps, sqrt, div, mul, add});
    }

    private void findGelus() {
        for (int i = 0; i < g.size(); i++) {
            OnnxMl.NodeProto n = g.node(i);
            if (n.getOpType().equals("Gelu")) {
                boolean tanh = false;
                for (OnnxMl.AttributeProto a : n.getAttributeList()) {
                    tanh |=
                            a.getName().equals("approximate")
                                    && a.getS().toStringUtf8().equals("tanh");
                }
                if (!tanh) {
                    geluOutputByInput.put(n.getInput(0), n.getOutput(0));
                    geluNodes.put(n.getInput(0), new int[] {i});
                }
            } else if (n.getOpType().equals("Erf")) {
                int scale = g.producer(n.getInput(0));
                if (scale < 0) {
                    continue;
                }
                OnnxMl.NodeProto s = g.node(scale);
                float c = g.scalar(s.getInput(1));
                boolean byRoot2 =
                        (s.getOpType().equals("Div") && Math.abs(c - Math.sqrt(2)) < 1e-5)
                                || (s.getOpType().equals("Mul")
                                        && Math.abs(c - Math.sqrt(0.5)) < 1e-5);
                int plusOne = g.onlyConsumer(n.getOutput(0), "Add");
                if (!byRoot2 || plusOne < 0) {
                    continue;
                }
                String x = s.getInput(0);
                String erfPlusOne = g.node(plusOne).getOutput(0);
                if (g.scalar(other(g.node(plusOne), n.getOutput(0))) != 1f) {
                    continue;
                }
                int times = g.onlyConsumer(erfPlusOne, "Mul");
                if (times < 0) {
                    continue;
                }
                String factor = other(g.node(times), erfPlusOne);
                int half = g.producer(factor, "Mul");
                if (factor.equals(x)) {
                    int last = g.onlyConsumer(g.node(times).getOutput(0), "Mul");
                    if (last >= 0
                            && g.scalar(other(g.node(last), g.node(times).getOutput(0))) == 0.5f) {
                        geluOutputByInput.put(x, g.node(last).getOutput(0));
                        geluNodes.put(x, new int[] {scale, i, plusOne, times, last});
                    }
                } else if (half >= 0
                        && g.node(half).getInputList().contains(x)
                        && g.scalar(other(g.node(half), x)) == 0.5f) {
                    geluOutputByInput.put(x, g.node(times).getOutput(0));
                    geluNodes.put(x, new int[] {scale, i, plusOne, half, times});
                }
            }
        }
    }

    private static String other(OnnxMl.NodeProto binary, String one) {
        return binary.getInput(0).equals(one) ? binary.getInput(1) : binary.getInput(0);
    }

    private boolean isFloatInitializer(String tensor, int rank) {
        OnnxMl.TensorProto t = g.isInitializer(tensor) ? g.constant(tensor) : null;
        return t != null
                && t.getDataType() == OnnxMl.TensorProto.DataType.FLOAT.getNumber()
                && t.getDimsCount() == rank;
    }

    private void claim(int[] nodes) {
        for (int n : nodes) {
            g.claim(n);
        }
    }

    private void claimUnusedConstants() {
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int i = 0; i < g.size(); i++) {
                OnnxMl.NodeProto n = g.node(i);
                if (g.isClaimed(i) || !n.getOpType().equals("Constant")) {
                    continue;
                }
                boolean allClaimed = true;
                for (int c : g.consumers(n.getOutput(0))) {
                    allClaimed &= g.isClaimed(c);
                }
                if (allClaimed) {
                    g.claim(i);
                    changed = true;
                }
            }
        }
    }

    private List<String> unmapped() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < g.size(); i++) {
            if (!g.isClaimed(i)) {
                OnnxMl.NodeProto n = g.node(i);
                String name = n.getName().isEmpty() ? "#" + i : n.getName();
                out.add(name + " (" + n.getOpType() + ")");
            }
        }
        return out;
    }

    private UnsupportedGraphException refuse(String reason) {
        claimUnusedConstants();
        return new UnsupportedGraphException("not a supported BERT encoder: " + reason, unmapped());
    }
}
