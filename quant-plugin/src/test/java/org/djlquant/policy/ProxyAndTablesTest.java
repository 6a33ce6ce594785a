package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ProxyAndTablesTest {

    @Test
    void proxiesConvertToAdditiveDamage() {
        // 20 dB SQNR = noise power 1/100 of the signal; 30 dB = 1/1000
        assertEquals(0.01, ProxyMetric.SQNR_DB.damage(20, "x"), 1e-15);
        assertEquals(0.001, ProxyMetric.SQNR_DB.damage(30, "x"), 1e-16);
        assertEquals(0.0, ProxyMetric.SQNR_DB.damage(Double.POSITIVE_INFINITY, "x"));
        assertEquals(0.25, ProxyMetric.COSINE.damage(0.75, "x"));
        assertEquals(0.5, ProxyMetric.KL.damage(0.5, "x"));
        assertEquals(0.0, ProxyMetric.METRIC_DROP.damage(-0.01, "x"));
    }

    @Test
    void invalidProxyValuesNameTheLayerAndTheRange() {
        SensitivityTable.Builder b = SensitivityTable.builder(ProxyMetric.COSINE);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> b.put("encoder.3.attention.query", Precision.INT8_STATIC, 1.5));
        assertTrue(e.getMessage().contains("encoder.3.attention.query at INT8_STATIC"));
        assertTrue(e.getMessage().contains("1.5") && e.getMessage().contains("[-1, 1]"));
        IllegalArgumentException nan =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                SensitivityTable.builder(ProxyMetric.SQNR_DB)
                                        .put("l", Precision.FP16, Double.NaN));
        assertTrue(nan.getMessage().contains("NaN"), nan.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> SensitivityTable.builder(ProxyMetric.KL).put("l", Precision.FP16, -1));
    }

    @Test
    void missingTableEntriesNameWhatWasMeasured() {
        SensitivityTable t =
                SensitivityTable.builder(ProxyMetric.SQNR_DB)
                        .put("l", Precision.INT8_DYNAMIC, 30)
                        .putAllButThis("l", 25)
                        .build();
        assertEquals(0.0, t.damage("l", Precision.FP32));
        assertEquals(25, t.allButThis("l").getAsDouble());
        assertTrue(t.allButThis("m").isEmpty());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> t.damage("l", Precision.INT4_WEIGHT_ONLY));
        assertTrue(e.getMessage().contains("[INT8_DYNAMIC]"), e.getMessage());
        CostTable c = CostTable.builder().put("l", Precision.FP32, 1.0, 4).build();
        IllegalArgumentException e2 =
                assertThrows(IllegalArgumentException.class, () -> c.cost("m", Precision.FP32));
        assertTrue(e2.getMessage().contains("nothing for this layer"), e2.getMessage());
    }

    @Test
    void selectorsAndDescriptorsRefuseBadInput() {
        IllegalArgumentException re =
                assertThrows(
                        IllegalArgumentException.class, () -> LayerSelector.regex("encoder.(["));
        assertTrue(re.getMessage().contains("encoder.(["), re.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LayerSelector.first(0));
        assertThrows(IllegalArgumentException.class, () -> LayerSelector.glob(" "));
        assertThrows(IllegalArgumentException.class, () -> new LayerInfo("a", "Linear", -1));
        IllegalArgumentException dup =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                PolicyRules.builder()
                                        .add(
                                                new PolicyRule(
                                                        "r",
                                                        LayerSelector.all(),
                                                        java.util.Set.of(Precision.FP32),
                                                        true))
                                        .add(
                                                new PolicyRule(
                                                        "r",
                                                        LayerSelector.all(),
                                                        java.util.Set.of(Precision.FP16),
                                                        true)));
        assertTrue(dup.getMessage().contains("'r'"));
        assertEquals(LayerSelector.glob("a.*"), LayerSelector.glob("a.*"));
    }
}
