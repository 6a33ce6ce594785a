package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MixedPrecisionPolicyTest {

    private static MixedPrecisionPolicy sample() {
        Map<String, LayerDecision> m = new LinkedHashMap<>();
        m.put(
                "encoder.0.attention.query",
                new LayerDecision(Precision.FP16, DecisionSource.RULE, "#1"));
        m.put(
                "encoder.0.ffn.in",
                new LayerDecision(Precision.INT8_STATIC, DecisionSource.SEARCH, "budgeted"));
        m.put("classifier", new LayerDecision(Precision.FP32, DecisionSource.MANUAL, ""));
        return new MixedPrecisionPolicy(
                Strategy.BUDGETED,
                m,
                OptionalDouble.of(0.01),
                OptionalDouble.of(0.8957),
                OptionalDouble.of(0.8912));
    }

    private static String resource(String name) throws IOException {
        try (InputStream in =
                MixedPrecisionPolicyTest.class.getResourceAsStream("/policy/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void jsonRoundTripGivesAnEqualPolicy(@TempDir Path dir) throws QuantizationException {
        MixedPrecisionPolicy p = sample();
        assertEquals(p, MixedPrecisionPolicy.fromJson(p.toJson()));
        Path file = dir.resolve("policy.json");
        p.write(file);
        MixedPrecisionPolicy back = MixedPrecisionPolicy.read(file);
        assertEquals(p, back);
        assertEquals(List.copyOf(p.layers().keySet()), List.copyOf(back.layers().keySet()));
    }

    @Test
    void theMeasuringEngineIsWrittenReadBackAndOptional() throws QuantizationException {
        MixedPrecisionPolicy p = sample().withQEngine(org.djlquant.backend.pytorch.QEngine.ONEDNN);
        assertTrue(p.toJson().contains("\"qengine\": \"ONEDNN\""), p.toJson());
        MixedPrecisionPolicy back = MixedPrecisionPolicy.fromJson(p.toJson());
        assertEquals(
                java.util.Optional.of(org.djlquant.backend.pytorch.QEngine.ONEDNN), back.qengine());
        assertEquals(p, back);
        assertEquals(sample().assignment(), back.assignment());
        assertTrue(sample().qengine().isEmpty());
        assertFalse(sample().toJson().contains("qengine"), sample().toJson());
        QuantizationException e =
                assertThrows(
                        QuantizationException.class,
                        () ->
                                MixedPrecisionPolicy.fromJson(
                                        p.toJson().replace("ONEDNN", "MKLDNN")));
        assertTrue(e.getMessage().contains("qengine was 'MKLDNN'"), e.getMessage());
        assertTrue(e.getMessage().contains("[FBGEMM, QNNPACK, ONEDNN, X86]"), e.getMessage());
    }

    @Test
    void searchResultPolicyRoundTrips() throws QuantizationException {
        Synthetic m = new Synthetic(6, Synthetic.precisions(4), 3, 0.5);
        SearchResult r =
                new PolicySearch(m.rules, m.sensitivity, m.costs)
                        .optimise(m.evaluator(), SearchBudget.ofDrop(1.0));
        assertEquals(r.policy(), MixedPrecisionPolicy.fromJson(r.policy().toJson()));
    }

    @Test
    void handEditedFileIsReadWithDefaults() throws Exception {
        MixedPrecisionPolicy p = MixedPrecisionPolicy.fromJson(resource("hand-edited.json"));
        assertEquals(Strategy.MANUAL, p.strategy());
        assertEquals(Precision.INT8_WEIGHT_ONLY, p.precision("embeddings.word"));
        assertEquals(DecisionSource.MANUAL, p.layers().get("embeddings.word").source());
        assertEquals(DecisionSource.SEARCH, p.layers().get("encoder.0.ffn.in").source());
        assertEquals("attention in FP16", p.layers().get("encoder.0.attention.query").detail());
        assertEquals(0.01, p.maxMetricDrop().getAsDouble());
        assertFalse(p.baselineMetric().isPresent());
        assertEquals(4, p.assignment().size());
        assertEquals("", p.verificationMethod());
    }

    @Test
    void verificationMethodIsWrittenReadBackAndMustBeText() throws QuantizationException {
        String json = sample().toJson();
        assertFalse(json.contains("verificationMethod"), json);
        String withMethod =
                json.replaceFirst(
                        "\\{", "{\n  \"verificationMethod\": \"3 rounds, settle 30 ms\",");
        MixedPrecisionPolicy p = MixedPrecisionPolicy.fromJson(withMethod);
        assertEquals("3 rounds, settle 30 ms", p.verificationMethod());
        assertEquals(p, MixedPrecisionPolicy.fromJson(p.toJson()));
        assertTrue(p.toJson().contains("\"verificationMethod\": \"3 rounds, settle 30 ms\""));
        assertMessage(
                json.replaceFirst("\\{", "{\"verificationMethod\": 30,"),
                "needs a text field 'verificationMethod'");
    }

    @Test
    void unknownPrecisionNameIsAnErrorListingTheAllowedOnes() {
        String json = sample().toJson().replace("\"INT8_STATIC\"", "\"INT3\"");
        QuantizationException e =
                assertThrows(
                        QuantizationException.class, () -> MixedPrecisionPolicy.fromJson(json));
        assertTrue(e.getMessage().contains("encoder.0.ffn.in"), e.getMessage());
        assertTrue(e.getMessage().contains("'INT3'"), e.getMessage());
        assertTrue(e.getMessage().contains(Precision.allowedNames()), e.getMessage());
    }

    @Test
    void malformedFilesAreErrorsNamingTheProblem() {
        String good = sample().toJson();
        assertMessage(good.replace("\"maxMetricDrop\"", "\"maxMetricDorp\""), "maxMetricDorp");
        assertMessage(
                good.replace("\"strategy\": \"BUDGETED\"", "\"strategy\": \"GREEDY\""), "GREEDY");
        assertMessage(good.replace("\"source\": \"RULE\"", "\"source\": \"HUNCH\""), "HUNCH");
        assertMessage(good.replace("/1\"", "/9\""), "format");
        assertMessage(good.replace("classifier", "encoder.0.ffn.in"), "appears twice");
        assertMessage(good.replace("0.01", "-1"), "maxMetricDrop was -1");
        assertMessage("[1, 2]", "JSON object");
        assertMessage("{not json", "not valid JSON");
        assertMessage(
                "{\"format\": \"djl-quant-mixed-precision-policy/1\", \"strategy\": \"MANUAL\","
                        + " \"layers\": []}",
                "non-empty array");
    }

    private static void assertMessage(String json, String expected) {
        QuantizationException e =
                assertThrows(
                        QuantizationException.class, () -> MixedPrecisionPolicy.fromJson(json));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void missingFileIsACheckedErrorNamingTheFile(@TempDir Path dir) {
        Path missing = dir.resolve("nope.json");
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> MixedPrecisionPolicy.read(missing));
        assertTrue(e.getMessage().contains("nope.json"));
    }

    @Test
    void tableHasOneRowPerLayerAndASummary() {
        String table = sample().toTable();
        List<String> lines = table.lines().toList();
        assertEquals(5, lines.size(), table);
        assertTrue(lines.get(0).startsWith("layer"));
        assertTrue(
                lines.get(2).startsWith("encoder.0.ffn.in")
                        && lines.get(2).contains("INT8_STATIC"));
        assertTrue(lines.get(4).contains("strategy BUDGETED") && lines.get(4).contains("0.01"));
    }

    @Test
    void rulesThatFixEveryLayerMakeAPolicyAndOthersAreRefused() {
        List<LayerInfo> layers =
                List.of(new LayerInfo("a", "Linear", 4), new LayerInfo("b", "Embedding", 4));
        BackendCapabilities all = BackendCapabilities.uniform("t", EnumSet.allOf(Precision.class));
        ResolvedRules fixed =
                PolicyRules.builder()
                        .pin(LayerSelector.all(), Precision.INT8_DYNAMIC)
                        .pin(LayerSelector.blockClass("Embedding"), Precision.INT8_WEIGHT_ONLY)
                        .build()
                        .resolve(layers, all);
        MixedPrecisionPolicy p = MixedPrecisionPolicy.fromRules(fixed);
        assertEquals(Strategy.RULES, p.strategy());
        assertEquals(Precision.INT8_WEIGHT_ONLY, p.precision("b"));
        assertEquals(DecisionSource.RULE, p.layers().get("a").source());
        ResolvedRules open =
                PolicyRules.builder()
                        .pin(LayerSelector.blockClass("Embedding"), Precision.INT8_WEIGHT_ONLY)
                        .build()
                        .resolve(layers, all);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> MixedPrecisionPolicy.fromRules(open));
        assertTrue(e.getMessage().contains("a ["), e.getMessage());
    }

    @Test
    void unknownLayerLookupListsTheLayers() throws IOException {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> sample().precision("decoder"));
        assertTrue(e.getMessage().contains("classifier"));
        assertTrue(Files.exists(Path.of("src/test/resources/policy/hand-edited.json")));
    }
}
