package org.djlquant.backend.pytorch;

import ai.djl.engine.Engine;
import ai.djl.nn.Block;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.backend.pytorch.internal.TorchScriptArchive;
import org.djlquant.nn.UncalibratedLayerException;
import org.djlquant.policy.MixedPrecisionPolicy;

/**
 * Exports a whole (prepared and calibrated, converted in place, or plain) DJL block tree as ONE
 * TorchScript archive that plain DJL loads with the PyTorch engine: INT8 kernels for the quantized
 * layers, float ops for the rest, and a {@link QuantizationManifest} inside the zip.
 *
 * <p>Each block is lowered by the {@link BlockLowering} registered in {@link Lowerings} for its
 * exact class; a block without one is an {@link UnsupportedExportException} naming its path and
 * class. Quantized layers ({@code ObservedLinear} twins, after calibration):
 *
 * <ul>
 *   <li>DYNAMIC: {@code quantized::linear_dynamic} over per-channel INT8 weights (per-tensor
 *       weights are stored as equal per-channel scales), packed by the module's {@code
 *       __setstate__} while libtorch loads it (so for the engine current at load time), with the
 *       activation range reduction of the layer's config;
 *   <li>STATIC / QAT: the input is quantized with the calibrated scale and zero point (clamped to
 *       the 7-bit range first when the config reduces it, as the simulation does). A twin that
 *       observes its output (the preparer's default for static Linears) runs {@code
 *       quantized::linear} requantizing to those output parameters and hands the {@code quint8}
 *       tensor on (consumers dequantize it, or requantize it to their own input parameters); this
 *       works on every engine. A twin without output parameters whose output goes to float ops runs
 *       {@code quantized::linear_with_input_q_dq_qweight_dq_output_fp32} (fbgemm and onednn: {@link
 *       QEngine#X86}, {@link QEngine#FBGEMM} or {@link QEngine#ONEDNN}, not qnnpack): exactly the
 *       fake-quant simulation, INT8 GEMM with a float output. Inside a {@code SequentialBlock}, a
 *       static layer followed by another static layer (with an optional {@link
 *       ExportableBlocks#relu()} between) runs {@code quantized::linear} (or {@code linear_relu})
 *       requantizing straight to the next layer's calibrated input parameters: the activation stays
 *       {@code quint8} between them;
 *   <li>WEIGHT_ONLY INT8 (symmetric, per tensor or per output channel): int8 weights and float32
 *       scales run by {@code aten::_weight_int8pack_mm};
 *   <li>WEIGHT_ONLY INT4 (per group along the input features, a shape libtorch's kernel takes):
 *       4-bit weights stored two to a byte in a portable order with float32 scales and zero
 *       offsets, packed by {@code aten::_convert_weight_to_int4pack_for_cpu} in the submodule's
 *       {@code __setstate__} on the machine that loads the archive (the packed layout depends on
 *       that CPU), run by {@code aten::_weight_int4pack_mm_for_cpu};
 *   <li>other WEIGHT_ONLY forms: a float linear over the fake-quantized weights (the manifest's
 *       kernel says so).
 * </ul>
 *
 * <p>{@code ObservedConv2d} twins (STATIC / QAT, after calibration) run {@code quantized::conv2d}
 * ({@code conv2d_relu} when a ReLU follows) over INT8 weights (per tensor or per output channel)
 * packed by {@code quantized::conv2d_prepack} in the submodule's {@code __setstate__} at load, so
 * one archive runs on fbgemm / x86, onednn and qnnpack. The input is quantized with the calibrated
 * parameters (or taken as the {@code quint8} tensor the previous INT8 layer hands on); the output
 * is requantized to the twin's own output parameters if it observes its output, else to the input
 * parameters of the next static layer in the {@code SequentialBlock} when only a ReLU, {@link
 * ExportableBlocks#maxPool2d max pooling}, {@link ExportableBlocks#flatten() flatten}, identity or
 * dropout lie between (these run on the {@code quint8} tensor). With neither, the layer computes
 * the simulation's values with a float {@code aten::conv2d} over the fake-quantized input and
 * weights, and the manifest's kernel says so. DYNAMIC and WEIGHT_ONLY conv twins are refused.
 *
 * <p>Weight-only layers compute in the dtype given by {@link Builder#optWeightOnlyCompute} (FLOAT32
 * by default), with the same casts as the in-place {@code nn.WeightOnlyLinear}.
 *
 * <p>A model converted in place ({@code org.djlquant.nn.Converter}) exports too: its {@code
 * QuantizedLinear} and {@code QuantizedBertSelfAttention} blocks are lowered to the same kernels
 * over their own INT8 weights and parameters, computing exactly what the in-place model computes
 * (see {@code ConvertedLowerings}); the manifest gets the same per-layer entries. Its checksum
 * covers what DJL saves of the converted tree (the INT8 layers hold no float parameters).
 *
 * <p>The export reads the model; it does not change it. Not thread-safe: do not run the model or
 * change it while exporting.
 */
public final class TorchScriptExporter {

    /** The TorchScript module below {@code __torch__} that holds the generated classes. */
    static final String MODULE = "djlquant.export";

    static final String QUALIFIED = "__torch__." + MODULE;

    private final Block block;
    private final QEngine engine;
    private final int inputCount;
    private final MixedPrecisionPolicy policy;
    private final WeightOnlyPackedLinear.Compute weightOnlyCompute;
    private final AttentionKernel attention;
    private final boolean int8Embeddings;
    private final boolean compressed;

    private TorchScriptExporter(Builder builder) {
        this.block = builder.block;
        this.weightOnlyCompute = builder.weightOnlyCompute;
        this.engine = builder.engine;
        this.inputCount = builder.inputCount;
        this.policy = builder.policy;
        this.attention = builder.attention;
        this.int8Embeddings = builder.int8Embeddings;
        this.compressed = builder.compressed;
    }

    /**
     * Starts a builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder: {@link #setBlock} required; engine and input count optional. */
    public static final class Builder {
        private Block block;
        private QEngine engine;
        private int inputCount = -1;
        private MixedPrecisionPolicy policy;
        private WeightOnlyPackedLinear.Compute weightOnlyCompute =
                WeightOnlyPackedLinear.Compute.FLOAT32;
        private AttentionKernel attention = AttentionKernel.MATMUL_SOFTMAX;
        private boolean compressed;
        private boolean int8Embeddings;

        private Builder() {}

        /**
         * Sets the dtype the weight-only kernels of the archive compute in, as {@code
         * Converter.convert(model, engine, compute)} does in place: FLOAT32 (float32 activations
         * and scales, libtorch's portable loops) or BFLOAT16 (activations, scales and zero offsets
         * cast to bfloat16 for the vectorized loops, the output cast back to float32). Default:
         * FLOAT32, the converter's default.
         *
         * @param compute the compute dtype
         * @return this builder
         */
        public Builder optWeightOnlyCompute(WeightOnlyPackedLinear.Compute compute) {
            this.weightOnlyCompute = compute;
            return this;
        }

        /**
         * Sets how BERT self-attention is lowered. Default: {@link AttentionKernel#MATMUL_SOFTMAX},
         * exactly the simulation.
         *
         * @param attention the attention kernel
         * @return this builder
         */
        public Builder optAttention(AttentionKernel attention) {
            this.attention = attention;
            return this;
        }

        /**
         * Sets whether BERT embedding tables (word and position; {@code BertEmbeddings}) are stored
         * INT8: symmetric, one scale per row ({@link
         * org.djlquant.scheme.QuantMath#quantizeRowsInt8}: {@code scale = max|row| / 127.5}, at
         * least {@code QuantMath.EPS}; {@code q = rint(x * (1f / scale))} in [-128, 127]). The
         * exported forward gathers the INT8 rows and their scales for the input ids and multiplies,
         * so the tables stay INT8 in memory too; each embedding element differs from the float one
         * by at most half a step. The same scheme as the ONNX exporter's {@code INT8_PER_ROW}
         * embeddings. Default: false (float tables). The token-type table (a few rows) stays float.
         *
         * @param int8Embeddings true to store the tables INT8 per row
         * @return this builder
         */
        public Builder optInt8Embeddings(boolean int8Embeddings) {
            this.int8Embeddings = int8Embeddings;
            return this;
        }

        /**
         * Sets whether the tensor records inside the archive are DEFLATE-compressed (libtorch
         * inflates them while loading; INT8 weights shrink by about a tenth, float ones less).
         * Default: false, every record STORED.
         *
         * @param compressed true to compress the tensor records
         * @return this builder
         */
        public Builder optCompressed(boolean compressed) {
            this.compressed = compressed;
            return this;
        }

        /**
         * Sets the model's root block (initialized, e.g. {@code model.getBlock()}).
         *
         * @param block the block tree to export
         * @return this builder
         */
        public Builder setBlock(Block block) {
            this.block = block;
            return this;
        }

        /**
         * Sets the quantized engine the archive is for (recorded in the manifest and checked at
         * load). Default: {@link QEngine#current()}.
         *
         * @param engine the engine
         * @return this builder
         */
        public Builder optEngine(QEngine engine) {
            this.engine = engine;
            return this;
        }

        /**
         * Sets how many input tensors {@code forward} takes. Default: the number of input shapes
         * the block was initialized with.
         *
         * @param inputCount the number of inputs, {@code >= 1}
         * @return this builder
         */
        public Builder optInputCount(int inputCount) {
            this.inputCount = inputCount;
            return this;
        }

        /**
         * Records the mixed-precision policy the model was quantized with in the manifest, so the
         * artifact says which precision each layer was given and why. Default: none.
         *
         * @param policy the policy, or {@code null} for none
         * @return this builder
         */
        public Builder optPolicy(MixedPrecisionPolicy policy) {
            this.policy = policy;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the exporter
         * @throws IllegalArgumentException if the block is missing or not initialized, or the input
         *     count is not {@code >= 1}
         */
        public TorchScriptExporter build() {
            if (block == null) {
                throw new IllegalArgumentException("block was null, must be set with setBlock");
            }
            if (!block.isInitialized()) {
                throw new IllegalArgumentException(
                        "block "
                                + block.getClass().getSimpleName()
                                + " was not initialized; initialize or load the model first");
            }
            if (weightOnlyCompute == null) {
                throw new IllegalArgumentException(
                        "weightOnlyCompute was null, must be one of "
                                + java.util.Arrays.toString(
                                        WeightOnlyPackedLinear.Compute.values()));
            }
            if (attention == null) {
                throw new IllegalArgumentException(
                        "attention was null, must be one of "
                                + java.util.Arrays.toString(AttentionKernel.values()));
            }
            if (engine == null) {
                engine = QEngine.current();
            }
            if (inputCount == -1) {
                inputCount = block.getInputShapes().length;
            }
            if (inputCount < 1) {
                throw new IllegalArgumentException(
                        "inputCount was " + inputCount + ", must be >= 1");
            }
            return new TorchScriptExporter(this);
        }
    }

    /**
     * Exports to bytes.
     *
     * @return the archive and its manifest
     * @throws UnsupportedExportException if a block cannot be lowered; names its path and class
     * @throws UncalibratedLayerException if a static layer was not calibrated
     * @throws QuantizationException if the parameters cannot be read
     */
    public Exported export() throws QuantizationException {
        Session session = new Session(engine, weightOnlyCompute, attention, int8Embeddings);
        List<TsValue> inputs = new ArrayList<>();
        StringBuilder signature = new StringBuilder();
        for (int i = 0; i < inputCount; i++) {
            inputs.add(TsValue.plain("x" + i));
            signature.append(",\n    x").append(i).append(": Tensor");
        }
        List<TsValue> outputs = session.lower(block, "", inputs);
        List<String> results = new ArrayList<>();
        LoweringContext root = new LoweringContext(session, block, "");
        for (TsValue v : outputs) {
            results.add(root.asFloat(v));
        }
        String returnType;
        String returned;
        if (results.size() == 1) {
            returnType = "Tensor";
            returned = results.get(0);
        } else {
            returnType =
                    "Tuple["
                            + String.join(", ", results.stream().map(r -> "Tensor").toList())
                            + "]";
            returned = "(" + String.join(", ", results) + ")";
        }
        String self = QUALIFIED + ".Model";
        StringBuilder code = new StringBuilder();
        code.append(QLinearCode.SOURCE);
        if (session.int4Layers > 0) {
            code.append(QInt4LinearCode.SOURCE);
        }
        if (session.convLayers > 0) {
            code.append(QConv2dCode.SOURCE);
        }
        code.append("class Model(Module):\n")
                .append("  __parameters__ = []\n")
                .append("  __buffers__ = []\n")
                .append("  training : bool\n");
        for (Map.Entry<String, String> e : session.declarations.entrySet()) {
            code.append("  ").append(e.getKey()).append(" : ").append(e.getValue()).append('\n');
        }
        code.append("  def forward(self: ")
                .append(self)
                .append(signature)
                .append(") -> ")
                .append(returnType)
                .append(":\n")
                .append(session.body)
                .append("    return ")
                .append(returned)
                .append('\n');
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        state.putAll(session.values);
        QuantizationManifest built =
                new QuantizationManifest(
                        QuantizationManifest.FORMAT_VERSION,
                        QuantizationManifest.LIBRARY_VERSION,
                        "PyTorch",
                        Engine.getEngine("PyTorch").getVersion(),
                        engine,
                        sourceChecksum(block),
                        session.layers);
        QuantizationManifest manifest = policy == null ? built : built.withPolicy(policy);
        byte[] bytes =
                TorchScriptArchive.builder("model")
                        .addCode(MODULE, code.toString())
                        .setRoot(new Pickler.ScriptObject(QUALIFIED, "Model", state))
                        .addExtra(
                                QuantizationManifest.FILE_NAME,
                                manifest.toJson().getBytes(StandardCharsets.UTF_8))
                        .optCompressTensors(compressed)
                        .toBytes();
        return new Exported(bytes, manifest);
    }

    /**
     * Exports and saves as {@code <dir>/<modelName>.pt}, the file DJL's {@code Criteria} (model
     * path {@code dir}, model name {@code modelName}) loads.
     *
     * @param dir the model folder, created if missing
     * @param modelName the model name: letters, digits, '_' and '-'
     * @return the manifest written into the archive
     * @throws UnsupportedExportException as {@link #export()}
     * @throws UncalibratedLayerException as {@link #export()}
     * @throws QuantizationException if the file cannot be written
     */
    public QuantizationManifest export(Path dir, String modelName) throws QuantizationException {
        if (modelName == null || !modelName.matches("[A-Za-z0-9_-]+")) {
            throw new IllegalArgumentException(
                    "modelName was '" + modelName + "', must match [A-Za-z0-9_-]+");
        }
        Exported exported = export();
        Path file = dir.resolve(modelName + ".pt");
        try {
            Files.createDirectories(dir);
            Files.write(file, exported.bytes());
        } catch (IOException e) {
            throw new QuantizationException("cannot write " + file + ": " + e.getMessage(), e);
        }
        return exported.manifest();
    }

    /**
     * An exported archive.
     *
     * @param bytes the {@code .pt} zip
     * @param manifest the manifest inside it
     */
    public record Exported(byte[] bytes, QuantizationManifest manifest) {}

    /**
     * SHA-256 of a block's parameters as DJL saves them ({@code Block.saveParameters}).
     *
     * @param block the block
     * @return lower-case hex
     * @throws QuantizationException if the parameters cannot be written
     */
    public static String sourceChecksum(Block block) throws QuantizationException {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            try (DataOutputStream out =
                    new DataOutputStream(
                            new DigestOutputStream(OutputStream.nullOutputStream(), digest))) {
                block.saveParameters(out);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        } catch (IOException e) {
            throw new QuantizationException(
                    "cannot write the parameters for the checksum: " + e.getMessage(), e);
        }
    }

    /** One export: the generated forward, attributes and manifest layers. */
    static final class Session {
        final QEngine engine;
        final WeightOnlyPackedLinear.Compute weightOnlyCompute;
        final AttentionKernel attention;
        final boolean int8Embeddings;
        final StringBuilder body = new StringBuilder();
        final Map<String, String> declarations = new LinkedHashMap<>();
        final Map<String, Object> values = new LinkedHashMap<>();
        final List<QuantizationManifest.Layer> layers = new ArrayList<>();
        int vars;
        int tensors;
        int modules;
        int int4Layers;
        int convLayers;

        Session(
                QEngine engine,
                WeightOnlyPackedLinear.Compute weightOnlyCompute,
                AttentionKernel attention,
                boolean int8Embeddings) {
            this.int8Embeddings = int8Embeddings;
            this.engine = Objects.requireNonNull(engine, "engine");
            this.weightOnlyCompute = Objects.requireNonNull(weightOnlyCompute, "compute");
            this.attention = Objects.requireNonNull(attention, "attention");
        }

        String attribute(String type, TensorData data) {
            String name = "t" + tensors++;
            declarations.put(name, type);
            values.put(name, data);
            return "self." + name;
        }

        String submodule(Pickler.ScriptObject object) {
            String name = "q" + modules++;
            declarations.put(name, QUALIFIED + "." + object.name());
            values.put(name, object);
            return "self." + name;
        }

        List<TsValue> lower(Block block, String path, List<TsValue> inputs) {
            BlockLowering<Block> lowering = Lowerings.find(block);
            if (lowering == null) {
                throw new UnsupportedExportException(
                        path,
                        block.getClass().getName(),
                        "no lowering is registered for this class (LambdaBlocks and"
                                + " ParallelBlocks are recognised only when made by"
                                + " ExportableBlocks); register one with Lowerings.register;"
                                + " classes with a lowering: "
                                + Lowerings.supportedClasses());
            }
            return lowering.lower(block, inputs, new LoweringContext(this, block, path));
        }
    }
}
