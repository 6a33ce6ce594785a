package org.djlquant.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.measure.SensitivityReport;
import org.djlquant.policy.measure.SensitivityRunner;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code djlq sensitivity}: per-layer sensitivity report and chart. */
@Command(
        name = "sensitivity",
        mixinStandardHelpOptions = true,
        description = {
            "Measures, for every Linear layer and candidate precision, the model output (mean-pooled"
                    + " sentence embedding) against FP32 with only that layer changed: SQNR (dB)"
                    + " and cosine. Writes sensitivity.json, sensitivity.md and sensitivity.png"
                    + " with --out."
        })
final class SensitivityCommand implements Callable<Integer> {

    @CommandLine.ParentCommand private Djlq top;
    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin MeasurementOptions input;

    @Option(
            names = "--backend",
            converter = Names.BackendConverter.class,
            completionCandidates = Names.BackendNames.class,
            defaultValue = "fbgemm",
            description =
                    "Whose INT8 configs are simulated: ${COMPLETION-CANDIDATES} (default:"
                            + " ${DEFAULT-VALUE}).")
    BackendTarget backend;

    @Option(
            names = "--candidates",
            split = ",",
            converter = Names.PrecisionConverter.class,
            completionCandidates = Names.PrecisionNames.class,
            defaultValue = "int8-dynamic,int8-static",
            description =
                    "Precisions to measure, comma separated, from: ${COMPLETION-CANDIDATES}"
                            + " except fp32 (default: ${DEFAULT-VALUE}).")
    List<Precision> candidates;

    @Option(
            names = "--all-but-this",
            converter = Names.PrecisionConverter.class,
            paramLabel = "PRECISION",
            description = "Also measure every layer in PRECISION except one (that one FP32).")
    Precision allButThis;

    @Option(names = "--out", paramLabel = "DIR", description = "Write the report files here.")
    Path out;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.sensitivity/1).")
    boolean json;

    @Override
    public Integer call() throws QuantizationException {
        CommandLine cl = spec.commandLine();
        ModelSource source = input.source(cl);
        Path tok = Usage.tokenizer(cl, source);
        input.checkSizes(cl);
        if (candidates.contains(Precision.FP32) || allButThis == Precision.FP32) {
            throw new CommandLine.ParameterException(
                    cl,
                    (allButThis == Precision.FP32 ? "--all-but-this" : "--candidates")
                            + " included fp32, the reference; allowed: "
                            + "fp16, bf16, int8-weight-only, int8-dynamic, int8-static,"
                            + " int4-weight-only");
        }
        QEngine engine = input.selectEngine(cl, backend);
        TokenBatches tokens = input.tokens(cl, tok);
        Set<Precision> set = EnumSet.copyOf(candidates);
        SensitivityReport report;
        try (Simulation sim =
                new Simulation(source, tokens, Usage.configs(cl, backend, input.int8Form))) {
            report =
                    SensitivityRunner.builder()
                            .setSimulator(sim.simulator)
                            .setManager(sim.manager())
                            .setBatches(sim.batches)
                            .optOutput(TokenBatches::meanPool)
                            .optCandidates(set)
                            .optAllButThis(allButThis)
                            .optProgress(top.progress())
                            .build()
                            .run();
        }
        JsonObject files = null;
        if (out != null) {
            try {
                Files.createDirectories(out);
                Files.writeString(out.resolve("sensitivity.json"), report.toJson() + "\n");
                Files.writeString(out.resolve("sensitivity.md"), report.toTable());
            } catch (IOException e) {
                throw new QuantizationException("cannot write the report to " + out, e);
            }
            report.writeChart(out.resolve("sensitivity.png"));
            files = new JsonObject();
            files.addProperty("json", out.resolve("sensitivity.json").toString());
            files.addProperty("table", out.resolve("sensitivity.md").toString());
            files.addProperty("chart", out.resolve("sensitivity.png").toString());
        }
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("schema", "djlq.sensitivity/1");
            o.addProperty("model", source.onnx().toString());
            o.addProperty("backend", Names.of(backend));
            o.addProperty("qengine", engine == null ? null : Names.of(engine));
            JsonObject c = new JsonObject();
            c.addProperty("file", input.calibration.toString());
            c.addProperty("sentences", tokens.sentences());
            c.addProperty("batches", tokens.size());
            o.add("data", c);
            JsonObject ranking = new JsonObject();
            for (Precision p : set) {
                JsonArray a = new JsonArray();
                report.ranking(p, ProxyMetric.SQNR_DB).forEach(a::add);
                ranking.add(Names.of(p), a);
            }
            o.add("mostSensitiveFirst", ranking);
            o.add("report", JsonParser.parseString(report.toJson()));
            o.add("files", files);
            top.printJson(o);
        } else {
            var w = top.out();
            w.printf(
                    Locale.ROOT,
                    "%s: %d layers, %d sentences in %d batches%s; output SQNR dB / cosine"
                            + " against FP32 with only that layer changed%n",
                    source.onnx(),
                    report.layers().size(),
                    tokens.sentences(),
                    tokens.size(),
                    engine == null ? "" : ", qengine " + Names.of(engine));
            w.print(report.toTable());
            for (Precision p : set) {
                List<String> r = report.ranking(p, ProxyMetric.SQNR_DB);
                w.printf(
                        Locale.ROOT,
                        "most sensitive at %s: %s%n",
                        Names.of(p),
                        String.join(", ", r.subList(0, Math.min(3, r.size()))));
            }
            if (files != null) {
                w.printf(
                        "wrote %s, %s, %s%n",
                        files.get("json").getAsString(),
                        files.get("table").getAsString(),
                        files.get("chart").getAsString());
            }
            w.flush();
        }
        return 0;
    }
}
