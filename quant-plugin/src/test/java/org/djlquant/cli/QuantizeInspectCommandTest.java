package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** djlq quantize and djlq inspect on a tiny BERT written as ONNX in the test. */
class QuantizeInspectCommandTest {

    @TempDir static Path dir;

    /** The 12 Linear layers of a 2-layer BERT, by construction of BertLayer. */
    static final List<String> LINEARS = linears();

    private static List<String> linears() {
        List<String> out = new ArrayList<>();
        for (String layer : List.of("encoder.01", "encoder.02")) {
            for (String l :
                    List.of(
                            "attention.query",
                            "attention.key",
                            "attention.value",
                            "attention.output",
                            "intermediate",
                            "output")) {
                out.add(layer + "." + l);
            }
        }
        return out;
    }

    @BeforeAll
    static void fixtures() throws Exception {
        CliFixtures.write(dir);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    /** The compressed bytes of an archive's records other than the manifest. */
    private static long withoutManifest(Path archive) throws IOException {
        long sum = 0;
        try (ZipFile zip = new ZipFile(archive.toFile())) {
            for (ZipEntry e : java.util.Collections.list(zip.entries())) {
                if (!e.getName().endsWith(QuantizationManifest.FILE_NAME)) {
                    sum += e.getCompressedSize();
                }
            }
        }
        return sum;
    }

    private static List<String> paths(JsonArray layers) {
        List<String> out = new ArrayList<>();
        for (JsonElement e : layers) {
            out.add(e.getAsJsonObject().get("path").getAsString());
        }
        return out;
    }

    private static Set<String> keys(JsonObject o) {
        return new TreeSet<>(o.keySet());
    }

    @Test
    void staticTorchScriptJsonFollowsTheSchemaAndInspectReadsTheSameLayers() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "static",
                        "--calibration",
                        p("calib.txt"),
                        "--batch-size",
                        "4",
                        "--out",
                        p("static.pt"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals(
                Set.of(
                        "schema",
                        "model",
                        "method",
                        "policy",
                        "backend",
                        "qengine",
                        "int8Form",
                        "int8Embeddings",
                        "keepFp32",
                        "warnings",
                        "preparedLayers",
                        "calibration",
                        "artifact",
                        "layers"),
                keys(o));
        assertEquals("djlq.quantize/1", o.get("schema").getAsString());
        assertEquals("static", o.get("method").getAsString());
        assertTrue(o.get("policy").isJsonNull());
        assertEquals("fbgemm", o.get("backend").getAsString());
        assertEquals("fbgemm", o.get("qengine").getAsString());
        assertEquals("preset", o.get("int8Form").getAsString());
        assertEquals(0, o.getAsJsonArray("keepFp32").size());
        assertEquals(0, o.getAsJsonArray("warnings").size(), o.toString());
        JsonObject c = o.getAsJsonObject("calibration");
        assertEquals("text", c.get("format").getAsString());
        assertEquals(16, c.get("sentences").getAsInt());
        assertEquals(4, c.get("batches").getAsInt()); // 16 sentences / 4 per batch
        JsonObject a = o.getAsJsonObject("artifact");
        assertEquals("TORCHSCRIPT", a.get("kind").getAsString());
        long size = Files.size(dir.resolve("static.pt"));
        assertEquals(size, a.get("sizeBytes").getAsLong());
        assertEquals(Files.size(dir.resolve("tiny.onnx")), a.get("sourceSizeBytes").getAsLong());
        assertEquals(LINEARS, paths(o.getAsJsonArray("layers")));
        // the progress bar went to stderr, never into the JSON on stdout
        assertTrue(r.err().contains("calibrating"), r.err());

        CliFixtures.Run i = CliFixtures.run("inspect", p("static.pt"), "--json");
        assertEquals(0, i.code(), i.err());
        JsonObject x = i.json();
        assertEquals("djlq.inspect/1", x.get("schema").getAsString());
        assertEquals("TORCHSCRIPT", x.get("kind").getAsString());
        assertEquals(size, x.get("sizeBytes").getAsLong());
        assertTrue(x.get("onnx").isJsonNull());
        assertEquals("FBGEMM", x.getAsJsonObject("manifest").get("qengine").getAsString());
        assertEquals(LINEARS, paths(x.getAsJsonArray("layers")));
        long stored = 0;
        long fp32 = 0;
        for (JsonElement e : x.getAsJsonArray("layers")) {
            JsonObject l = e.getAsJsonObject();
            assertEquals("STATIC INT8", l.get("precision").getAsString());
            stored += l.get("storedWeightBytes").getAsLong();
            fp32 += l.get("float32WeightBytes").getAsLong();
        }
        // hidden 8, intermediate 16: 4 x 8x8 + 8x16 + 16x8 weights per layer, 2 layers, 4 bytes
        assertEquals(4L * 2 * (4 * 8 * 8 + 2 * 8 * 16), fp32);
        assertEquals(fp32, x.get("quantizedWeightFloat32Bytes").getAsLong());
        assertEquals(stored, x.get("quantizedWeightBytes").getAsLong());
        // 1 byte per weight, plus a 4-byte scale and a 1-byte zero point per output channel:
        // (4 x 8 + 16 + 8) channels per layer, 2 layers
        assertEquals(fp32 / 4 + 2 * (4 * 8 + 16 + 8) * 5, stored);
    }

    @Test
    void perChannelFormWithKeptLayersStoresOneScalePerChannelAndLeavesThoseLayersFloat()
            throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--int8-form",
                        "per-channel",
                        "--keep-fp32",
                        "encoder.*.output",
                        "--keep-fp32",
                        "encoder.09.*",
                        "--out",
                        p("perchannel.pt"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals("per-channel", o.get("int8Form").getAsString());
        assertEquals(2, o.getAsJsonArray("keepFp32").size());
        // the second glob names a layer the model does not have: reported, not ignored
        assertEquals(1, o.getAsJsonArray("warnings").size(), o.toString());
        assertTrue(o.getAsJsonArray("warnings").get(0).getAsString().contains("encoder.09.*"));
        // 12 Linear layers, the two FFN down-projections kept FP32
        assertEquals(10, o.get("preparedLayers").getAsInt());

        CliFixtures.Run i = CliFixtures.run("inspect", p("perchannel.pt"), "--json");
        assertEquals(0, i.code(), i.err());
        long stored = 0;
        long fp32 = 0;
        for (JsonElement e : i.json().getAsJsonArray("layers")) {
            JsonObject l = e.getAsJsonObject();
            String path = l.get("path").getAsString();
            assertFalse(path.endsWith(".output") && !path.endsWith("attention.output"), path);
            assertEquals("DYNAMIC INT8", l.get("precision").getAsString(), path);
            stored += l.get("storedWeightBytes").getAsLong();
            fp32 += l.get("float32WeightBytes").getAsLong();
        }
        // quantized per layer: 4 x 8x8 + 16x8 (intermediate) weights, 2 layers, 4 bytes each
        assertEquals(4L * 2 * (4 * 8 * 8 + 8 * 16), fp32);
        // per channel: a 4-byte scale and a 1-byte zero point per output channel (4 x 8 + 16)
        assertEquals(fp32 / 4 + 2 * (4 * 8 + 16) * 5, stored);
    }

    @Test
    void int8EmbeddingsMakeTheArtifactSmallerAndStillLoad() throws Exception {
        CliFixtures.Run plain =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--out",
                        p("e0.pt"),
                        "--json");
        CliFixtures.Run int8 =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--int8-embeddings",
                        "--out",
                        p("e1.pt"),
                        "--json");
        assertEquals(0, plain.code(), plain.err());
        assertEquals(0, int8.code(), int8.err());
        assertFalse(plain.json().get("int8Embeddings").getAsBoolean());
        assertTrue(int8.json().get("int8Embeddings").getAsBoolean());
        // the manifest of e1 lists two more entries, which outweighs the tables' saving on a
        // 40-word vocabulary: compare what the archives store besides the manifest
        long before = withoutManifest(dir.resolve("e0.pt"));
        long after = withoutManifest(dir.resolve("e1.pt"));
        assertTrue(after < before, after + " bytes with INT8 tables, " + before + " without");
        CliFixtures.Run i = CliFixtures.run("inspect", p("e1.pt"), "--json");
        assertEquals(0, i.code(), i.err());
        // the two tables are listed before the 12 Linears, only in the INT8-table artifact
        List<String> listed = paths(i.json().getAsJsonArray("layers"));
        assertEquals(List.of("embeddings.word", "embeddings.position"), listed.subList(0, 2));
        assertEquals(LINEARS, listed.subList(2, listed.size()));
        CliFixtures.Run i0 = CliFixtures.run("inspect", p("e0.pt"), "--json");
        assertEquals(LINEARS, paths(i0.json().getAsJsonArray("layers")));
    }

    @Test
    void perChannelFormIsAUsageErrorOnQnnpack() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--backend",
                        "qnnpack",
                        "--int8-form",
                        "per-channel",
                        "--out",
                        p("never.pt"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--int8-form per-channel with --backend qnnpack"), r.err());
        assertFalse(Files.exists(dir.resolve("never.pt")));
    }

    @Test
    void dynamicOnnxRuntimeArtifactHasOneIntegerMatMulPerLinear() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        dir.toString(), // the model folder form: its only .onnx file
                        "--method",
                        "dynamic",
                        "--backend",
                        "onnxruntime",
                        "--out",
                        p("dynamic.onnx"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertTrue(o.get("calibration").isJsonNull());
        assertEquals("ONNX", o.getAsJsonObject("artifact").get("kind").getAsString());
        assertTrue(o.get("qengine").isJsonNull());
        assertEquals(
                LINEARS,
                paths(o.getAsJsonArray("layers")).stream().filter(LINEARS::contains).toList());

        CliFixtures.Run i = CliFixtures.run("inspect", p("dynamic.onnx"), "--json");
        assertEquals(0, i.code(), i.err());
        JsonObject x = i.json();
        assertEquals("ONNX", x.get("kind").getAsString());
        assertTrue(x.get("manifest").isJsonNull());
        JsonObject onnx = x.getAsJsonObject("onnx");
        assertEquals("djl-quant", onnx.get("producer").getAsString());
        JsonArray inputs = onnx.getAsJsonArray("inputs");
        assertEquals("input_ids", inputs.get(0).getAsString());
        JsonObject ops = onnx.getAsJsonObject("operators");
        int integerMatMuls =
                (ops.has("MatMulInteger") ? ops.get("MatMulInteger").getAsInt() : 0)
                        + (ops.has("DynamicQuantizeMatMul")
                                ? ops.get("DynamicQuantizeMatMul").getAsInt()
                                : 0);
        assertEquals(12, integerMatMuls, ops.toString());
        assertTrue(onnx.getAsJsonObject("initializerBytes").has("INT8"), onnx.toString());
        int dynamicLayers = 0;
        for (JsonElement e : x.getAsJsonArray("layers")) {
            JsonObject l = e.getAsJsonObject();
            List<String> layerOps = new ArrayList<>();
            l.getAsJsonArray("operators").forEach(op -> layerOps.add(op.getAsString()));
            if (LINEARS.contains(l.get("path").getAsString())) {
                assertTrue(layerOps.contains("DynamicQuantizeLinear"), l.toString());
                dynamicLayers++;
            }
        }
        assertEquals(12, dynamicLayers);
    }

    @Test
    void humanOutputNamesTheArtifactAndEveryLayer() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--out",
                        p("dynamic.pt"));
        assertEquals(0, r.code(), r.err());
        assertTrue(
                r.out().contains("-> " + p("dynamic.pt") + " (dynamic, fbgemm, qengine fbgemm)"),
                r.out());
        for (String l : LINEARS) {
            assertTrue(r.out().contains(l), l);
        }
        assertFalse(r.err().contains("calibrating"), r.err());
    }

    @Test
    void weightOnlyInt8ArtifactRunsTheWeightOnlyKernel() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "weight-only-int8",
                        "--out",
                        p("wo.pt"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals(LINEARS, paths(r.json().getAsJsonArray("layers")));
        CliFixtures.Run i = CliFixtures.run("inspect", p("wo.pt"), "--json");
        assertEquals(0, i.code(), i.err());
        for (JsonElement e : i.json().getAsJsonArray("layers")) {
            JsonObject l = e.getAsJsonObject();
            assertEquals("WEIGHT_ONLY INT8", l.get("precision").getAsString());
            assertEquals("aten::_weight_int8pack_mm", l.get("kernel").getAsString());
        }
    }

    @Test
    void weightOnlyInt4ForOnnxRuntimeFailsWithTheExportersTypedError() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "weight-only-int4",
                        "--backend",
                        "onnxruntime",
                        "--out",
                        p("w4.onnx"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("djlq quantize: "), r.err());
        assertTrue(r.err().contains("Exception: "), r.err());
        assertEquals("", r.out());
        assertFalse(Files.exists(dir.resolve("w4.onnx")));
    }

    @Test
    void policyFileQuantizesOnlyTheLayersItNames() throws Exception {
        Path policy = dir.resolve("policy.json");
        Files.writeString(
                policy,
                "{\"format\": \""
                        + MixedPrecisionPolicy.FORMAT
                        + "\", \"strategy\": \"MANUAL\", \"layers\": ["
                        + "{\"path\": \"encoder.01.intermediate\", \"precision\": \"INT8_DYNAMIC\"},"
                        + "{\"path\": \"encoder.02.output\", \"precision\": \"INT8_STATIC\"},"
                        + "{\"path\": \"encoder.02.intermediate\", \"precision\": \"FP32\"}]}");
        assertEquals(
                Precision.INT8_STATIC,
                MixedPrecisionPolicy.read(policy).precision("encoder.02.output"));
        CliFixtures.Run noCalibration =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        policy.toString(),
                        "--out",
                        p("mixed.pt"));
        assertEquals(2, noCalibration.code());
        assertTrue(noCalibration.err().contains("has int8-static layers"), noCalibration.err());

        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        policy.toString(),
                        "--calibration",
                        p("labelled.jsonl"),
                        "--out",
                        p("mixed.pt"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals(policy.toString(), o.get("policy").getAsString());
        assertTrue(o.get("method").isJsonNull());
        assertEquals("jsonl", o.getAsJsonObject("calibration").get("format").getAsString());
        assertEquals(
                List.of("encoder.01.intermediate", "encoder.02.output"),
                paths(o.getAsJsonArray("layers")));
        CliFixtures.Run i = CliFixtures.run("inspect", p("mixed.pt"), "--json");
        JsonArray layers = i.json().getAsJsonArray("layers");
        assertEquals(
                "DYNAMIC INT8", layers.get(0).getAsJsonObject().get("precision").getAsString());
        assertEquals("STATIC INT8", layers.get(1).getAsJsonObject().get("precision").getAsString());
    }
}
