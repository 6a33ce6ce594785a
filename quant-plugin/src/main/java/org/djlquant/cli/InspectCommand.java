package org.djlquant.cli;

import ai.onnx.proto.OnnxMl;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedArtifacts;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code djlq inspect}: what an artifact is, read without running it. */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        description = {
            "Shows what an artifact is: for a TorchScript archive (.pt) its manifest, per-layer"
                    + " precision and kernel, and sizes; for an ONNX model (.onnx) its opset,"
                    + " inputs, outputs, operator counts and weight bytes per data type."
        })
final class InspectCommand implements Callable<Integer> {

    @CommandLine.ParentCommand private Djlq top;
    @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ARTIFACT", description = "A .pt or .onnx file.")
    Path artifact;

    @Option(names = "--json", description = "Print the result as JSON (schema djlq.inspect/1).")
    boolean json;

    @Override
    public Integer call() throws QuantizationException {
        CommandLine cl = spec.commandLine();
        Usage.existingFile(cl, "ARTIFACT", artifact);
        String name = artifact.getFileName().toString().toLowerCase(Locale.ROOT);
        long size;
        try {
            size = Files.size(artifact);
        } catch (IOException e) {
            throw new QuantizationException("cannot read the size of " + artifact, e);
        }
        JsonObject o = new JsonObject();
        o.addProperty("schema", "djlq.inspect/1");
        o.addProperty("file", artifact.toString());
        o.addProperty("sizeBytes", size);
        if (name.endsWith(".pt")) {
            QuantizationManifest m = QuantizedArtifacts.readManifest(artifact);
            o.addProperty("kind", "TORCHSCRIPT");
            o.add("manifest", JsonParser.parseString(m.toJson()));
            o.add("onnx", null);
            long stored = 0;
            long fp32 = 0;
            JsonArray layers = new JsonArray();
            for (QuantizationManifest.Layer l : m.layers()) {
                JsonObject j = new JsonObject();
                j.addProperty("path", l.path());
                j.addProperty("precision", l.mode() + " " + l.weightDtype());
                j.addProperty("kernel", l.kernel());
                j.addProperty("storedWeightBytes", l.storedWeightBytes());
                j.addProperty("float32WeightBytes", l.float32WeightBytes());
                layers.add(j);
                stored += l.storedWeightBytes();
                fp32 += l.float32WeightBytes();
            }
            o.add("layers", layers);
            o.addProperty("quantizedWeightBytes", stored);
            o.addProperty("quantizedWeightFloat32Bytes", fp32);
            if (json) {
                top.printJson(o);
            } else {
                var w = top.out();
                w.printf(
                        Locale.ROOT,
                        "%s: TorchScript archive, %.2f MB, qengine %s, libtorch %s, djl-quant %s%n",
                        artifact,
                        size / 1e6,
                        m.qengine().pytorchName(),
                        m.libtorchVersion(),
                        m.libraryVersion());
                w.printf(
                        Locale.ROOT,
                        "quantized layers: %d, weights %.2f MB stored (%.2f MB as FP32)%n",
                        m.layers().size(),
                        stored / 1e6,
                        fp32 / 1e6);
                for (QuantizationManifest.Layer l : m.layers()) {
                    w.printf(
                            Locale.ROOT,
                            "  %-36s %-8s %-5s %s%n",
                            l.path(),
                            l.mode(),
                            l.weightDtype(),
                            l.kernel());
                }
                w.flush();
            }
            return 0;
        }
        if (name.endsWith(".onnx")) {
            OnnxMl.ModelProto proto;
            try (InputStream in = Files.newInputStream(artifact)) {
                proto = OnnxMl.ModelProto.parseFrom(in);
            } catch (IOException e) {
                throw new QuantizationException(
                        artifact + " is not an ONNX model: " + e.getMessage(), e);
            }
            OnnxMl.GraphProto g = proto.getGraph();
            Map<String, Integer> ops = new TreeMap<>();
            g.getNodeList().forEach(n -> ops.merge(n.getOpType(), 1, Integer::sum));
            Map<String, Long> bytes = new TreeMap<>();
            for (OnnxMl.TensorProto t : g.getInitializerList()) {
                String dt = OnnxMl.TensorProto.DataType.forNumber(t.getDataType()).name();
                bytes.merge(dt, initializerBytes(t), Long::sum);
            }
            JsonObject x = new JsonObject();
            x.addProperty("producer", proto.getProducerName());
            long opset = 0;
            for (OnnxMl.OperatorSetIdProto s : proto.getOpsetImportList()) {
                if (s.getDomain().isEmpty()) {
                    opset = s.getVersion();
                }
            }
            x.addProperty("opset", opset);
            JsonArray inputs = new JsonArray();
            g.getInputList().forEach(i -> inputs.add(i.getName()));
            x.add("inputs", inputs);
            JsonArray outputs = new JsonArray();
            g.getOutputList().forEach(i -> outputs.add(i.getName()));
            x.add("outputs", outputs);
            JsonObject opsJson = new JsonObject();
            ops.forEach(opsJson::addProperty);
            x.add("operators", opsJson);
            JsonObject bytesJson = new JsonObject();
            bytes.forEach(bytesJson::addProperty);
            x.add("initializerBytes", bytesJson);
            // our exporter names every node <layer path>/<op>: group the operators by layer
            Map<String, java.util.Set<String>> byLayer = new java.util.LinkedHashMap<>();
            for (OnnxMl.NodeProto n : g.getNodeList()) {
                int slash = n.getName().lastIndexOf('/');
                if (slash > 0) {
                    byLayer.computeIfAbsent(
                                    n.getName().substring(0, slash),
                                    k -> new java.util.LinkedHashSet<>())
                            .add(n.getOpType());
                }
            }
            JsonArray layers = new JsonArray();
            byLayer.forEach(
                    (path, opTypes) -> {
                        JsonObject l = new JsonObject();
                        l.addProperty("path", path);
                        JsonArray a = new JsonArray();
                        opTypes.forEach(a::add);
                        l.add("operators", a);
                        layers.add(l);
                    });
            o.addProperty("kind", "ONNX");
            o.add("manifest", null);
            o.add("onnx", x);
            o.add("layers", layers);
            if (json) {
                top.printJson(o);
            } else {
                var w = top.out();
                w.printf(
                        Locale.ROOT,
                        "%s: ONNX model, %.2f MB, opset %d, producer %s%n",
                        artifact,
                        size / 1e6,
                        opset,
                        proto.getProducerName());
                w.printf("inputs %s, outputs %s%n", inputs, outputs);
                w.println("weights by data type:");
                bytes.forEach((k, v) -> w.printf(Locale.ROOT, "  %-8s %10.2f MB%n", k, v / 1e6));
                w.println("operators:");
                ops.forEach((k, v) -> w.printf(Locale.ROOT, "  %-28s %d%n", k, v));
                w.println("layers (from node names):");
                byLayer.forEach(
                        (k, v) -> w.printf(Locale.ROOT, "  %-36s %s%n", k, String.join(" ", v)));
                w.flush();
            }
            return 0;
        }
        throw new CommandLine.ParameterException(
                cl, "ARTIFACT '" + artifact + "' must be a .pt or an .onnx file");
    }

    private static long initializerBytes(OnnxMl.TensorProto t) {
        long raw = t.getRawData().size();
        if (raw > 0) {
            return raw;
        }
        return 4L * t.getFloatDataCount()
                + 4L * t.getInt32DataCount()
                + 8L * t.getInt64DataCount()
                + 8L * t.getDoubleDataCount();
    }
}
