package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** djlq evaluate on a tiny BERT: the FP32 ONNX file on ONNX Runtime and its INT8 TorchScript. */
class EvaluateCommandTest {

    @TempDir static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        CliFixtures.write(dir);
        CliFixtures.Run q =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        dir.resolve("tiny.onnx").toString(),
                        "--method",
                        "dynamic",
                        "--out",
                        dir.resolve("dynamic.pt").toString());
        assertEquals(0, q.code(), q.err());
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void comparisonWithItselfAgreesExactly() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "evaluate",
                        p("tiny.onnx"),
                        "--compare",
                        p("tiny.onnx"),
                        "--data",
                        p("labelled.jsonl"),
                        "--runs",
                        "2",
                        "--warmup",
                        "1",
                        "--settle-ms",
                        "5",
                        "--batch-size",
                        "8",
                        "--folds",
                        "2",
                        "--probe-steps",
                        "50",
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        assertEquals(5, o.getAsJsonObject("speed").get("settleMs").getAsLong());
        assertEquals(
                Set.of("schema", "data", "speed", "models", "comparison"),
                new TreeSet<>(o.keySet()));
        assertEquals("djlq.evaluate/1", o.get("schema").getAsString());
        JsonObject data = o.getAsJsonObject("data");
        assertEquals(40, data.get("sentences").getAsInt());
        assertTrue(data.get("labelled").getAsBoolean());
        assertEquals("jsonl", data.get("format").getAsString());
        JsonObject c = o.getAsJsonObject("comparison");
        assertEquals(1.0, c.get("sizeRatio").getAsDouble());
        assertEquals(1.0, c.get("cosineMean").getAsDouble(), 1e-6);
        assertEquals(0.0, c.get("accuracyDelta").getAsDouble());
        assertEquals(2, o.getAsJsonArray("models").size());
        for (var e : o.getAsJsonArray("models")) {
            JsonObject m = e.getAsJsonObject();
            assertEquals(
                    Set.of(
                            "role",
                            "file",
                            "engine",
                            "qengine",
                            "sizeBytes",
                            "latencyMsMedian",
                            "throughputPerSecond",
                            "accuracy"),
                    new TreeSet<>(m.keySet()));
            assertEquals("OnnxRuntime", m.get("engine").getAsString());
            assertTrue(m.get("qengine").isJsonNull());
            assertEquals(Files.size(dir.resolve("tiny.onnx")), m.get("sizeBytes").getAsLong());
            assertTrue(m.get("latencyMsMedian").getAsDouble() > 0);
            // 8 sentences per timed run: throughput = 8 / median seconds
            assertEquals(
                    8000 / m.get("latencyMsMedian").getAsDouble(),
                    m.get("throughputPerSecond").getAsDouble(),
                    1e-6 * m.get("throughputPerSecond").getAsDouble());
            double acc = m.get("accuracy").getAsDouble();
            assertTrue(acc >= 0 && acc <= 1, "accuracy " + acc);
        }
    }

    @Test
    void int8ArtifactAgainstFp32OnnxReportsSizeAndAgreement() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "evaluate",
                        p("dynamic.pt"),
                        "--compare",
                        p("tiny.onnx"),
                        "--data",
                        p("calib.txt"),
                        "--runs",
                        "2",
                        "--warmup",
                        "1",
                        "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = r.json();
        JsonObject artifact = o.getAsJsonArray("models").get(0).getAsJsonObject();
        assertEquals("artifact", artifact.get("role").getAsString());
        assertEquals("PyTorch", artifact.get("engine").getAsString());
        assertEquals("fbgemm", artifact.get("qengine").getAsString());
        JsonObject c = o.getAsJsonObject("comparison");
        assertEquals(
                (double) Files.size(dir.resolve("tiny.onnx"))
                        / Files.size(dir.resolve("dynamic.pt")),
                c.get("sizeRatio").getAsDouble(),
                1e-9);
        double cos = c.get("cosineMean").getAsDouble();
        assertTrue(cos > 0.9 && cos < 1.0, "INT8 vs FP32 cosine " + cos);
        assertTrue(r.err().contains("embedding dynamic.pt"), r.err());
    }

    @Test
    void unlabelledTextGivesSpeedButNoAccuracy() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "--quiet",
                        "evaluate",
                        p("tiny.onnx"),
                        "--data",
                        p("calib.txt"),
                        "--runs",
                        "1",
                        "--warmup",
                        "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("16 sentences"), r.out());
        assertTrue(r.out().contains("baseline") == false, r.out());
        assertEquals("", r.err().replaceAll("(?m)^\\[main\\].*\\R", ""));
    }

    @Test
    void missingDataFileIsAUsageErrorNamingTheOption() throws Exception {
        CliFixtures.Run r = CliFixtures.run("evaluate", p("tiny.onnx"), "--data", p("none.jsonl"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--data '" + p("none.jsonl") + "' does not exist"), r.err());
    }

    @Test
    void malformedJsonlIsARuntimeFailureNamingTheLine() throws Exception {
        Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"good\", \"label\": 1}\n{oops\n");
        CliFixtures.Run r = CliFixtures.run("evaluate", p("tiny.onnx"), "--data", p("bad.jsonl"));
        assertEquals(1, r.code());
        assertTrue(r.err().contains("QuantizationException"), r.err());
        assertTrue(r.err().contains("bad.jsonl line 2 is not a JSON object"), r.err());
    }
}
