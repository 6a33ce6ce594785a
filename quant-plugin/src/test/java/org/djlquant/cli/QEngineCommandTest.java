package org.djlquant.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import java.nio.file.Path;
import org.djlquant.backend.pytorch.QEngine;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * djlq quantize --qengine onednn on the tiny BERT (dynamic INT8, per-channel form): the archive is
 * packed for onednn (manifest, JSON, inspect), djlq evaluate selects onednn from the manifest
 * before loading it, and its embeddings agree with the fbgemm archive of the same model.
 */
class QEngineCommandTest {

    @TempDir static Path dir;

    private static QEngine initial;

    @BeforeAll
    static void fixtures() throws Exception {
        initial = QEngine.current();
        assumeTrue(
                QEngine.available().contains(QEngine.ONEDNN),
                "this libtorch has no onednn engine: " + QEngine.available());
        CliFixtures.write(dir);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    private static CliFixtures.Run quantize(String out, String... engine) throws Exception {
        java.util.List<String> args =
                new java.util.ArrayList<>(
                        java.util.List.of(
                                "--quiet",
                                "quantize",
                                p("tiny.onnx"),
                                "--method",
                                "dynamic",
                                "--int8-form",
                                "per-channel",
                                "--out",
                                p(out),
                                "--json"));
        args.addAll(java.util.List.of(engine));
        return CliFixtures.run(args.toArray(String[]::new));
    }

    @Test
    void onednnArchiveRecordsItsEngineAndEvaluatesLikeTheFbgemmOne() throws Exception {
        CliFixtures.Run q = quantize("onednn.pt", "--qengine", "onednn");
        assertEquals(0, q.code(), q.err());
        JsonObject o = q.json();
        assertEquals("fbgemm", o.get("backend").getAsString());
        assertEquals("onednn", o.get("qengine").getAsString());
        CliFixtures.Run f = quantize("fbgemm.pt");
        assertEquals(0, f.code(), f.err());
        assertEquals("fbgemm", f.json().get("qengine").getAsString());

        CliFixtures.Run i = CliFixtures.run("inspect", p("onednn.pt"), "--json");
        assertEquals(0, i.code(), i.err());
        assertEquals("ONEDNN", i.json().getAsJsonObject("manifest").get("qengine").getAsString());
        CliFixtures.Run t = CliFixtures.run("inspect", p("onednn.pt"));
        assertTrue(t.out().contains("qengine onednn"), t.out());

        // the engine current before evaluate is fbgemm: evaluate must select onednn itself
        QEngine.select(QEngine.FBGEMM);
        CliFixtures.Run e =
                CliFixtures.run(
                        "--quiet",
                        "evaluate",
                        p("onednn.pt"),
                        "--compare",
                        p("fbgemm.pt"),
                        "--data",
                        p("labelled.jsonl"),
                        "--runs",
                        "1",
                        "--warmup",
                        "0",
                        "--settle-ms",
                        "0",
                        "--folds",
                        "2",
                        "--probe-steps",
                        "20",
                        "--json");
        assertEquals(0, e.code(), e.err());
        JsonObject r = e.json();
        JsonObject artifact = r.getAsJsonArray("models").get(0).getAsJsonObject();
        JsonObject baseline = r.getAsJsonArray("models").get(1).getAsJsonObject();
        assertEquals("onednn", artifact.get("qengine").getAsString());
        assertEquals("fbgemm", baseline.get("qengine").getAsString());
        // measured on this machine (AVX-512 VNNI / AMX): cosine 1 - 2e-14 for every sentence
        JsonObject c = r.getAsJsonObject("comparison");
        assertTrue(c.get("cosineMin").getAsDouble() >= 0.99999, c.toString());
        assertEquals(0.0, c.get("accuracyDelta").getAsDouble(), c.toString());

        // independently of evaluate: each archive loaded under its own engine, same sentences
        java.util.List<String> sentences =
                java.nio.file.Files.readAllLines(dir.resolve("calib.txt"));
        float[][] onednn = embed(QEngine.ONEDNN, "onednn", sentences);
        float[][] fbgemm = embed(QEngine.FBGEMM, "fbgemm", sentences);
        double max = 0;
        for (int s = 0; s < onednn.length; s++) {
            for (int k = 0; k < onednn[s].length; k++) {
                max = Math.max(max, Math.abs(onednn[s][k] - fbgemm[s][k]));
            }
        }
        // measured on this machine: 1.2e-7 on L2-normalized 8-value embeddings, i.e. float
        // rounding (the same integer products, dequantized in each library's own float order).
        // The bound 1e-4 leaves room for that; a wrong engine or wrong packing would be orders of
        // magnitude off. (A static per-channel pair measured 3.2e-4: onednn requantizes in float,
        // so a static output can sit one step away; see OnednnExportTest.)
        assertTrue(max <= 1e-4, "onednn vs fbgemm embeddings max |diff| " + max);
    }

    @SuppressWarnings("unchecked")
    private static float[][] embed(QEngine engine, String name, java.util.List<String> sentences)
            throws Exception {
        QEngine.select(engine);
        try (org.djlquant.io.text.SentenceEmbeddingTranslator t =
                        org.djlquant.io.text.SentenceEmbeddingTranslator.builder()
                                .setTokenizer(dir.resolve("tokenizer.json"))
                                .build();
                ai.djl.repository.zoo.ZooModel<java.util.List<String>, float[][]> m =
                        org.djlquant.backend.pytorch.QuantizedArtifacts.load(
                                dir,
                                name,
                                ai.djl.repository.zoo.Criteria.builder()
                                        .setTypes(
                                                (Class<java.util.List<String>>)
                                                        (Class<?>) java.util.List.class,
                                                float[][].class)
                                        .optTranslator(t.batch()));
                ai.djl.inference.Predictor<java.util.List<String>, float[][]> pr =
                        m.newPredictor()) {
            return pr.predict(sentences);
        }
    }

    @Test
    void aPolicyMeasuredOnOnednnPacksForOnednnUnlessTheCommandSaysOtherwise() throws Exception {
        java.nio.file.Path policy = dir.resolve("onednn-policy.json");
        java.nio.file.Files.writeString(
                policy,
                "{\"format\": \""
                        + org.djlquant.policy.MixedPrecisionPolicy.FORMAT
                        + "\", \"strategy\": \"MANUAL\", \"qengine\": \"ONEDNN\", \"layers\": ["
                        + "{\"path\": \"encoder.01.intermediate\", \"precision\": \"INT8_DYNAMIC\"},"
                        + "{\"path\": \"encoder.02.output\", \"precision\": \"INT8_DYNAMIC\"}]}");
        // no --qengine: the engine the policy was measured on
        CliFixtures.Run fromPolicy =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        policy.toString(),
                        "--out",
                        p("policy-onednn.pt"),
                        "--json");
        assertEquals(0, fromPolicy.code(), fromPolicy.err());
        assertEquals("onednn", fromPolicy.json().get("qengine").getAsString());
        // --qengine wins over the policy
        CliFixtures.Run given =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        policy.toString(),
                        "--qengine",
                        "fbgemm",
                        "--out",
                        p("policy-fbgemm.pt"),
                        "--json");
        assertEquals(0, given.code(), given.err());
        assertEquals("fbgemm", given.json().get("qengine").getAsString());
        // a backend that cannot use onednn keeps its own engine
        CliFixtures.Run qnnpack =
                CliFixtures.run(
                        "--quiet",
                        "quantize",
                        p("tiny.onnx"),
                        "--policy",
                        policy.toString(),
                        "--backend",
                        "qnnpack",
                        "--out",
                        p("policy-qnnpack.pt"),
                        "--json");
        assertEquals(0, qnnpack.code(), qnnpack.err());
        assertEquals("qnnpack", qnnpack.json().get("qengine").getAsString());
    }
}
