package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.djlquant.backend.pytorch.QEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * djlq sensitivity / policy --qengine: bad values are usage errors naming the option, the value and
 * what is allowed; a real run on the tiny BERT measures on the engine given, records it, and keeps
 * one cost-cache file per engine (timings of one engine never serve another).
 */
class MeasureQEngineCommandTest {

    @TempDir static Path dir;

    private static QEngine initial;

    @BeforeAll
    static void fixtures() throws Exception {
        initial = QEngine.current();
        CliFixtures.write(dir);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    /** The command with the tiny model, 8 sentences, then the extra arguments. */
    private static CliFixtures.Run measure(String command, String... extra) throws Exception {
        List<String> args =
                new ArrayList<>(
                        List.of(
                                "--quiet",
                                command,
                                p("tiny.onnx"),
                                "--calibration",
                                p("calib.txt"),
                                "--max-sentences",
                                "8"));
        if (command.equals("policy")) {
            args.addAll(
                    List.of(
                            "--precisions",
                            "fp32,int8-dynamic",
                            "--max-drop",
                            "5",
                            "--cost-runs",
                            "2",
                            "--verify-rounds",
                            "2",
                            "--no-verify",
                            "--cost-cache",
                            p("costs"),
                            "--out",
                            p("policy.json")));
        } else {
            args.addAll(List.of("--candidates", "int8-dynamic"));
        }
        args.addAll(List.of(extra));
        return CliFixtures.run(args.toArray(new String[0]));
    }

    @Test
    void unknownQEngineIsAUsageErrorNamingOptionValueAndAllowedValues() throws Exception {
        for (String command : List.of("sensitivity", "policy")) {
            CliFixtures.Run r = measure(command, "--qengine", "mkldnn");
            assertEquals(2, r.code(), command + ": " + r.err());
            assertTrue(r.err().contains("--qengine"), r.err());
            assertTrue(r.err().contains("'mkldnn'"), r.err());
            assertTrue(r.err().contains("allowed: fbgemm, qnnpack, onednn, x86"), r.err());
        }
    }

    @Test
    void qengineThatDoesNotFitTheBackendIsAUsageError() throws Exception {
        for (String command : List.of("sensitivity", "policy")) {
            CliFixtures.Run r = measure(command, "--backend", "qnnpack", "--qengine", "onednn");
            assertEquals(2, r.code(), command + ": " + r.err());
            assertTrue(
                    r.err()
                            .contains(
                                    "--qengine onednn with --backend qnnpack: allowed for that"
                                            + " backend: qnnpack"),
                    r.err());
        }
        CliFixtures.Run r = measure("sensitivity", "--backend", "onnxruntime", "--qengine", "x86");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--qengine x86 with --backend onnxruntime"), r.err());
    }

    @Test
    void sensitivityRecordsTheEngineItMeasuredOn() throws Exception {
        assumeTrue(QEngine.available().contains(QEngine.ONEDNN), "no onednn in this libtorch");
        QEngine.select(QEngine.FBGEMM);
        CliFixtures.Run r = measure("sensitivity", "--qengine", "onednn", "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("onednn", r.json().get("qengine").getAsString());
        assertEquals(QEngine.ONEDNN, QEngine.current());
        CliFixtures.Run d = measure("sensitivity", "--json");
        assertEquals(0, d.code(), d.err());
        assertEquals("fbgemm", d.json().get("qengine").getAsString());
        assertEquals(QEngine.FBGEMM, QEngine.current());
        CliFixtures.Run t = measure("sensitivity", "--qengine", "x86");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains(", qengine x86;"), t.out());
    }

    @Test
    void policyMeasuresOnTheEngineGivenAndKeepsOneCostCachePerEngine() throws Exception {
        assumeTrue(QEngine.available().contains(QEngine.ONEDNN), "no onednn in this libtorch");
        QEngine.select(QEngine.FBGEMM);
        CliFixtures.Run onednn = measure("policy", "--qengine", "onednn", "--json");
        assertEquals(0, onednn.code(), onednn.err());
        JsonObject o = onednn.json();
        assertEquals("onednn", o.get("qengine").getAsString());
        assertEquals("fbgemm", o.get("backend").getAsString());
        assertEquals(QEngine.ONEDNN, QEngine.current());
        assertEquals("measured", o.getAsJsonObject("calibration").get("source").getAsString());
        JsonObject cache = o.getAsJsonObject("costCache");
        assertTrue(cache.get("file").getAsString().contains("-pytorch-onednn-"), cache.toString());
        // a fresh cache: the reference timed now is stored, nothing to compare
        assertEquals("no-reference", cache.get("outcome").getAsString());
        assertFalse(cache.has("ratio"), cache.toString());
        assertTrue(cache.get("referenceMs").getAsDouble() > 0, cache.toString());
        assertEquals(
                org.djlquant.policy.CostCache.DEFAULT_TOLERANCE,
                cache.get("tolerance").getAsDouble());
        // the policy file records the engine its latencies were measured on
        assertEquals(
                java.util.Optional.of(QEngine.ONEDNN),
                org.djlquant.policy.MixedPrecisionPolicy.read(dir.resolve("policy.json"))
                        .qengine());
        assertEquals("ONEDNN", o.getAsJsonObject("policy").get("qengine").getAsString());

        // the backend's own engine: another cache file, whose calibration is measured anew
        CliFixtures.Run fbgemm = measure("policy", "--json");
        assertEquals(0, fbgemm.code(), fbgemm.err());
        JsonObject f = fbgemm.json();
        assertEquals("fbgemm", f.get("qengine").getAsString());
        assertEquals(QEngine.FBGEMM, QEngine.current());
        assertEquals("measured", f.getAsJsonObject("calibration").get("source").getAsString());
        assertTrue(
                f.getAsJsonObject("costCache")
                        .get("file")
                        .getAsString()
                        .contains("-pytorch-fbgemm-"),
                f.toString());

        // onednn again: served by its own cache, after the staleness check (structure only: the
        // outcome depends on the machine's speed now)
        CliFixtures.Run again = measure("policy", "--qengine", "onednn");
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("qengine onednn; cost cache reference "), again.out());
        assertTrue(again.out().contains("now/stored "), again.out());
        CliFixtures.Run json = measure("policy", "--qengine", "onednn", "--json");
        JsonObject c = json.json().getAsJsonObject("costCache");
        assertTrue(
                Set.of("within-tolerance", "rescaled").contains(c.get("outcome").getAsString()),
                c.toString());
        assertTrue(c.get("ratio").getAsDouble() > 0, c.toString());
        assertTrue(c.get("storedReferenceMs").getAsDouble() > 0, c.toString());
        assertEquals(
                "cost cache",
                json.json().getAsJsonObject("calibration").get("source").getAsString());
    }
}
