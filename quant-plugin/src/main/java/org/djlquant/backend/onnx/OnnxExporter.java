package org.djlquant.backend.onnx;

import ai.djl.nn.Block;
import ai.onnx.proto.OnnxMl;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.djlquant.QuantizationException;
import org.djlquant.nn.UncalibratedLayerException;
import org.djlquant.nn.transformer.BertModelBlock;

/**
 * Writes a DJL block tree — plain, or prepared and calibrated — as an ONNX model that ONNX Runtime
 * runs with quantized operators.
 *
 * <p>Every block is written by the {@link BlockLowering} its class is registered for (see {@link
 * LoweringRegistry#standard()}); an unregistered block is an {@link UnsupportedExportException}
 * naming its path and class. Linear layers follow their twin's config: no twin (a null config) →
 * float {@code MatMul + Add}; STATIC (and QAT without learnt scales) → QDQ: {@code QuantizeLinear /
 * DequantizeLinear} on the input with the calibrated scale and zero point, INT8 weight initializer
 * (quantized in Java, stored [in, out]) with {@code DequantizeLinear} (axis 1 for per-channel
 * scales), {@code MatMul}, {@code Add}; DYNAMIC → {@code DynamicQuantizeLinear + MatMulInteger} or
 * {@code com.microsoft.DynamicQuantizeMatMul} (see {@link ExportOptions.DynamicOperator});
 * WEIGHT_ONLY INT8 → {@code DequantizeLinear} weight and float {@code MatMul}. INT4 per-group
 * weights are refused.
 *
 * <p>A {@link BertModelBlock} root gets the inputs {@code input_ids}, {@code attention_mask},
 * {@code token_type_ids} (int64 [batch, sequence]) and the output {@code last_hidden_state}, so a
 * sentence translator written for the original ONNX file serves the export unchanged. Other roots
 * take the float inputs given with {@link Builder#optInput}.
 *
 * <p>Running it: load with DJL's OnnxRuntime engine ({@code Criteria.optEngine("OnnxRuntime")} or
 * {@code Model.newInstance(name, "OnnxRuntime")}) with the option {@code optLevel = ALL_OPT} (ONNX
 * Runtime's default, stated explicitly): at that level ONNX Runtime fuses each QDQ group into
 * integer kernels ({@code MatMulIntegerToFloat} / {@code QLinearMatMul}) and runs the dynamic
 * layers on its U8S8 GEMM; at {@code NO_OPT} the same graph runs in float through the DQ nodes.
 *
 * <p>Lifecycle: build, then {@link #toBytes()} or {@link #write(Path)} (each reads the current
 * weights and quantization parameters; no native resource is held). Not thread-safe with respect to
 * the block tree: do not train or calibrate while exporting.
 */
public final class OnnxExporter {

    /** The BERT input names, in the block's input order. */
    public static final List<String> BERT_INPUTS =
            List.of("input_ids", "attention_mask", "token_type_ids");

    /** The BERT output name. */
    public static final String BERT_OUTPUT = "last_hidden_state";

    private final Block block;
    private final Map<String, long[]> inputs;
    private final String outputName;
    private final ExportOptions options;
    private final LoweringRegistry registry;

    private OnnxExporter(Builder b) {
        this.block = b.block;
        this.inputs = new LinkedHashMap<>(b.inputs);
        this.outputName = b.outputName;
        this.options = new ExportOptions(b.opset, b.layerNorm, b.dynamicOperator, b.embeddings);
        this.registry = b.registry;
    }

    /**
     * Returns a new builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the options this exporter writes with.
     *
     * @return the options
     */
    public ExportOptions getOptions() {
        return options;
    }

    /**
     * Builds the ONNX model in memory.
     *
     * @return the serialized {@code ModelProto}
     * @throws UnsupportedExportException if a block or a config cannot be exported
     * @throws UncalibratedLayerException if a static layer was not calibrated
     */
    public byte[] toBytes() {
        return build(new LoweringContext(registry, options)).toByteArray();
    }

    /**
     * Writes the ONNX model to a file.
     *
     * @param file the target file (overwritten)
     * @return what was written
     * @throws QuantizationException if the file cannot be written
     * @throws UnsupportedExportException if a block or a config cannot be exported
     * @throws UncalibratedLayerException if a static layer was not calibrated
     */
    public ExportReport write(Path file) throws QuantizationException {
        LoweringContext ctx = new LoweringContext(registry, options);
        byte[] bytes = build(ctx).toByteArray();
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.write(file, bytes);
            return new ExportReport(file, Files.size(file), ctx.layers());
        } catch (IOException e) {
            throw new QuantizationException("cannot write the ONNX model to " + file, e);
        }
    }

    private OnnxMl.ModelProto build(LoweringContext ctx) {
        boolean bert = block instanceof BertModelBlock;
        List<String> names = new ArrayList<>();
        OnnxMl.GraphProto.Builder g = ctx.graph();
        if (bert) {
            for (String n : BERT_INPUTS) {
                names.add(n);
                g.addInput(valueInfo(n, OnnxMl.TensorProto.DataType.INT64, "batch", "sequence"));
                ctx.fresh(n);
            }
        } else {
            for (Map.Entry<String, long[]> e : inputs.entrySet()) {
                names.add(e.getKey());
                String[] dims = new String[e.getValue().length];
                for (int i = 0; i < dims.length; i++) {
                    long d = e.getValue()[i];
                    dims[i] = d < 0 ? e.getKey() + "_dim" + i : Long.toString(d);
                }
                g.addInput(valueInfo(e.getKey(), OnnxMl.TensorProto.DataType.FLOAT, dims));
                ctx.fresh(e.getKey());
            }
        }
        List<String> outs = ctx.lower(block, "", names);
        String out = outputName != null ? outputName : bert ? BERT_OUTPUT : "output";
        if (outs.size() != 1) {
            throw new UnsupportedExportException(
                    "",
                    block.getClass().getName(),
                    "the root block has " + outs.size() + " outputs",
                    List.of("one output"));
        }
        g.addNode(
                OnnxMl.NodeProto.newBuilder()
                        .setOpType("Identity")
                        .setName(ctx.fresh("output/Identity"))
                        .addInput(outs.get(0))
                        .addOutput(out));
        g.addOutput(valueInfo(out, OnnxMl.TensorProto.DataType.FLOAT));
        g.setName("djl-quant export");
        OnnxMl.ModelProto.Builder m =
                OnnxMl.ModelProto.newBuilder()
                        .setIrVersion(8)
                        .setProducerName("djl-quant")
                        .setGraph(g)
                        .addOpsetImport(
                                OnnxMl.OperatorSetIdProto.newBuilder()
                                        .setDomain("")
                                        .setVersion(options.opset()));
        if (ctx.usesMicrosoftDomain()) {
            m.addOpsetImport(
                    OnnxMl.OperatorSetIdProto.newBuilder()
                            .setDomain(LoweringContext.MICROSOFT_DOMAIN)
                            .setVersion(1));
        }
        return m.build();
    }

    private static OnnxMl.ValueInfoProto valueInfo(
            String name, OnnxMl.TensorProto.DataType type, String... dims) {
        OnnxMl.TypeProto.Tensor.Builder t =
                OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber());
        if (dims.length > 0) {
            OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
            for (String d : dims) {
                OnnxMl.TensorShapeProto.Dimension.Builder dim =
                        OnnxMl.TensorShapeProto.Dimension.newBuilder();
                if (d.chars().allMatch(Character::isDigit)) {
                    dim.setDimValue(Long.parseLong(d));
                } else {
                    dim.setDimParam(d);
                }
                s.addDim(dim);
            }
            t.setShape(s);
        }
        return OnnxMl.ValueInfoProto.newBuilder()
                .setName(name)
                .setType(OnnxMl.TypeProto.newBuilder().setTensorType(t))
                .build();
    }

    /** Builder of an {@link OnnxExporter}: {@code setBlock} required, the rest optional. */
    public static final class Builder {

        private Block block;
        private final Map<String, long[]> inputs = new LinkedHashMap<>();
        private String outputName;
        private int opset = 17;
        private ExportOptions.LayerNormForm layerNorm = ExportOptions.LayerNormForm.FUSED;
        private ExportOptions.DynamicOperator dynamicOperator =
                ExportOptions.DynamicOperator.MATMUL_INTEGER;
        private ExportOptions.EmbeddingPrecision embeddings =
                ExportOptions.EmbeddingPrecision.FLOAT;
        private LoweringRegistry registry;

        private Builder() {}

        /**
         * Sets the block tree to export (initialized; prepared and calibrated for quantized
         * layers).
         *
         * @param block the root block
         * @return this builder
         */
        public Builder setBlock(Block block) {
            this.block = block;
            return this;
        }

        /**
         * Adds a float32 graph input (not for a {@link BertModelBlock}, whose inputs are fixed).
         *
         * @param name the input name
         * @param dims its shape; {@code -1} for a dimension that varies (written symbolic)
         * @return this builder
         */
        public Builder optInput(String name, long... dims) {
            inputs.put(Objects.requireNonNull(name, "name"), dims.clone());
            return this;
        }

        /**
         * Sets the output name ({@code last_hidden_state} for BERT, {@code output} otherwise).
         *
         * @param name the output name
         * @return this builder
         */
        public Builder optOutputName(String name) {
            this.outputName = name;
            return this;
        }

        /**
         * Sets the opset of the default domain (17).
         *
         * @param opset the opset
         * @return this builder
         */
        public Builder optOpset(int opset) {
            this.opset = opset;
            return this;
        }

        /**
         * Sets how LayerNorm is written ({@code FUSED} by default).
         *
         * @param form the form
         * @return this builder
         */
        public Builder optLayerNorm(ExportOptions.LayerNormForm form) {
            this.layerNorm = form;
            return this;
        }

        /**
         * Sets how dynamic INT8 layers are written ({@code MATMUL_INTEGER} by default).
         *
         * @param operator the operator
         * @return this builder
         */
        public Builder optDynamicOperator(ExportOptions.DynamicOperator operator) {
            this.dynamicOperator = operator;
            return this;
        }

        /**
         * Sets how a BERT word-embedding table is stored ({@code FLOAT} by default).
         *
         * @param precision the precision
         * @return this builder
         */
        public Builder optEmbeddings(ExportOptions.EmbeddingPrecision precision) {
            this.embeddings = precision;
            return this;
        }

        /**
         * Sets the lowering registry ({@link LoweringRegistry#standard()} by default).
         *
         * @param registry the registry
         * @return this builder
         */
        public Builder optRegistry(LoweringRegistry registry) {
            this.registry = registry;
            return this;
        }

        /**
         * Validates and builds.
         *
         * @return the exporter
         * @throws IllegalArgumentException naming the field, the value given and what is allowed
         */
        public OnnxExporter build() {
            if (block == null) {
                throw new IllegalArgumentException("block was null, must be set with setBlock");
            }
            if (!block.isInitialized()) {
                throw new IllegalArgumentException(
                        "block "
                                + block.getClass().getSimpleName()
                                + " was not initialized, must be initialized (its weights are"
                                + " written)");
            }
            boolean bert = block instanceof BertModelBlock;
            if (bert && !inputs.isEmpty()) {
                throw new IllegalArgumentException(
                        "inputs were "
                                + inputs.keySet()
                                + " for a BertModelBlock, must be none (its inputs are "
                                + BERT_INPUTS
                                + ")");
            }
            if (!bert && inputs.isEmpty()) {
                throw new IllegalArgumentException(
                        "no input was given for a "
                                + block.getClass().getSimpleName()
                                + ", must add at least one with optInput(name, dims)");
            }
            if (registry == null) {
                registry = LoweringRegistry.standard();
            }
            // validates opset and enums
            new ExportOptions(opset, layerNorm, dynamicOperator, embeddings);
            return new OnnxExporter(this);
        }
    }
}
