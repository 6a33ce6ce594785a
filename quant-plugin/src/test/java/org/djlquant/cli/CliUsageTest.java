package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Help, version, exit codes and usage errors of djlq; nothing here runs a model. */
class CliUsageTest {

    @TempDir static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        CliFixtures.write(dir);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void helpListsEveryCommandOnStdoutAndExitsZero() throws Exception {
        CliFixtures.Run r = CliFixtures.run("--help");
        assertEquals(0, r.code(), r.err());
        for (String c : new String[] {"quantize", "evaluate", "sensitivity", "policy", "inspect"}) {
            assertTrue(r.out().contains(c), r.out());
        }
        assertEquals("", r.err());
    }

    @Test
    void subcommandHelpNamesTheAllowedMethodsAndBackends() throws Exception {
        CliFixtures.Run r = CliFixtures.run("quantize", "--help");
        assertEquals(0, r.code());
        String text = r.out().replaceAll("\\s+", " ");
        assertTrue(text.contains("dynamic, static, weight-only-int8, weight-only-int4"), text);
        assertTrue(text.contains("fbgemm, qnnpack, onnxruntime"), text);
        assertTrue(text.contains("--qengine"), text);
        assertTrue(text.contains("fbgemm, qnnpack, onednn, x86"), text);
    }

    @Test
    void versionNamesTheLibraryAndDjl() throws Exception {
        CliFixtures.Run r = CliFixtures.run("--version");
        assertEquals(0, r.code());
        assertTrue(r.out().startsWith("djlq (djl-quant) 0.1.0-SNAPSHOT"), r.out());
        assertTrue(r.out().contains("DJL 0.36.0"), r.out());
    }

    @Test
    void noCommandIsAUsageError() throws Exception {
        CliFixtures.Run r = CliFixtures.run();
        assertEquals(2, r.code());
        assertTrue(r.err().contains("a command is required"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void unknownOptionIsAUsageErrorNamingIt() throws Exception {
        CliFixtures.Run r = CliFixtures.run("inspect", p("tiny.onnx"), "--bogus");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("Unknown option: '--bogus'"), r.err());
        assertTrue(r.err().contains("Try 'djlq inspect --help'"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void settlePauseOutsideItsRangeIsAUsageErrorNamingTheValue() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "evaluate",
                        p("tiny.onnx"),
                        "--data",
                        p("labelled.jsonl"),
                        "--settle-ms",
                        "20000");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--settle-ms was 20000, must be at most 10000"), r.err());
        r =
                CliFixtures.run(
                        "evaluate",
                        p("tiny.onnx"),
                        "--data",
                        p("labelled.jsonl"),
                        "--settle-ms",
                        "-1");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--settle-ms was -1, must be at least 0"), r.err());
    }

    @Test
    void badMethodNamesTheOptionTheValueAndTheAllowedValues() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run("quantize", p("tiny.onnx"), "--method", "int3", "--out", p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--method"), r.err());
        assertTrue(r.err().contains("'int3'"), r.err());
        assertTrue(
                r.err().contains("allowed: dynamic, static, weight-only-int8, weight-only-int4"),
                r.err());
    }

    @Test
    void badBackendNamesTheOptionTheValueAndTheAllowedValues() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--backend",
                        "tensorrt",
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--backend"), r.err());
        assertTrue(r.err().contains("'tensorrt'"), r.err());
        assertTrue(r.err().contains("allowed: fbgemm, qnnpack, onnxruntime"), r.err());
    }

    @Test
    void badQEngineNamesTheOptionTheValueAndTheAllowedValues() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--qengine",
                        "mkldnn",
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--qengine"), r.err());
        assertTrue(r.err().contains("'mkldnn'"), r.err());
        assertTrue(r.err().contains("allowed: fbgemm, qnnpack, onednn, x86"), r.err());
    }

    @Test
    void qengineThatDoesNotFitTheBackendIsAUsageError() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--backend",
                        "onnxruntime",
                        "--qengine",
                        "onednn",
                        "--out",
                        p("x.onnx"));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--qengine onednn with --backend onnxruntime"), r.err());
        r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--backend",
                        "qnnpack",
                        "--qengine",
                        "onednn",
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code(), r.err());
        assertTrue(
                r.err()
                        .contains(
                                "--qengine onednn with --backend qnnpack: allowed for that"
                                        + " backend: qnnpack"),
                r.err());
        r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--qengine",
                        "qnnpack",
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code(), r.err());
        assertTrue(
                r.err()
                        .contains(
                                "--qengine qnnpack with --backend fbgemm: allowed for that"
                                        + " backend: fbgemm, onednn, x86"),
                r.err());
        assertEquals("", r.out());
        assertTrue(!java.nio.file.Files.exists(dir.resolve("x.pt")));
    }

    @Test
    void methodAndPolicyTogetherAreAUsageError() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--policy",
                        p("calib.txt"),
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("mutually exclusive"), r.err());
    }

    @Test
    void missingModelFileIsAUsageErrorNamingTheFile() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize", p("nope.onnx"), "--method", "dynamic", "--out", p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("MODEL '" + p("nope.onnx") + "' does not exist"), r.err());
    }

    @Test
    void missingCalibrationFileIsAUsageErrorNamingTheOption() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "static",
                        "--calibration",
                        p("missing.txt"),
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(
                r.err().contains("--calibration '" + p("missing.txt") + "' does not exist"),
                r.err());
    }

    @Test
    void staticWithoutCalibrationIsAUsageErrorNamingTheOption() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize", p("tiny.onnx"), "--method", "static", "--out", p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--calibration FILE is required"), r.err());
        assertTrue(r.err().contains("--method static"), r.err());
    }

    @Test
    void outputSuffixMustFitTheBackend() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "dynamic",
                        "--backend",
                        "onnxruntime",
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--out"), r.err());
        assertTrue(r.err().contains("'" + p("x.pt") + "'"), r.err());
        assertTrue(r.err().contains("NAME.onnx file for backend ONNXRUNTIME"), r.err());
    }

    @Test
    void idxCalibrationDataIsRefusedForATextModel() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "quantize",
                        p("tiny.onnx"),
                        "--method",
                        "static",
                        "--calibration",
                        p("images.idx"),
                        "--out",
                        p("x.pt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--calibration"), r.err());
        assertTrue(r.err().contains("is IDX data of shape [2, 3, 3]"), r.err());
    }

    @Test
    void fp32IsNotASensitivityCandidate() throws Exception {
        CliFixtures.Run r =
                CliFixtures.run(
                        "sensitivity",
                        p("tiny.onnx"),
                        "--calibration",
                        p("calib.txt"),
                        "--candidates",
                        "fp32,int8-dynamic");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--candidates included fp32"), r.err());
    }

    @Test
    void inspectRefusesAFileThatIsNoArtifact() throws Exception {
        CliFixtures.Run r = CliFixtures.run("inspect", p("calib.txt"));
        assertEquals(2, r.code());
        assertTrue(r.err().contains("must be a .pt or an .onnx file"), r.err());
    }

    @Test
    void aCorruptArchiveIsARuntimeFailureWithTheTypedException() throws Exception {
        java.nio.file.Files.writeString(dir.resolve("broken.pt"), "not a zip");
        CliFixtures.Run r = CliFixtures.run("inspect", p("broken.pt"));
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("djlq inspect: CorruptArtifactException: "), r.err());
        assertEquals("", r.out());
    }
}
