package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** djlq sensitivity and djlq policy on a tiny BERT, then quantize with the policy found. */
class SensitivityPolicyCommandTest {

    @TempDir static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        CliFixtures.write(dir);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void sensitivityWritesReportFilesAndRanksEveryLayer() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "sensitivity",
                        p("tiny.onnx"),
                        "--calibration",
                        p("calib.txt"),
                        "--candidates",
                        "int8-dynamic,bf16",
                        "--max-sentences",
                        "8",
                        "--out",
                        p("sens"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals(
                Set.of(
                        "schema",
                        "model",
                        "backend",
                        "qengine",
                        "data",
                        "mostSensitiveFirst",
                        "report",
                        "files"),
                new TreeSet<>(o.keySet()));
        assertEquals("djlq.sensitivity/1", o.get("schema").getAsString());
        assertEquals("fbgemm", o.get("qengine").getAsString()); // the backend's own engine
        assertEquals(1, o.getAsJsonObject("data").get("batches").getAsInt()); // 8 / 8
        JsonObject ranking = o.getAsJsonObject("mostSensitiveFirst");
        assertEquals(Set.of("int8-dynamic", "bf16"), ranking.keySet());
        List<String> ranked = new ArrayList<>();
        ranking.getAsJsonArray("int8-dynamic").forEach(e -> ranked.add(e.getAsString()));
        assertEquals(new TreeSet<>(QuantizeInspectCommandTest.LINEARS), new TreeSet<>(ranked));
        JsonArray layers = o.getAsJsonObject("report").getAsJsonArray("layers");
        assertEquals(12, layers.size());
        for (String f : List.of("sensitivity.json", "sensitivity.md", "sensitivity.png")) {
            assertTrue(Files.size(dir.resolve("sens").resolve(f)) > 0, f);
        }
        byte[] png = Files.readAllBytes(dir.resolve("sens").resolve("sensitivity.png"));
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
    }

    @Test
    void policySearchWritesAPolicyThatQuantizeApplies() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "policy",
                        p("tiny.onnx"),
                        "--calibration",
                        p("calib.txt"),
                        "--max-drop",
                        "5",
                        "--objective",
                        "size",
                        "--precisions",
                        "fp32,int8-dynamic",
                        "--max-sentences",
                        "8",
                        "--cost-runs",
                        "2",
                        "--cost-cache",
                        p("costs"),
                        "--out",
                        p("found.json"),
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals("djlq.policy/1", o.get("schema").getAsString());
        double baseline = o.get("baselineMetric").getAsDouble();
        assertEquals(100.0, baseline, 1e-3); // FP32 against itself: cosine 1
        JsonObject chosen = o.getAsJsonObject("chosen");
        assertTrue(chosen.get("drop").getAsDouble() <= 5, chosen.toString());
        MixedPrecisionPolicy policy = MixedPrecisionPolicy.read(dir.resolve("found.json"));
        assertEquals(
                new TreeSet<>(QuantizeInspectCommandTest.LINEARS),
                new TreeSet<>(policy.assignment().keySet()));
        for (Precision prec : policy.assignment().values()) {
            assertTrue(
                    Set.of(Precision.FP32, Precision.INT8_DYNAMIC).contains(prec), prec.toString());
        }
        CliFixtures.Run q =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        p("found.json"),
                        "--calibration",
                        p("calib.txt"),
                        "--out",
                        p("found.pt"),
                        "--json");
        assertEquals(0, q.code(), q.err());
        long quantized =
                policy.assignment().values().stream().filter(Precision::isQuantized).count();
        assertEquals(quantized, q.json().getAsJsonArray("layers").size());
        assertTrue(
                quantized > 0,
                "minimising size within 5 points quantizes some layer: " + policy.toTable());
    }

    /** Runs {@code djlq policy} on the tiny BERT with 8 sentences, 2 cost runs and JSON output. */
    private static CliFixtures.Run policy(
            String precisions, String costCache, String out, String... extra) throws Exception {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "policy",
                                p("tiny.onnx"),
                                "--calibration",
                                p("calib.txt"),
                                "--precisions",
                                precisions,
                                "--max-sentences",
                                "8",
                                "--cost-runs",
                                "2",
                                "--cost-cache",
                                p(costCache),
                                "--out",
                                p(out),
                                "--json"));
        args.addAll(List.of(extra));
        return CliFixtures.run(args.toArray(new String[0]));
    }

    @Test
    void policyCalibratesWithWholeModelRunsAndKeepsTheFastestMeasuredCandidate() throws Exception {
        CliFixtures.Run r =
                policy(
                        "fp32,bf16,int8-dynamic",
                        "costs-verify",
                        "verified.json",
                        "--max-drop",
                        "5",
                        "--verify-top",
                        "2",
                        "--verify-rounds",
                        "2");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        JsonObject cal = o.getAsJsonObject("calibration");
        assertTrue(cal.get("enabled").getAsBoolean());
        assertEquals("measured", cal.get("source").getAsString());
        JsonObject whole = cal.getAsJsonObject("wholeModelMs");
        assertEquals(Set.of("fp32", "bf16", "int8-dynamic"), whole.keySet());
        whole.entrySet().forEach(e -> assertTrue(e.getValue().getAsDouble() > 0, e.toString()));
        // the best 2 predicted within budget plus the uniform ones (at most 3 precisions)
        JsonArray verified = o.getAsJsonArray("verified");
        assertTrue(verified.size() >= 1 && verified.size() <= 2 + 3, verified.toString());
        int chosen = 0;
        double chosenMs = 0;
        double fastest = Double.POSITIVE_INFINITY;
        for (var e : verified) {
            JsonObject v = e.getAsJsonObject();
            assertTrue(v.get("measuredMs").getAsDouble() > 0, v.toString());
            fastest = Math.min(fastest, v.get("measuredMs").getAsDouble());
            if (v.get("chosen").getAsBoolean()) {
                chosen++;
                chosenMs = v.get("measuredMs").getAsDouble();
            }
        }
        assertEquals(1, chosen, verified.toString());
        assertEquals(fastest, chosenMs, verified.toString());
        MixedPrecisionPolicy policy = MixedPrecisionPolicy.read(dir.resolve("verified.json"));
        assertEquals(verified.size(), policy.verifiedLatency().size());
        double measuredChosen = chosenMs;
        assertTrue(
                policy.verifiedLatency().stream()
                        .anyMatch(v -> v.chosen() && v.measuredMs() == measuredChosen),
                policy.verifiedLatency().toString());

        // second run: the calibration comes from the cost cache; both steps can be turned off
        CliFixtures.Run again =
                policy(
                        "fp32,bf16,int8-dynamic",
                        "costs-verify",
                        "unverified.json",
                        "--max-drop",
                        "5",
                        "--no-verify");
        assertEquals(0, again.code(), again.err());
        assertEquals(
                "cost cache",
                again.json().getAsJsonObject("calibration").get("source").getAsString());
        assertEquals(0, again.json().getAsJsonArray("verified").size());
        CliFixtures.Run off =
                policy(
                        "fp32,int8-dynamic",
                        "costs-off",
                        "off.json",
                        "--no-verify",
                        "--no-calibrate");
        assertEquals(0, off.code(), off.err());
        assertTrue(!off.json().getAsJsonObject("calibration").get("enabled").getAsBoolean());
        assertTrue(MixedPrecisionPolicy.read(dir.resolve("off.json")).verifiedLatency().isEmpty());
    }

    @Test
    void onnxRuntimeIsNotAPolicyBackend() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "policy",
                        p("tiny.onnx"),
                        "--calibration",
                        p("calib.txt"),
                        "--backend",
                        "onnxruntime",
                        "--out",
                        p("x.json"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--backend was 'onnxruntime'"), r.err());
        assertTrue(r.err().contains("allowed: fbgemm, qnnpack"), r.err());
    }
}
