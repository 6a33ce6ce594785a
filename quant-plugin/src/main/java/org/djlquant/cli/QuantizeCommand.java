package org.djlquant.cli;

import ai.djl.Model;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.Quantizer;
import org.djlquant.calibrate.CalibrationSummary;
import org.djlquant.config.BackendTarget;
import org.djlquant.nn.PrepareReport;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code djlq quantize}: model in, quantized artifact out (prepare → calibrate → export). */
@Command(
        name = "quantize",
        mixinStandardHelpOptions = true,
        description = {
            "Quantizes a BERT-family ONNX model (or a DJL model folder holding one) and writes an"
                    + " artifact: a TorchScript archive (.pt, backends fbgemm and qnnpack) or an"
                    + " ONNX model (.onnx, backend onnxruntime).",
            "A .pt is packed for one libtorch quantized engine (--qengine; default: the engine"
                    + " a --policy was measured on, when the backend can use it, else the"
                    + " backend's own), recorded in its manifest; djlq evaluate selects it before"
                    + " loading."
        })
final class QuantizeCommand implements Callable<Integer> {

    @CommandLine.ParentCommand private Djlq top;
    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file or a model folder.")
    Path model;

    static final class How {
        @Option(
                names = "--method",
                converter = Names.MethodConverter.class,
                completionCandidates = Names.MethodNames.class,
                description = "One of: ${COMPLETION-CANDIDATES}.")
        Quantizer.Method method;

        @Option(
                names = "--policy",
                paramLabel = "FILE",
                description = "A mixed-precision policy file (djlq policy writes one).")
        Path policy;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    How how;

    @Option(
            names = "--backend",
            converter = Names.BackendConverter.class,
            completionCandidates = Names.BackendNames.class,
            defaultValue = "fbgemm",
            description = "One of: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    BackendTarget backend;

    @Option(
            names = "--qengine",
            converter = Names.QEngineConverter.class,
            completionCandidates = Names.QEngineNames.class,
            description =
                    "The libtorch quantized engine the .pt is packed for: one of"
                            + " ${COMPLETION-CANDIDATES}; fbgemm, x86 or onednn with --backend"
                            + " fbgemm (onednn is the fastest on CPUs with AMX / AVX-512 VNNI),"
                            + " qnnpack with --backend qnnpack (default: the engine a --policy"
                            + " was measured on if the backend can use it, else the backend's).")
    org.djlquant.backend.pytorch.QEngine qengine;

    @Option(
            names = "--int8-form",
            converter = Names.Int8FormConverter.class,
            defaultValue = "preset",
            description =
                    "How INT8 layers are quantized: preset (PyTorch's defaults: per-tensor dynamic"
                            + " weights, 7-bit activations on fbgemm) or per-channel (per-channel"
                            + " weights, full 8-bit activations: more accurate, exact on fbgemm"
                            + " with VNNI) (default: ${DEFAULT-VALUE}).")
    org.djlquant.policy.apply.PrecisionConfigs.Form int8Form;

    @Option(
            names = "--int8-embeddings",
            description =
                    "Store the word and position embedding tables INT8 per row in the artifact"
                            + " (weight-only; MiniLM: 90 MB -> about 21-25 MB with INT8 layers).")
    boolean int8Embeddings;

    @Option(
            names = "--keep-fp32",
            paramLabel = "GLOB",
            description =
                    "Keep the layers whose path matches GLOB in FP32 (repeatable; with --method),"
                            + " e.g. 'encoder.*.output'.")
    java.util.List<String> keepFp32 = new java.util.ArrayList<>();

    @Option(
            names = "--calibration",
            paramLabel = "FILE",
            description =
                    "Calibration sentences: text (one a line), JSONL ({\"text\": ...}) or a JSON"
                            + " array; required for static and policies with int8-static.")
    Path calibration;

    @Option(
            names = "--calibration-batches",
            paramLabel = "N",
            description = "Use at most N calibration batches (default: all).")
    Integer calibrationBatches;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The artifact.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The tokenizer.json.")
    Path tokenizer;

    @Option(names = "--batch-size", defaultValue = "8", description = "Sentences per batch.")
    int batchSize;

    @Option(names = "--max-length", defaultValue = "128", description = "Tokens per sentence.")
    int maxLength;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.quantize/1).")
    boolean json;

    @Override
    public Integer call() throws QuantizationException {
        CommandLine cl = spec.commandLine();
        ModelSource source = Usage.source(cl, model, tokenizer);
        Usage.positive(cl, "--batch-size", batchSize);
        Usage.atLeast(cl, "--max-length", maxLength, 2);
        if (calibrationBatches != null) {
            Usage.positive(cl, "--calibration-batches", calibrationBatches);
        }
        if (calibration != null) {
            Usage.existingFile(cl, "--calibration", calibration);
        }
        try {
            Quantizer.checkFileName(backend, out);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(
                    cl, "--out " + e.getMessage().replace("output file was", "was"));
        }
        Usage.configs(cl, backend, int8Form);
        if (qengine != null) {
            Usage.qengine(cl, backend, qengine);
        }
        if (!keepFp32.isEmpty() && how.policy != null) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--keep-fp32 "
                            + keepFp32
                            + " with --policy: a policy names its FP32 layers"
                            + " itself; use --method");
        }
        for (String glob : keepFp32) {
            if (glob.isBlank()) {
                throw new CommandLine.ParameterException(
                        cl, "--keep-fp32 was empty, must be a block path glob");
            }
        }
        MixedPrecisionPolicy policy = null;
        org.djlquant.backend.pytorch.QEngine engine = qengine;
        if (how.policy != null) {
            Usage.existingFile(cl, "--policy", how.policy);
            policy = MixedPrecisionPolicy.read(how.policy);
            engine = policyEngine(policy, backend, engine);
        }
        boolean needsStatic =
                how.method == Quantizer.Method.STATIC
                        || (policy != null
                                && policy.assignment().containsValue(Precision.INT8_STATIC));
        if (needsStatic && calibration == null) {
            throw new CommandLine.ParameterException(
                    cl,
                    "--calibration FILE is required: "
                            + (how.method != null
                                    ? "--method static"
                                    : "the policy " + how.policy + " has int8-static layers")
                            + " needs calibration sentences");
        }
        TextData.Data data = null;
        TokenBatches batches = null;
        if (calibration != null) {
            Path tok = Usage.tokenizer(cl, source);
            data = Usage.readData(cl, "--calibration", calibration);
            batches = TokenBatches.encode(tok, data.texts(), batchSize, maxLength);
        }
        long sourceSize = sizeOf(source.onnx());
        try (Model m = source.load()) {
            Quantizer.Builder b =
                    Quantizer.builder()
                            .optBackend(backend)
                            .optQEngine(engine)
                            .optInt8Form(int8Form)
                            .optInt8Embeddings(int8Embeddings)
                            .optProgress(top.progress());
            keepFp32.forEach(b::optKeepFloat);
            if (policy != null) {
                b.setPolicy(policy);
            } else {
                b.setMethod(how.method);
            }
            if (batches != null) {
                b.optCalibration(batches.fresh(m.getNDManager()));
            }
            if (calibrationBatches != null) {
                b.optMaxCalibrationBatches(calibrationBatches);
            }
            Quantizer q = b.build();
            PrepareReport prepared = q.prepare(m);
            Optional<CalibrationSummary> calibrated = q.calibrate(m);
            Quantizer.Artifact artifact = q.export(m, out);
            if (json) {
                top.printJson(
                        toJson(source, policy, prepared, calibrated, data, artifact, sourceSize));
            } else {
                printText(source, prepared, calibrated, artifact, sourceSize);
            }
        }
        return 0;
    }

    private JsonObject toJson(
            ModelSource source,
            MixedPrecisionPolicy policy,
            PrepareReport prepared,
            Optional<CalibrationSummary> calibrated,
            TextData.Data data,
            Quantizer.Artifact artifact,
            long sourceSize) {
        JsonObject o = new JsonObject();
        o.addProperty("schema", "djlq.quantize/1");
        o.addProperty("model", source.onnx().toString());
        o.addProperty("method", how.method == null ? null : Names.of(how.method));
        o.addProperty("policy", how.policy == null ? null : how.policy.toString());
        o.addProperty("backend", Names.of(backend));
        o.addProperty(
                "qengine",
                artifact.manifest() == null ? null : Names.of(artifact.manifest().qengine()));
        o.addProperty("int8Form", Names.of(int8Form));
        o.addProperty("int8Embeddings", int8Embeddings);
        JsonArray kept = new JsonArray();
        keepFp32.forEach(kept::add);
        o.add("keepFp32", kept);
        JsonArray warnings = new JsonArray();
        prepared.warnings().forEach(warnings::add);
        o.add("warnings", warnings);
        o.addProperty("preparedLayers", prepared.twins().size());
        if (calibrated.isPresent()) {
            JsonObject c = new JsonObject();
            c.addProperty("file", calibration.toString());
            c.addProperty("format", data.format().name().toLowerCase(Locale.ROOT));
            c.addProperty("sentences", data.texts().size());
            c.addProperty("batches", calibrated.get().batches());
            c.addProperty("millis", calibrated.get().millis());
            o.add("calibration", c);
        } else {
            o.add("calibration", null);
        }
        JsonObject a = new JsonObject();
        a.addProperty("kind", artifact.kind().name());
        a.addProperty("file", artifact.file().toString());
        a.addProperty("sizeBytes", artifact.sizeBytes());
        a.addProperty("sourceSizeBytes", sourceSize);
        a.addProperty("compression", (double) sourceSize / artifact.sizeBytes());
        o.add("artifact", a);
        JsonArray layers = new JsonArray();
        for (Map.Entry<String, String> e : artifact.layers().entrySet()) {
            JsonObject l = new JsonObject();
            l.addProperty("path", e.getKey());
            l.addProperty("lowering", e.getValue());
            layers.add(l);
        }
        o.add("layers", layers);
        return o;
    }

    private void printText(
            ModelSource source,
            PrepareReport prepared,
            Optional<CalibrationSummary> calibrated,
            Quantizer.Artifact artifact,
            long sourceSize) {
        var w = top.out();
        w.printf(
                Locale.ROOT,
                "%s -> %s (%s, %s%s)%n",
                source.onnx(),
                artifact.file(),
                how.method != null ? Names.of(how.method) : "policy " + how.policy,
                Names.of(backend),
                artifact.manifest() == null
                        ? ""
                        : ", qengine " + Names.of(artifact.manifest().qengine()));
        w.printf(Locale.ROOT, "prepared layers: %d%n", prepared.twins().size());
        prepared.warnings().forEach(x -> w.printf(Locale.ROOT, "warning: %s%n", x));
        calibrated.ifPresent(
                c ->
                        w.printf(
                                Locale.ROOT,
                                "calibration: %d batches in %.1f s%n",
                                c.batches(),
                                c.millis() / 1000.0));
        w.printf(
                Locale.ROOT,
                "size: %.2f MB -> %.2f MB (%.2fx smaller)%n",
                sourceSize / 1e6,
                artifact.sizeBytes() / 1e6,
                (double) sourceSize / artifact.sizeBytes());
        artifact.layers().forEach((k, v) -> w.printf(Locale.ROOT, "  %-36s %s%n", k, v));
        w.flush();
    }

    /**
     * The engine to pack for: {@code --qengine} when given; else the engine the policy's latencies
     * were measured on ({@code djlq policy --qengine}), when this backend can use it and this
     * libtorch has it; else null (the backend's default).
     */
    static org.djlquant.backend.pytorch.QEngine policyEngine(
            MixedPrecisionPolicy policy,
            BackendTarget backend,
            org.djlquant.backend.pytorch.QEngine given) {
        if (given != null || policy.qengine().isEmpty()) {
            return given;
        }
        org.djlquant.backend.pytorch.QEngine measured = policy.qengine().get();
        return Quantizer.compatibleQEngines(backend).contains(measured)
                        && org.djlquant.backend.pytorch.QEngine.available().contains(measured)
                ? measured
                : null;
    }

    private static long sizeOf(Path file) throws QuantizationException {
        try {
            return Files.size(file);
        } catch (java.io.IOException e) {
            throw new QuantizationException("cannot read the size of " + file, e);
        }
    }
}
