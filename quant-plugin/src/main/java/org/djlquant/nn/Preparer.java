package org.djlquant.nn;

import ai.djl.Model;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QConfigMapping.PathRule;
import org.djlquant.config.QConfigMapping.Resolution;

/**
 * Prepares a DJL block tree for calibration or quantization-aware training: walks every block by
 * child path and replaces each block that has a {@link BlockRewriter} (Linear, Conv1d, Conv2d, DJL
 * attention, and registered ones) and a non-null config by its {@link QuantTwin}.
 *
 * <p>Walk: containers of every kind ({@code SequentialBlock}, {@code ParallelBlock}, DJL's {@code
 * BertBlock} / {@code TransformerEncoderBlock} / {@code PointwiseFeedForwardBlock}, any user {@code
 * AbstractBlock}) are entered through {@link Block#getChildren()}; a {@code LambdaBlock} is
 * reported as opaque; other leaves stay float. Replacement swaps the child in the parent's children
 * list and in every parent field holding it (see {@link #prepare(Block, QConfigMapping)}).
 *
 * <p>Fusion (as PyTorch fuses Linear+ReLU and Conv2d+ReLU before observing): in a {@code
 * SequentialBlock}, a STATIC or QAT linear or conv2d twin directly followed by DJL's ReLU ({@code
 * Activation.reluBlock()}, a {@code LambdaBlock} named {@code "ReLU"}) computes the ReLU itself
 * ({@link ObservedLinear#isReluFused()}, {@link ObservedConv2d#isReluFused()}); the ReLU block
 * stays and is an identity on it. A linear twin's output observer and fake quantization then see
 * the ReLU's output; a conv2d twin observes no output (its kernel requantizes to the next static
 * layer's input parameters, whose observer sees the ReLU's output). A ReLU given as a Java function
 * ({@code SequentialBlock.add(Activation::relu)}, an anonymous {@code LambdaBlock}) cannot be
 * recognised and is not fused. A STATIC or QAT linear twin that directly follows such a linear
 * layer (through that ReLU or nothing) with the same activation spec and no learnt scales has no
 * input observer of its own: its "input" parameters are the producer's "output" parameters ({@link
 * TwinControl#sharedFrom}), so the converted chain stays INT8 between them.
 *
 * <p>Order of checks: first the whole tree is walked without changing anything, and a rule with a
 * config that matches only blocks that cannot be wrapped is an {@link UnsupportedBlockException};
 * then blocks are replaced; if a replacement fails, every replacement already made is undone before
 * the exception propagates. Path rules that match no block are warnings in the report. Not
 * thread-safe: prepare a model while nothing else uses it.
 */
public final class Preparer {

    private Preparer() {}

    /**
     * Prepares a model's block in place (the root block itself may be replaced, through {@link
     * Model#setBlock}).
     *
     * @param model the model, its block initialized or not
     * @param mapping which config each block gets
     * @return what was done to every block
     */
    public static PrepareReport prepare(Model model, QConfigMapping mapping) {
        Objects.requireNonNull(model, "model");
        Session s = new Session(mapping, model);
        Block root = model.getBlock();
        Block out = s.run(root);
        if (out != root) {
            model.setBlock(out);
        }
        return s.report();
    }

    /**
     * Prepares a block tree in place.
     *
     * <p>How a child is replaced: DJL blocks keep children in the protected {@code BlockList
     * children} of {@code AbstractBlock} and usually also in private fields the forward calls. The
     * twin takes the child's key and position in {@code children}, and, by reflection over the
     * parent's class hierarchy, every instance field, {@code List} element and array element that
     * held the child. Twins of {@code Linear} and {@code Conv2d} subclass them, so fields typed
     * {@code Linear} take them; a field whose type cannot hold the twin stops the replacement with
     * the field named (DJL's attention inside {@code TransformerEncoderBlock} is then rewired in
     * place instead, with a warning).
     *
     * @param root the root block; it cannot itself be replaced (use {@link #prepare(Model,
     *     QConfigMapping)} for a model whose root is a Linear)
     * @param mapping which config each block gets
     * @return what was done to every block
     */
    public static PrepareReport prepare(Block root, QConfigMapping mapping) {
        Session s = new Session(mapping, null);
        Block out = s.run(root);
        if (out != root) {
            s.rollback();
            throw new UnsupportedBlockException(
                    "(root)",
                    root.getClass().getSimpleName(),
                    "the root block itself would be replaced; prepare the Model instead or wrap"
                            + " the block in a SequentialBlock",
                    RewriterRegistry.wrappableClasses());
        }
        return s.report();
    }

    /** Clean path segments of a block's children, see {@link QConfigMapping}. */
    static Map<String, String> cleanSegments(BlockList children) {
        Map<String, String> seg = new LinkedHashMap<>();
        Map<String, Integer> counts = new HashMap<>();
        for (Pair<String, Block> c : children) {
            String key = c.getKey();
            int i = 0;
            while (i < key.length() && Character.isDigit(key.charAt(i))) {
                i++;
            }
            String digits = key.substring(0, i);
            String name = key.substring(i);
            Block b = c.getValue();
            Class<?> k =
                    b instanceof QuantTwin ? ((QuantTwin) b).original().getClass() : b.getClass();
            String s = name.isEmpty() || name.equals(k.getSimpleName()) ? digits : name;
            if (s.isEmpty()) {
                s = key;
            }
            seg.put(key, s);
            counts.merge(s, 1, Integer::sum);
        }
        seg.replaceAll((key, s) -> counts.get(s) > 1 ? key : s);
        return seg;
    }

    private static String join(String parent, String seg) {
        return parent.isEmpty() ? seg : parent + "." + seg;
    }

    /** One preparation: report being built and the undo log. */
    static final class Session {

        private final QConfigMapping mapping;
        private final Model model;
        private final List<PrepareReport.Entry> entries = new ArrayList<>();
        private final List<String> warnings = new ArrayList<>();
        private final List<QuantTwin> twins = new ArrayList<>();
        private final List<Object[]> undo = new ArrayList<>();
        private final Map<Block, java.util.function.UnaryOperator<Block>> deferred =
                new java.util.IdentityHashMap<>();

        Session(QConfigMapping mapping, Model model) {
            this.mapping = Objects.requireNonNull(mapping, "mapping");
            this.model = model;
        }

        Block run(Block root) {
            Objects.requireNonNull(root, "root block");
            validate(root);
            try {
                Block out = visit(null, null, root, "", "");
                fuse(out);
                return out;
            } catch (RuntimeException e) {
                rollback();
                throw e;
            }
        }

        PrepareReport report() {
            return new PrepareReport(entries, warnings, twins);
        }

        void rollback() {
            for (int i = undo.size() - 1; i >= 0; i--) {
                Object[] u = undo.get(i);
                ChildSwapper.replace((Block) u[0], (String) u[1], (Block) u[3], (Block) u[2]);
            }
            undo.clear();
        }

        // ---- pass 3: fuse static chains ----------------------------------------------------

        /**
         * In every {@code SequentialBlock}: a STATIC/QAT linear twin directly followed by a DJL
         * ReLU computes the ReLU itself, so its output observer sees {@code relu(y)}; a static
         * linear twin that directly consumes such an output (through the ReLU or nothing) takes its
         * input parameters from the producer's output observer instead of observing its own.
         */
        private void fuse(Block block) {
            if (block instanceof SequentialBlock) {
                List<Block> list = new ArrayList<>();
                block.getChildren().forEach(c -> list.add(c.getValue()));
                for (int i = 0; i < list.size(); i++) {
                    if (list.get(i) instanceof ObservedConv2d c
                            && c.control().config().mode().observesActivations()
                            && i + 1 < list.size()
                            && isRelu(list.get(i + 1))) {
                        c.fuseRelu();
                        continue;
                    }
                    if (!(list.get(i) instanceof ObservedLinear t) || !staticWithOutput(t)) {
                        continue;
                    }
                    int j = i + 1;
                    if (j < list.size() && isRelu(list.get(j))) {
                        t.fuseRelu();
                        j++;
                    }
                    if (j < list.size()
                            && list.get(j) instanceof ObservedLinear u
                            && u.control().config().mode().observesActivations()
                            && u.control().has(TwinControl.INPUT)
                            && sameActivationQuantization(t, u)) {
                        u.control().shareParams(TwinControl.INPUT, t.control(), TwinControl.OUTPUT);
                    }
                }
            }
            for (Pair<String, Block> c : block.getChildren()) {
                if (!(c.getValue() instanceof QuantTwin)) {
                    fuse(c.getValue());
                }
            }
        }

        private static boolean staticWithOutput(ObservedLinear t) {
            return t.control().config().mode().observesActivations()
                    && t.control().has(TwinControl.OUTPUT);
        }

        private static boolean sameActivationQuantization(ObservedLinear t, ObservedLinear u) {
            QConfig a = t.control().config();
            QConfig b = u.control().config();
            return !a.learnableScale()
                    && !b.learnableScale()
                    && a.activationSpec().equals(b.activationSpec());
        }

        /** DJL's {@code Activation.reluBlock()}: a LambdaBlock named "ReLU". */
        static boolean isRelu(Block b) {
            return b instanceof LambdaBlock l && "ReLU".equals(l.getName());
        }

        // ---- pass 1: nothing changes -------------------------------------------------------

        private void validate(Block root) {
            for (Map.Entry<Class<? extends Block>, QConfig> rule :
                    mapping.classRules().entrySet()) {
                if (rule.getValue() != null && RewriterRegistry.find(rule.getKey()) == null) {
                    throw new UnsupportedBlockException(
                            "(class rule)",
                            rule.getKey().getSimpleName(),
                            "a config was given for a block class that has no twin",
                            RewriterRegistry.wrappableClasses());
                }
            }
            Map<PathRule, int[]> stats = new LinkedHashMap<>();
            Map<PathRule, String> firstUnwrappable = new HashMap<>();
            for (PathRule r : mapping.pathRules()) {
                stats.put(r, new int[3]); // matched, wrappable-or-container, unwrappable
            }
            walkAll(root, "", "", stats, firstUnwrappable);
            for (Map.Entry<PathRule, int[]> e : stats.entrySet()) {
                PathRule r = e.getKey();
                int[] n = e.getValue();
                if (n[0] == 0) {
                    warnings.add(
                            "path rule " + r + " matched no block; check the paths in this report");
                } else if (r.config() != null && n[1] == 0) {
                    String[] first = firstUnwrappable.get(r).split("\t");
                    throw new UnsupportedBlockException(
                            first[0],
                            first[1],
                            "path rule "
                                    + r
                                    + " gives a "
                                    + r.config().mode()
                                    + " config only to blocks that cannot be wrapped",
                            RewriterRegistry.wrappableClasses());
                }
            }
        }

        private void walkAll(
                Block block,
                String raw,
                String clean,
                Map<PathRule, int[]> stats,
                Map<PathRule, String> firstUnwrappable) {
            if (block instanceof QuantTwin) {
                throw new IllegalStateException(
                        "block "
                                + (raw.isEmpty() ? "(root)" : raw)
                                + " is already a twin ("
                                + block.getClass().getSimpleName()
                                + "); prepare a model only once");
            }
            BlockList children = block.getChildren();
            if (!raw.isEmpty()) {
                boolean wrappable = RewriterRegistry.find(block.getClass()) != null;
                boolean container = !children.isEmpty() && !(block instanceof LambdaBlock);
                for (Map.Entry<PathRule, int[]> e : stats.entrySet()) {
                    if (e.getKey().matches(raw) || e.getKey().matches(clean)) {
                        int[] n = e.getValue();
                        n[0]++;
                        if (wrappable || container) {
                            n[1]++;
                        } else {
                            n[2]++;
                            firstUnwrappable.putIfAbsent(
                                    e.getKey(), raw + "\t" + block.getClass().getSimpleName());
                        }
                    }
                }
            }
            Map<String, String> seg = cleanSegments(children);
            for (Pair<String, Block> c : children) {
                walkAll(
                        c.getValue(),
                        join(raw, c.getKey()),
                        join(clean, seg.get(c.getKey())),
                        stats,
                        firstUnwrappable);
            }
        }

        // ---- pass 2: replace -----------------------------------------------------------------

        private Block visit(Block parent, String key, Block block, String raw, String clean) {
            String cls = block.getClass().getSimpleName();
            BlockRewriter rewriter = RewriterRegistry.find(block.getClass());
            BlockList children = block.getChildren();
            if (rewriter != null) {
                Resolution r =
                        raw.isEmpty()
                                ? mapping.resolve("(root)", "(root)", block.getClass())
                                : mapping.resolve(raw, clean, block.getClass());
                if (r.config() != null) {
                    RewriteContext ctx =
                            new RewriteContext(this, parent, block, raw, clean, r.config());
                    int at = entries.size();
                    Block out = rewriter.rewrite(ctx);
                    entries.add(
                            at,
                            new PrepareReport.Entry(
                                    display(raw),
                                    display(clean),
                                    cls,
                                    PrepareReport.Status.WRAPPED,
                                    r.config(),
                                    r.source()));
                    if (out != block) {
                        if (parent != null) {
                            swap(parent, key, block, out);
                        } else if (model == null) {
                            return out;
                        }
                    }
                    if (out instanceof QuantTwin) {
                        twins.add(twins.size(), (QuantTwin) out);
                    }
                    return out;
                }
                String reason =
                        r.matched() ? "config null by " + r.source() : "no rule and no global";
                if (children.isEmpty()) {
                    entries.add(entry(raw, clean, cls, PrepareReport.Status.FLOAT, reason));
                    return block;
                }
                entries.add(entry(raw, clean, cls, PrepareReport.Status.CONTAINER, reason));
            } else if (block instanceof LambdaBlock) {
                entries.add(
                        entry(
                                raw,
                                clean,
                                cls,
                                PrepareReport.Status.OPAQUE,
                                "LambdaBlock runs a Java function; its operations cannot be"
                                        + " seen or wrapped and stay float"));
                return block;
            } else if (children.isEmpty()) {
                entries.add(
                        entry(
                                raw,
                                clean,
                                cls,
                                PrepareReport.Status.FLOAT,
                                "no twin for " + cls + " (float op)"));
                return block;
            } else {
                entries.add(entry(raw, clean, cls, PrepareReport.Status.CONTAINER, "walked into"));
            }
            Map<String, String> seg = cleanSegments(children);
            for (Pair<String, Block> c : children) {
                visit(
                        block,
                        c.getKey(),
                        c.getValue(),
                        join(raw, c.getKey()),
                        join(clean, seg.get(c.getKey())));
            }
            java.util.function.UnaryOperator<Block> later = deferred.remove(block);
            if (later != null) {
                Block replacement = later.apply(block);
                if (parent != null) {
                    swap(parent, key, block, replacement);
                } else if (model == null) {
                    return replacement;
                }
                for (Pair<String, Block> c : replacement.getChildren()) {
                    if (c.getValue() instanceof QuantTwin && !twins.contains(c.getValue())) {
                        twins.add((QuantTwin) c.getValue());
                    }
                }
                for (int i = 0; i < entries.size(); i++) {
                    PrepareReport.Entry e = entries.get(i);
                    if (e.path().equals(display(raw))) {
                        entries.set(
                                i,
                                entry(
                                        raw,
                                        clean,
                                        cls,
                                        PrepareReport.Status.CONTAINER,
                                        "replaced by "
                                                + replacement.getClass().getSimpleName()
                                                + " to observe attention probabilities"));
                    }
                }
                return replacement;
            }
            return block;
        }

        void defer(Block parent, java.util.function.UnaryOperator<Block> factory) {
            deferred.put(parent, factory);
        }

        private static String display(String path) {
            return path.isEmpty() ? "(root)" : path;
        }

        private static PrepareReport.Entry entry(
                String raw, String clean, String cls, PrepareReport.Status status, String why) {
            return new PrepareReport.Entry(display(raw), display(clean), cls, status, null, why);
        }

        private void swap(Block parent, String key, Block old, Block replacement) {
            String why = ChildSwapper.whyNot(parent, old, replacement.getClass());
            if (why != null) {
                throw new UnsupportedBlockException(
                        key,
                        old.getClass().getSimpleName(),
                        "cannot be replaced in its parent "
                                + parent.getClass().getSimpleName()
                                + ": "
                                + why,
                        RewriterRegistry.wrappableClasses());
            }
            ChildSwapper.replace(parent, key, old, replacement);
            undo.add(new Object[] {parent, key, old, replacement});
        }

        // ---- services for rewriters ---------------------------------------------------------

        ObservedLinear wrapLinear(RewriteContext ctx, String childKey, boolean observeOutput) {
            Block owner = ctx.block();
            BlockList children = ChildSwapper.childrenOf(owner);
            Block child = children.get(childKey);
            if (!(child instanceof Linear) || child instanceof QuantTwin) {
                throw new IllegalArgumentException(
                        "child "
                                + childKey
                                + " of "
                                + ctx.path()
                                + " is "
                                + (child == null ? "missing" : child.getClass().getSimpleName())
                                + ", must be a Linear");
            }
            String raw = join(ctx.path(), childKey);
            String clean = join(ctx.cleanPath(), cleanSegments(children).get(childKey));
            Resolution r = mapping.resolve(raw, clean, child.getClass());
            QConfig config = ctx.config();
            String source = "from " + ctx.cleanPath();
            if (r.pathRule() != null && r.exactPathMatch()) {
                config = r.config();
                source = r.source();
            }
            if (config == null) {
                entries.add(
                        entry(
                                raw,
                                clean,
                                "Linear",
                                PrepareReport.Status.FLOAT,
                                "config null by " + source));
                return null;
            }
            ObservedLinear twin = new ObservedLinear((Linear) child, raw, config, observeOutput);
            swap(owner, childKey, child, twin);
            entries.add(
                    new PrepareReport.Entry(
                            raw,
                            clean,
                            "Linear",
                            PrepareReport.Status.WRAPPED,
                            config,
                            source + (observeOutput ? " (output observed: matmul input)" : "")));
            twins.add(twin);
            return twin;
        }

        void leaveFloat(RewriteContext ctx, String childKey, String reason) {
            BlockList children = ChildSwapper.childrenOf(ctx.block());
            Block child = children.get(childKey);
            entries.add(
                    entry(
                            join(ctx.path(), childKey),
                            join(ctx.cleanPath(), cleanSegments(children).get(childKey)),
                            child == null ? "?" : child.getClass().getSimpleName(),
                            PrepareReport.Status.FLOAT,
                            reason));
        }

        void warn(String message) {
            warnings.add(message);
        }

        String whyNotReplaceable(Block parent, Block block, Class<? extends Block> cls) {
            if (parent == null) {
                return model == null ? "it is the root block and no Model was given" : null;
            }
            return ChildSwapper.whyNot(parent, block, cls);
        }
    }
}
