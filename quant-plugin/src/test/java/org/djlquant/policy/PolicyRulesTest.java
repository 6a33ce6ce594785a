package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PolicyRulesTest {

    private static final List<LayerInfo> BERT =
            List.of(
                    new LayerInfo("embeddings.word", "ai.djl.nn.core.Embedding", 1000),
                    new LayerInfo("encoder.0.attention.query", "Linear", 100),
                    new LayerInfo("encoder.0.attention.self.key", "Linear", 100),
                    new LayerInfo("encoder.0.ffn.in", "ai.djl.nn.core.Linear", 400),
                    new LayerInfo("encoder.1.attention.query", "Linear", 100),
                    new LayerInfo("encoder.1.ffn.in", "Linear", 400),
                    new LayerInfo("classifier", "Linear", 10));

    private static final BackendCapabilities ALL =
            BackendCapabilities.uniform("test", EnumSet.allOf(Precision.class));

    @Test
    void globMatchesOneSegmentPerStarAndAnySegmentsForDoubleStar() {
        LayerInfo shallow = new LayerInfo("encoder.03.attention.query", "Linear", 1);
        LayerInfo deep = new LayerInfo("encoder.03.attention.self.query", "Linear", 1);
        LayerSelector one = LayerSelector.glob("encoder.*.attention.*");
        LayerSelector any = LayerSelector.glob("encoder.**.query");
        assertTrue(one.matches(shallow, 0, 2));
        assertTrue(!one.matches(deep, 1, 2));
        assertTrue(any.matches(shallow, 0, 2));
        assertTrue(any.matches(deep, 1, 2));
        assertEquals(RuleLevel.LAYER, LayerSelector.glob("encoder.03.attention.query").level());
    }

    @Test
    void moreSpecificLevelOverridesLowerLevels() {
        PolicyRules rules =
                PolicyRules.builder()
                        .allow(LayerSelector.all(), Precision.INT8_DYNAMIC, Precision.INT8_STATIC)
                        .pin(LayerSelector.blockClass("Embedding"), Precision.INT8_WEIGHT_ONLY)
                        .pin(LayerSelector.glob("encoder.*.attention.**"), Precision.FP16)
                        .pin(
                                LayerSelector.regex("encoder\\.\\d+\\.ffn\\..*"),
                                Precision.INT8_STATIC)
                        .pin(LayerSelector.first(1), Precision.FP32)
                        .pin(LayerSelector.last(1), Precision.FP32)
                        .build();
        ResolvedRules r = rules.resolve(BERT, ALL);
        assertEquals(Set.of(Precision.FP32), r.allowed("embeddings.word"));
        assertEquals(Set.of(Precision.FP16), r.allowed("encoder.0.attention.query"));
        assertEquals(Set.of(Precision.FP16), r.allowed("encoder.0.attention.self.key"));
        assertEquals(Set.of(Precision.INT8_STATIC), r.allowed("encoder.0.ffn.in"));
        assertEquals(Set.of(Precision.FP32), r.allowed("classifier"));
        assertTrue(r.decidedBy().get("classifier").contains("last 1 layer"));
        // the global and class rules are overridden everywhere they match
        assertEquals(2, r.warnings().size(), r.warnings().toString());
        assertTrue(r.warnings().get(0).contains("#1"));
        assertTrue(r.warnings().get(1).contains("#2"));
    }

    @Test
    void classRuleMatchesSimpleAndQualifiedNames() {
        ResolvedRules r =
                PolicyRules.builder()
                        .pin(LayerSelector.blockClass("Linear"), Precision.INT8_DYNAMIC)
                        .build()
                        .resolve(BERT, ALL);
        assertEquals(Set.of(Precision.INT8_DYNAMIC), r.allowed("encoder.0.ffn.in"));
        assertEquals(Set.of(Precision.INT8_DYNAMIC), r.allowed("encoder.0.attention.query"));
        assertEquals(EnumSet.allOf(Precision.class), r.allowed("embeddings.word"));
    }

    @Test
    void sameLevelRestrictionsIntersectAndAcceptACompatiblePin() {
        ResolvedRules r =
                PolicyRules.builder()
                        .allow(
                                LayerSelector.glob("encoder.**"),
                                Precision.FP16,
                                Precision.INT8_DYNAMIC)
                        .allow(
                                LayerSelector.glob("**.ffn.*"),
                                Precision.INT8_DYNAMIC,
                                Precision.FP32)
                        .pin(LayerSelector.glob("encoder.1.**"), Precision.INT8_DYNAMIC)
                        .build()
                        .resolve(BERT, ALL);
        assertEquals(Set.of(Precision.INT8_DYNAMIC), r.allowed("encoder.0.ffn.in"));
        assertEquals(
                Set.of(Precision.FP16, Precision.INT8_DYNAMIC),
                r.allowed("encoder.0.attention.query"));
        assertEquals(Set.of(Precision.INT8_DYNAMIC), r.allowed("encoder.1.ffn.in"));
    }

    @Test
    void twoPinsOfTheSameLevelAreContradictoryAndNamed() {
        PolicyRules rules =
                PolicyRules.builder()
                        .pin(LayerSelector.glob("encoder.*.attention.*"), Precision.FP16)
                        .pin(LayerSelector.regex(".*query"), Precision.INT8_DYNAMIC)
                        .build();
        ContradictoryRulesException e =
                assertThrows(ContradictoryRulesException.class, () -> rules.resolve(BERT, ALL));
        assertEquals("encoder.0.attention.query", e.layer());
        assertTrue(e.getMessage().contains("encoder.0.attention.query"), e.getMessage());
        assertTrue(e.getMessage().contains("glob encoder.*.attention.*"), e.getMessage());
        assertTrue(e.getMessage().contains("regex .*query"), e.getMessage());
        assertTrue(e.getMessage().contains("FP16") && e.getMessage().contains("INT8_DYNAMIC"));
    }

    @Test
    void disjointRestrictionsAndPinOutsideRestrictionAreContradictory() {
        PolicyRules disjoint =
                PolicyRules.builder()
                        .allow(LayerSelector.blockClass("Linear"), Precision.FP16)
                        .allow(
                                LayerSelector.blockClass("ai.djl.nn.core.Linear"),
                                Precision.INT8_STATIC)
                        .build();
        ContradictoryRulesException e =
                assertThrows(ContradictoryRulesException.class, () -> disjoint.resolve(BERT, ALL));
        assertEquals("encoder.0.ffn.in", e.layer());
        PolicyRules pinOutside =
                PolicyRules.builder()
                        .allow(LayerSelector.all(), Precision.INT8_DYNAMIC)
                        .pin(LayerSelector.all(), Precision.FP32)
                        .build();
        ContradictoryRulesException e2 =
                assertThrows(
                        ContradictoryRulesException.class, () -> pinOutside.resolve(BERT, ALL));
        assertEquals("embeddings.word", e2.layer());
        assertTrue(e2.firstRule().startsWith("#1") && e2.secondRule().startsWith("#2"));
    }

    @Test
    void ruleForALayerTheModelDoesNotHaveIsAnError() {
        PolicyRules rules =
                PolicyRules.builder()
                        .pin(LayerSelector.path("decoder.0.out"), Precision.FP32)
                        .build();
        RuleException e = assertThrows(RuleException.class, () -> rules.resolve(BERT, ALL));
        assertTrue(e.getMessage().contains("decoder.0.out"), e.getMessage());
        assertTrue(e.getMessage().contains("embeddings.word"), e.getMessage());
        PolicyRules tooMany =
                PolicyRules.builder().pin(LayerSelector.first(8), Precision.FP32).build();
        RuleException e2 = assertThrows(RuleException.class, () -> tooMany.resolve(BERT, ALL));
        assertTrue(e2.getMessage().contains("8") && e2.getMessage().contains("7"), e2.getMessage());
    }

    @Test
    void patternMatchingNoLayerIsAWarning() {
        ResolvedRules r =
                PolicyRules.builder()
                        .pin(LayerSelector.glob("decoder.**"), Precision.FP32)
                        .pin(LayerSelector.blockClass("Conv2d"), Precision.FP32)
                        .build()
                        .resolve(BERT, ALL);
        assertEquals(2, r.warnings().size());
        assertTrue(r.warnings().get(0).contains("decoder.**"));
        assertTrue(r.warnings().get(0).contains("matched no layer"));
    }

    @Test
    void pinOfAPrecisionTheBackendCannotRunIsRefused() {
        BackendCapabilities fbgemm =
                new BackendCapabilities(
                        "fbgemm",
                        Map.of("Embedding", EnumSet.of(Precision.FP32, Precision.INT8_WEIGHT_ONLY)),
                        EnumSet.of(Precision.FP32, Precision.INT8_DYNAMIC, Precision.INT8_STATIC));
        PolicyRules rules =
                PolicyRules.builder()
                        .pin(LayerSelector.glob("**.attention.**"), Precision.FP16)
                        .build();
        RuleException e = assertThrows(RuleException.class, () -> rules.resolve(BERT, fbgemm));
        assertTrue(e.getMessage().contains("FP16"), e.getMessage());
        assertTrue(e.getMessage().contains("fbgemm"), e.getMessage());
        assertTrue(e.getMessage().contains("encoder.0.attention.query"), e.getMessage());
        PolicyRules allowInt4 =
                PolicyRules.builder()
                        .allow(LayerSelector.all(), Precision.FP32, Precision.INT4_WEIGHT_ONLY)
                        .build();
        RuleException e2 = assertThrows(RuleException.class, () -> allowInt4.resolve(BERT, fbgemm));
        assertTrue(e2.getMessage().contains("INT4_WEIGHT_ONLY"), e2.getMessage());
        // a restriction the backend can partly run narrows per layer kind
        ResolvedRules ok =
                PolicyRules.builder()
                        .allow(
                                LayerSelector.all(),
                                Precision.FP32,
                                Precision.INT8_WEIGHT_ONLY,
                                Precision.INT8_STATIC)
                        .build()
                        .resolve(BERT, fbgemm);
        assertEquals(
                Set.of(Precision.FP32, Precision.INT8_WEIGHT_ONLY), ok.allowed("embeddings.word"));
        assertEquals(Set.of(Precision.FP32, Precision.INT8_STATIC), ok.allowed("classifier"));
    }

    @Test
    void unknownPrecisionNameListsTheAllowedOnes() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Precision.parse("int3"));
        assertTrue(e.getMessage().contains("int3"));
        assertTrue(e.getMessage().contains("INT8_DYNAMIC") && e.getMessage().contains("FP32"));
        assertEquals(Precision.BF16, Precision.parse(" bf16 "));
    }

    @Test
    void estimatedBytesFollowTheDocumentedData() {
        assertEquals(4096, Precision.FP32.estimatedBytes(1024));
        assertEquals(2048, Precision.BF16.estimatedBytes(1024));
        assertEquals(1024 + 16, Precision.INT8_DYNAMIC.estimatedBytes(1024));
        assertEquals(512 + 32, Precision.INT4_WEIGHT_ONLY.estimatedBytes(1024));
    }
}
