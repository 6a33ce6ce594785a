package org.djlquant.nn;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.function.Function;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QEngineUnavailableException;
import org.djlquant.backend.pytorch.WeightOnlyPackedLinear;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.LayerKind;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.transformer.BertSelfAttention;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QParams;

/**
 * Converts a prepared model (calibrated, or trained with QAT) to real INT8 in place: every {@link
 * QuantTwin} is replaced by a block that runs libtorch's quantized kernels, with the same swap
 * mechanics as {@link Preparer} (children list and parent fields, see {@link ChildSwapper}). The
 * model's input and output types do not change, so its translator and predictor keep working.
 *
 * <pre>{@code
 * Preparer.prepare(model, QConfigMapping.global(QConfig.staticInt8(BackendTarget.FBGEMM)));
 * Calibrator.builder().setModel(model).build().calibrate(batches);
 * ConvertReport report = Converter.convert(model, QEngine.X86);
 * }</pre>
 *
 * <p>What becomes what:
 *
 * <ul>
 *   <li>{@link ObservedLinear} → {@link QuantizedLinear}: DYNAMIC stays dynamic; STATIC and QAT
 *       become static, with the twin's "input" parameters for the input and its "output" parameters
 *       for the output (prepare observes Linear outputs for STATIC and QAT configs for this
 *       purpose). A {@code LambdaBlock} named {@code "ReLU"} ({@code Activation.reluBlock()}) that
 *       directly follows a static layer in a {@link SequentialBlock} is fused: the layer runs
 *       {@code quantized::linear_relu} with its own output parameters (requantizing then clamping
 *       at the zero point equals ReLU-then-fake-quant exactly), and the ReLU block is replaced by
 *       an identity named {@code "ReLU fused into <path>"}. When the next block of that
 *       SequentialBlock (after the fused ReLU, if any) is a static layer whose input parameters
 *       equal this layer's output parameters (prepare shares them for Linear → ReLU → Linear), the
 *       activation stays {@code quint8} between the two (see {@link QuantizedLinear#getNext()}). A
 *       ReLU directly following a DYNAMIC layer is fused the same way: the layer runs {@code
 *       quantized::linear_relu_dynamic} (fbgemm clamps its float output at 0 in the requantization,
 *       which equals a ReLU after it) and the ReLU block becomes that identity;
 *   <li>{@link ObservedBertSelfAttention} → {@link QuantizedBertSelfAttention} (INT8 projections,
 *       float softmax and matmuls); a dynamic BERT attention, rewired in place by prepare, keeps
 *       its block and gets {@link QuantizedLinear} projections;
 *   <li>an {@link ObservedLinear} prepared {@link QMode#WEIGHT_ONLY} → {@link WeightOnlyLinear}
 *       (INT8 per channel or INT4 per group, float activations, libtorch's CPU weight-only kernels,
 *       from the twin's "weight" parameters; this includes the projections of a weight-only BERT
 *       attention, which prepare wraps in place). An INT4 shape libtorch cannot take is refused
 *       with {@link WeightOnlyShapeException};
 *   <li>{@link ObservedConv2d} prepared STATIC or QAT → {@link QuantizedConv2d} ({@code
 *       quantized::conv2d}, per-tensor or per-channel weights, the twin's "input" parameters; the
 *       output is requantized to the calibrated input parameters of the next static layer of its
 *       SequentialBlock, past ReLU, max pooling, flatten, identity or dropout, where the simulation
 *       rounds it, as the TorchScript exporter does; a static conv with no such layer after it is
 *       refused with {@link UnsupportedBlockException}); a ReLU block named {@code "ReLU"} directly
 *       after it in a {@link SequentialBlock} is fused ({@code quantized::conv2d_relu}) and
 *       replaced by the same identity as for linear layers. A conv2d twin prepared DYNAMIC or
 *       WEIGHT_ONLY is refused with {@link UnsupportedModeException} (libtorch has no such
 *       convolution kernel; the modes allowed are the backend's, {@link BackendTarget#modes});
 *   <li>any other twin (Conv1d, DJL's attention) is refused with {@link UnsupportedBlockException}
 *       naming its path and class.
 * </ul>
 *
 * <p>Order: the engine is selected ({@link QEngine#select}, process-wide) before any weight is
 * packed; then every twin is checked against the backend's capability table ({@link BackendTarget}:
 * {@link QEngine#QNNPACK} uses {@link BackendTarget#QNNPACK}, the others {@link
 * BackendTarget#FBGEMM}) and every INT8 block is built; only then is the tree changed, so a refusal
 * leaves the prepared model as it was.
 *
 * <p>Resources: each layer's packed weights are attached to the owner manager (the model's {@code
 * NDManager} for {@link #convert(Model, QEngine)}), which frees them exactly once when it is
 * closed; closing again is harmless. The float parameters stay in the model until it is closed.
 *
 * <p>Converting twice: the second call throws {@link IllegalStateException} (the model holds INT8
 * blocks and no twins). Not thread-safe: convert while nothing else uses the model.
 */
public final class Converter {

    private Converter() {}

    /**
     * Converts a prepared model in place.
     *
     * @param model the prepared model; its root block may itself be replaced
     * @param engine the quantized engine to select and pack for
     * @return what was converted, and the engine in use
     * @throws QEngineUnavailableException if this libtorch build does not have {@code engine}
     * @throws UncalibratedLayerException if a static layer was never calibrated
     * @throws BackendCapabilityException if the backend cannot run a layer's config
     * @throws UnsupportedBlockException for a twin the converter has no INT8 form for
     * @throws IllegalStateException if the model holds no twins (never prepared, or already
     *     converted)
     * @throws QuantizationException if libtorch refuses to pack a weight
     */
    public static ConvertReport convert(Model model, QEngine engine) throws QuantizationException {
        return convert(model, engine, WeightOnlyPackedLinear.Compute.FLOAT32);
    }

    /**
     * Converts a prepared model in place, with weight-only layers computing in the given dtype (see
     * {@link WeightOnlyLinear}; other layers ignore it).
     *
     * @param model the prepared model; its root block may itself be replaced
     * @param engine the quantized engine to select and pack for
     * @param weightOnlyCompute FLOAT32 (matches the simulation, slow loops) or BFLOAT16 (fast
     *     loops, bfloat16 activations)
     * @return what was converted, and the engine in use
     * @throws QEngineUnavailableException if this libtorch build does not have {@code engine}
     * @throws UncalibratedLayerException if a static layer was never calibrated
     * @throws BackendCapabilityException if the backend cannot run a layer's config
     * @throws UnsupportedBlockException for a twin the converter has no INT8 form for
     * @throws WeightOnlyShapeException for a weight-only shape the kernel cannot take
     * @throws IllegalStateException if the model holds no twins
     * @throws QuantizationException if libtorch refuses to pack a weight
     */
    public static ConvertReport convert(
            Model model, QEngine engine, WeightOnlyPackedLinear.Compute weightOnlyCompute)
            throws QuantizationException {
        Objects.requireNonNull(model, "model");
        Session s = new Session(engine, model.getNDManager(), weightOnlyCompute);
        Block root = model.getBlock();
        Block out = s.run(root);
        if (out != root) {
            model.setBlock(out);
        }
        return s.report;
    }

    /**
     * Converts a prepared block tree in place.
     *
     * @param root the root block (it cannot itself be a twin; convert the Model for that)
     * @param owner the manager that will own (and on close free) the packed weights
     * @param engine the quantized engine to select and pack for
     * @return what was converted, and the engine in use
     * @throws QEngineUnavailableException if this libtorch build does not have {@code engine}
     * @throws UncalibratedLayerException if a static layer was never calibrated
     * @throws BackendCapabilityException if the backend cannot run a layer's config
     * @throws UnsupportedBlockException for a twin the converter has no INT8 form for, or a twin
     *     root
     * @throws IllegalStateException if the tree holds no twins
     * @throws QuantizationException if libtorch refuses to pack a weight
     */
    public static ConvertReport convert(Block root, NDManager owner, QEngine engine)
            throws QuantizationException {
        return convert(root, owner, engine, WeightOnlyPackedLinear.Compute.FLOAT32);
    }

    /**
     * Converts a prepared block tree in place, with weight-only layers computing in the given dtype
     * (see {@link WeightOnlyLinear}).
     *
     * @param root the root block (it cannot itself be a twin; convert the Model for that)
     * @param owner the manager that will own (and on close free) the packed weights
     * @param engine the quantized engine to select and pack for
     * @param weightOnlyCompute FLOAT32 or BFLOAT16
     * @return what was converted, and the engine in use
     * @throws UnsupportedBlockException for a twin the converter has no INT8 form for, or a twin
     *     root
     * @throws WeightOnlyShapeException for a weight-only shape the kernel cannot take
     * @throws IllegalStateException if the tree holds no twins
     * @throws QuantizationException if libtorch refuses to pack a weight
     */
    public static ConvertReport convert(
            Block root,
            NDManager owner,
            QEngine engine,
            WeightOnlyPackedLinear.Compute weightOnlyCompute)
            throws QuantizationException {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(owner, "owner");
        if (root instanceof QuantTwin) {
            throw new UnsupportedBlockException(
                    "(root)",
                    root.getClass().getSimpleName(),
                    "the root block itself would be replaced; convert the Model instead",
                    convertible());
        }
        Session s = new Session(engine, owner, weightOnlyCompute);
        s.run(root);
        return s.report;
    }

    /**
     * Returns the twin classes the converter turns into INT8 blocks.
     *
     * @return simple class names
     */
    static List<String> convertible() {
        return List.of(
                ObservedLinear.class.getSimpleName(),
                ObservedConv2d.class.getSimpleName(),
                ObservedBertSelfAttention.class.getSimpleName());
    }

    /** One planned replacement. */
    private static final class Plan {
        final Block parent;
        final String key;
        final QuantTwin twin;
        final String reluKey;
        final int index;
        final List<Object[]> innerSwaps = new ArrayList<>();
        Block replacement;

        Plan(Block parent, String key, QuantTwin twin, String reluKey, int index) {
            this.parent = parent;
            this.key = key;
            this.twin = twin;
            this.reluKey = reluKey;
            this.index = index;
        }
    }

    private static final class Session {
        private final QEngine requested;
        private final NDManager owner;
        private final WeightOnlyPackedLinear.Compute compute;
        private final List<Plan> plans = new ArrayList<>();
        private final List<ConvertReport.Entry> entries = new ArrayList<>();
        private final List<QuantizedLinear> made = new ArrayList<>();
        private final List<WeightOnlyLinear> madeWeightOnly = new ArrayList<>();
        private final List<QuantizedConv2d> madeConv = new ArrayList<>();

        /** Clean paths ({@link BlockPaths}) of the tree's blocks, for messages. */
        private final Map<Block, String> clean = new IdentityHashMap<>();

        private int alreadyQuantized;
        private BackendTarget target;
        private ConvertReport report;

        Session(QEngine requested, NDManager owner, WeightOnlyPackedLinear.Compute compute) {
            this.compute = Objects.requireNonNull(compute, "weightOnlyCompute");
            if (requested == null) {
                throw new IllegalArgumentException(
                        "engine was null, must be one of " + QEngine.available());
            }
            this.requested = requested;
            this.owner = owner;
        }

        Block run(Block root) throws QuantizationException {
            QEngine.select(requested);
            QEngine inUse = QEngine.current();
            target = inUse == QEngine.QNNPACK ? BackendTarget.QNNPACK : BackendTarget.FBGEMM;
            BlockPaths.byCleanPath(root).forEach((path, b) -> clean.putIfAbsent(b, path));
            if (root instanceof QuantTwin) {
                plans.add(new Plan(null, null, (QuantTwin) root, null, 0));
            } else {
                walk(root, "");
            }
            if (plans.isEmpty()) {
                throw new IllegalStateException(
                        alreadyQuantized > 0
                                ? "the model holds "
                                        + alreadyQuantized
                                        + " INT8 blocks and no twins: it was converted already;"
                                        + " convert a freshly prepared model"
                                : "the model holds no twins: prepare it (Preparer.prepare) and"
                                        + " calibrate it before converting");
            }
            for (Plan p : plans) {
                check(p.twin);
            }
            try {
                for (Plan p : plans) {
                    p.replacement = build(p);
                }
                for (Plan p : plans) {
                    if (p.parent != null) {
                        String why =
                                ChildSwapper.whyNot(p.parent, p.twin, p.replacement.getClass());
                        if (why != null) {
                            throw new UnsupportedBlockException(
                                    where(p.twin),
                                    p.twin.path(),
                                    p.twin.getClass().getSimpleName(),
                                    "its INT8 form cannot be put in its parent "
                                            + p.parent.getClass().getSimpleName()
                                            + ": "
                                            + why,
                                    convertible());
                        }
                    }
                }
            } catch (QuantizationException | RuntimeException e) {
                for (QuantizedLinear l : made) {
                    l.packed().close();
                }
                for (WeightOnlyLinear l : madeWeightOnly) {
                    l.packed().close();
                }
                for (QuantizedConv2d l : madeConv) {
                    l.packed().close();
                }
                throw e;
            }
            for (QuantizedLinear l : made) {
                owner.attachInternal("djlquant-packed-" + UUID.randomUUID(), l.packed());
            }
            chainInt8(plans);
            for (QuantizedConv2d l : madeConv) {
                owner.attachInternal("djlquant-packed-conv-" + UUID.randomUUID(), l.packed());
            }
            for (WeightOnlyLinear l : madeWeightOnly) {
                owner.attachInternal("djlquant-weight-only-" + UUID.randomUUID(), l.packed());
            }
            Block newRoot = root;
            for (Plan p : plans) {
                Block inner = p.twin.original();
                for (Object[] s : p.innerSwaps) {
                    ChildSwapper.replace(inner, (String) s[0], (Block) s[1], (Block) s[2]);
                }
                if (p.parent == null) {
                    newRoot = p.replacement;
                    continue;
                }
                ChildSwapper.replace(p.parent, p.key, (Block) p.twin, p.replacement);
                if (p.reluKey != null) {
                    Block relu = ChildSwapper.childrenOf(p.parent).get(p.reluKey);
                    LambdaBlock identity =
                            new LambdaBlock(
                                    Function.identity(), "ReLU fused into " + p.twin.path());
                    if (relu.getInputShapes() != null) {
                        // initialized like the ReLU it replaces (DJL's metadata writers need it)
                        identity.initialize(owner, DataType.FLOAT32, relu.getInputShapes());
                    }
                    ChildSwapper.replace(p.parent, p.reluKey, relu, identity);
                }
            }
            report = new ConvertReport(inUse, entries, made, madeWeightOnly, madeConv);
            return newRoot;
        }

        /**
         * Keeps activations INT8 between a static layer and the static layer that consumes its
         * output next in the same SequentialBlock (directly, or through the ReLU fused into the
         * first) when the second's input parameters equal the first's output parameters.
         */
        private static void chainInt8(List<Plan> plans) {
            for (int k = 0; k + 1 < plans.size(); k++) {
                Plan a = plans.get(k);
                Plan b = plans.get(k + 1);
                if (!(a.parent instanceof SequentialBlock)
                        || a.parent != b.parent
                        || b.index != a.index + (a.reluKey != null ? 2 : 1)) {
                    continue;
                }
                if (a.replacement instanceof QuantizedConv2d ca
                        && b.replacement instanceof QuantizedConv2d cb) {
                    QParams out = ca.getOutputParams();
                    QParams in = cb.getInputParams();
                    if (out.scale() == in.scale()
                            && out.zeroPoint() == in.zeroPoint()
                            && out.spec().qmax() == in.spec().qmax()) {
                        ca.chain(cb);
                    }
                    continue;
                }
                if (!(a.replacement instanceof QuantizedLinear qa)
                        || !(b.replacement instanceof QuantizedLinear qb)
                        || qa.getMode() != QMode.STATIC
                        || qb.getMode() != QMode.STATIC) {
                    continue;
                }
                QParams out = qa.getOutputParams();
                QParams in = qb.getInputParams();
                if (out.scale() == in.scale() && out.zeroPoint() == in.zeroPoint()) {
                    qa.chain(qb);
                }
            }
        }

        private void walk(Block block, String path) {
            BlockList children = block.getChildren();
            for (int i = 0; i < children.size(); i++) {
                Pair<String, Block> c = children.get(i);
                Block child = c.getValue();
                String childPath = path.isEmpty() ? c.getKey() : path + "." + c.getKey();
                if (child instanceof QuantizedLinear
                        || child instanceof QuantizedBertSelfAttention
                        || child instanceof WeightOnlyLinear
                        || child instanceof QuantizedConv2d) {
                    alreadyQuantized++;
                    continue;
                }
                if (child instanceof QuantTwin) {
                    QuantTwin twin = (QuantTwin) child;
                    String reluKey = null;
                    if (block instanceof SequentialBlock
                            && (twin instanceof ObservedLinear
                                            && (twin.control().config().mode().observesActivations()
                                                    || twin.control().config().mode()
                                                            == QMode.DYNAMIC)
                                    || twin instanceof ObservedConv2d
                                            && twin.control().config().mode().observesActivations())
                            && i + 1 < children.size()
                            && children.get(i + 1).getValue() instanceof LambdaBlock
                            && "ReLU"
                                    .equals(
                                            ((LambdaBlock) children.get(i + 1).getValue())
                                                    .getName())) {
                        reluKey = children.get(i + 1).getKey();
                    }
                    plans.add(new Plan(block, c.getKey(), twin, reluKey, i));
                    continue;
                }
                walk(child, childPath);
            }
        }

        private void check(QuantTwin twin) {
            if (!(twin instanceof ObservedLinear
                    || twin instanceof ObservedConv2d
                    || twin instanceof ObservedBertSelfAttention)) {
                throw new UnsupportedBlockException(
                        where(twin),
                        twin.path(),
                        twin.getClass().getSimpleName(),
                        "the converter has no INT8 form for this twin kind",
                        convertible());
            }
            QConfig config = twin.control().config();
            if (twin instanceof ObservedConv2d) {
                try {
                    target.check(LayerKind.CONV2D, config);
                } catch (IllegalArgumentException e) {
                    Set<QMode> allowed = target.modes(LayerKind.CONV2D);
                    if (!allowed.contains(config.mode())) {
                        throw new UnsupportedModeException(
                                where(twin),
                                twin.path(),
                                LayerKind.CONV2D,
                                config.mode(),
                                allowed,
                                new IllegalArgumentException(
                                        e.getMessage()
                                                + " (QAT twins convert as STATIC; libtorch has no"
                                                + " dynamic or weight-only convolution kernel)",
                                        e));
                    }
                    throw new BackendCapabilityException(where(twin), twin.path(), e);
                }
                return;
            }
            if (config.mode() == QMode.WEIGHT_ONLY && !(twin instanceof ObservedLinear)) {
                throw new UnsupportedBlockException(
                        where(twin),
                        twin.path(),
                        twin.getClass().getSimpleName(),
                        "WEIGHT_ONLY has an in-place form for linear layers (ObservedLinear) only",
                        convertible());
            }
            try {
                target.check(config);
            } catch (IllegalArgumentException e) {
                throw new BackendCapabilityException(where(twin), twin.path(), e);
            }
            if (twin instanceof ObservedBertSelfAttention) {
                for (Pair<String, Block> c : twin.getChildren()) {
                    if (c.getValue() instanceof QuantTwin) {
                        check((QuantTwin) c.getValue());
                    }
                }
            }
        }

        private Block build(Plan p) throws QuantizationException {
            if (p.twin instanceof ObservedBertSelfAttention) {
                ObservedBertSelfAttention twin = (ObservedBertSelfAttention) p.twin;
                BertSelfAttention original = (BertSelfAttention) twin.original();
                entries.add(
                        new ConvertReport.Entry(
                                twin.path(),
                                twin.getClass().getSimpleName(),
                                QuantizedBertSelfAttention.class.getSimpleName(),
                                QMode.STATIC,
                                false,
                                0,
                                0));
                List<Object[]> swaps = new ArrayList<>();
                for (Pair<String, Block> c : ChildSwapper.childrenOf(original)) {
                    if (!(c.getValue() instanceof ObservedLinear)) {
                        throw new UnsupportedBlockException(
                                clean.getOrDefault(c.getValue(), where(twin) + "." + c.getKey()),
                                twin.path() + "." + c.getKey(),
                                c.getValue().getClass().getSimpleName(),
                                "the projections of a static BERT attention must all be INT8"
                                        + " (ObservedLinear); a float projection here is not"
                                        + " supported",
                                convertible());
                    }
                    swaps.add(
                            new Object[] {
                                c.getKey(),
                                c.getValue(),
                                linear((ObservedLinear) c.getValue(), false)
                            });
                }
                p.innerSwaps.addAll(swaps);
                QParams probs =
                        twin.control().has(TwinControl.PROBS)
                                ? params(twin, TwinControl.PROBS)
                                : null;
                return new QuantizedBertSelfAttention(original, twin.path(), QMode.STATIC, probs);
            }
            if (p.twin instanceof ObservedConv2d conv) {
                return conv2d(conv, p);
            }
            ObservedLinear linear = (ObservedLinear) p.twin;
            if (linear.control().config().mode() == QMode.WEIGHT_ONLY) {
                return weightOnly(linear);
            }
            return linear(linear, p.reluKey != null);
        }

        private WeightOnlyLinear weightOnly(ObservedLinear twin) throws QuantizationException {
            TwinWeights tw = weightsOf(twin, twin);
            long[] shape = tw.shape();
            float[] weight = tw.weight();
            float[] bias = tw.bias();
            WeightOnlyLinear.checkShape(
                    where(twin), twin.path(), shape, twin.control().config().weightSpec(), compute);
            WeightOnlyLinear q =
                    WeightOnlyLinear.create(
                            twin.path(),
                            weight,
                            shape,
                            params(twin, TwinControl.WEIGHT),
                            bias,
                            compute);
            madeWeightOnly.add(q);
            entries.add(
                    new ConvertReport.Entry(
                            twin.path(),
                            twin.getClass().getSimpleName(),
                            WeightOnlyLinear.class.getSimpleName(),
                            QMode.WEIGHT_ONLY,
                            false,
                            q.weightBytes(),
                            4L * weight.length));
            return q;
        }

        private QuantizedLinear linear(ObservedLinear twin, boolean fuseRelu)
                throws QuantizationException {
            TwinControl control = twin.control();
            QMode mode = control.config().mode() == QMode.DYNAMIC ? QMode.DYNAMIC : QMode.STATIC;
            TwinWeights tw = weightsOf(twin, twin);
            long[] shape = tw.shape();
            float[] weight = tw.weight();
            float[] bias = tw.bias();
            QParams wp = params(twin, TwinControl.WEIGHT);
            QParams in = null;
            QParams out = null;
            if (mode == QMode.STATIC) {
                in = params(twin, TwinControl.INPUT);
                if (!control.has(TwinControl.OUTPUT)) {
                    throw new IllegalStateException(
                            "layer "
                                    + where(twin)
                                    + ": a static twin without an output observer cannot be"
                                    + " converted; prepare it again with this version");
                }
                out = params(twin, TwinControl.OUTPUT);
            }
            QuantizedLinear q =
                    QuantizedLinear.create(
                            twin.path(),
                            mode,
                            weight,
                            shape,
                            wp,
                            bias,
                            in,
                            out,
                            fuseRelu,
                            control.config().activationSpec().reduceRange());
            q.adoptInputShapes(twin.getInputShapes());
            made.add(q);
            entries.add(
                    new ConvertReport.Entry(
                            twin.path(),
                            twin.getClass().getSimpleName(),
                            QuantizedLinear.class.getSimpleName(),
                            mode,
                            fuseRelu,
                            q.weightBytes(),
                            4L * weight.length));
            return q;
        }

        /**
         * Blocks between a conv and the next static layer through which a value rounded to that
         * layer's input grid arrives unchanged at its input quantization: ReLU, max pooling,
         * flatten, identity and dropout commute with rounding to an affine UINT8 grid that holds 0.
         * Names: DJL's {@code Activation.reluBlock()}, {@code Pool.maxPool2dBlock}, {@code
         * Blocks.batchFlattenBlock}, and the exporter's {@code ExportableBlocks} ops of these
         * kinds.
         */
        private static boolean keepsQuantized(Block b) {
            if (b instanceof ai.djl.nn.norm.Dropout) {
                return true;
            }
            return b instanceof LambdaBlock l
                    && (l.getName().equals("ReLU")
                            || l.getName().equals("maxPool2d")
                            || l.getName().equals("batchFlatten")
                            || l.getName().equals("flatten")
                            || l.getName().equals("identity"));
        }

        /**
         * The parameters a static conv requantizes its output to: the calibrated UINT8 per-tensor
         * input parameters of the next static layer of its SequentialBlock, past blocks that keep
         * quantized values ({@link #keepsQuantized}); the simulation rounds the conv's output
         * there.
         */
        private QParams requantizeTarget(Plan p) {
            if (!(p.parent instanceof SequentialBlock)) {
                return null;
            }
            BlockList children = ChildSwapper.childrenOf(p.parent);
            int j = p.index + 1;
            while (j < children.size() && keepsQuantized(children.get(j).getValue())) {
                j++;
            }
            if (j >= children.size()
                    || !(children.get(j).getValue() instanceof QuantTwin next)
                    || !(next instanceof ObservedLinear || next instanceof ObservedConv2d)
                    || !next.control().config().mode().observesActivations()
                    || !next.control().has(TwinControl.INPUT)) {
                return null;
            }
            QParams in = params(next, TwinControl.INPUT);
            return in.spec().dtype() == QDataType.UINT8
                            && in.spec().granularity().kind() == Granularity.Kind.PER_TENSOR
                    ? in
                    : null;
        }

        private QuantizedConv2d conv2d(ObservedConv2d twin, Plan p) throws QuantizationException {
            boolean fuseRelu = p.reluKey != null;
            TwinWeights tw = weightsOf(twin, twin);
            long[] shape = tw.shape();
            float[] weight = tw.weight();
            float[] bias = tw.bias();
            QParams wp = params(twin, TwinControl.WEIGHT);
            QParams in = params(twin, TwinControl.INPUT);
            QParams out = requantizeTarget(p);
            if (out == null) {
                throw new UnsupportedBlockException(
                        where(twin),
                        twin.path(),
                        twin.getClass().getSimpleName(),
                        "a static conv2d requantizes its output to the calibrated input parameters"
                                + " of the next static INT8 layer of its SequentialBlock (past ReLU,"
                                + " max pooling, flatten, identity or dropout), and none follows;"
                                + " map this conv to FP32 (a null config) or make the next layer"
                                + " static INT8",
                        convertible());
            }
            QuantizedConv2d q =
                    QuantizedConv2d.create(
                            twin.path(),
                            weight,
                            shape,
                            wp,
                            bias,
                            in,
                            out,
                            twin.getStride().getShape(),
                            twin.getPadding().getShape(),
                            twin.getDilation().getShape(),
                            twin.getGroups(),
                            fuseRelu);
            q.adoptInputShapes(twin.getInputShapes());
            madeConv.add(q);
            entries.add(
                    new ConvertReport.Entry(
                            twin.path(),
                            twin.getClass().getSimpleName(),
                            QuantizedConv2d.class.getSimpleName(),
                            QMode.STATIC,
                            fuseRelu,
                            q.weightBytes(),
                            4L * weight.length));
            return q;
        }

        /** The twin's clean path, or its raw path for a twin outside the converted tree. */
        /** A twin's weight values and shape, and its bias (null if it has none). */
        private record TwinWeights(float[] weight, long[] shape, float[] bias) {}

        private TwinWeights weightsOf(QuantTwin twin, Block block) {
            Parameter w = block.getParameters().get("weight");
            if (w == null || !w.isInitialized()) {
                throw new IllegalStateException(
                        "layer " + where(twin) + ": weight is not initialized; nothing to convert");
            }
            NDArray wa = w.getArray();
            Parameter b =
                    block.getParameters().contains("bias")
                            ? block.getParameters().get("bias")
                            : null;
            return new TwinWeights(
                    wa.toFloatArray(),
                    wa.getShape().getShape(),
                    b == null || !b.isInitialized() ? null : b.getArray().toFloatArray());
        }

        private String where(QuantTwin twin) {
            return clean.getOrDefault((Block) twin, twin.path());
        }

        private QParams params(QuantTwin twin, String role) {
            TwinControl control = twin.control();
            QParams p;
            try {
                p = control.params(role);
            } catch (IllegalStateException e) {
                throw new UncalibratedLayerException(where(twin), twin.path(), role, "convert", e);
            }
            if (control.config().learnableScale()) {
                Map<String, NDArray> learnt = control.learnedScales();
                NDArray s = learnt.get(role);
                if (s != null) {
                    float[] scales = s.toFloatArray();
                    for (int i = 0; i < scales.length; i++) {
                        scales[i] = Math.abs(scales[i]);
                    }
                    p = new QParams(p.spec(), scales, p.zeroPoints(), p.paramShape());
                }
            }
            return p;
        }
    }
}
