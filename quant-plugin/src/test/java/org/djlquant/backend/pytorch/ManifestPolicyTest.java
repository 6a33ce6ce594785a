package org.djlquant.backend.pytorch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import org.djlquant.config.QMode;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.policy.Strategy;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.junit.jupiter.api.Test;

/** The manifest records the mixed-precision policy a model was converted with. */
class ManifestPolicyTest {

    private static QuantizationManifest manifest() {
        QuantizationManifest.Layer layer =
                new QuantizationManifest.Layer(
                        "encoder.01.intermediate",
                        QMode.DYNAMIC,
                        "quantized::linear_dynamic",
                        QDataType.INT8,
                        QScheme.SYMMETRIC,
                        "PER_CHANNEL(0)",
                        0.001,
                        0.01,
                        0,
                        0,
                        null,
                        null,
                        false,
                        1000,
                        4000);
        return new QuantizationManifest(
                QuantizationManifest.FORMAT_VERSION,
                QuantizationManifest.LIBRARY_VERSION,
                "PyTorch",
                "2.7.1",
                QEngine.X86,
                "ab",
                List.of(layer));
    }

    private static MixedPrecisionPolicy policy() {
        Map<String, LayerDecision> d = new LinkedHashMap<>();
        d.put(
                "encoder.01.intermediate",
                new LayerDecision(Precision.INT8_DYNAMIC, DecisionSource.SEARCH, "fastest"));
        d.put(
                "encoder.01.output",
                new LayerDecision(Precision.BF16, DecisionSource.SEARCH, "raised: sensitive"));
        return new MixedPrecisionPolicy(
                Strategy.FALLBACK,
                d,
                OptionalDouble.of(0.3),
                OptionalDouble.empty(),
                OptionalDouble.empty());
    }

    @Test
    void manifestWithoutPolicyHasNoPolicyEntryAndOldManifestsReadBackWithNull() {
        QuantizationManifest m = manifest();
        assertNull(m.policy());
        String json = m.toJson();
        assertFalse(json.contains("\"policy\""), json);
        assertEquals(m, QuantizationManifest.fromJson(json));
        assertNull(QuantizationManifest.fromJson(json).policy());
    }

    @Test
    void recordedPolicyIsWrittenInItsOwnFormAndReadBackEqual() {
        MixedPrecisionPolicy p = policy();
        QuantizationManifest m = manifest().withPolicy(p);
        String json = m.toJson();
        JsonObject written =
                JsonParser.parseString(json).getAsJsonObject().getAsJsonObject("policy");
        // the same object a person edits in a policy file
        assertEquals(JsonParser.parseString(p.toJson()), written);
        QuantizationManifest back = QuantizationManifest.fromJson(json);
        assertEquals(p, back.policy());
        assertEquals(Precision.BF16, back.policy().precision("encoder.01.output"));
        assertEquals(m.layers(), back.layers());
    }

    @Test
    void invalidPolicyInAManifestIsRefusedNamingTheProblem() {
        String json = manifest().withPolicy(policy()).toJson().replace("\"BF16\"", "\"INT3\"");
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class, () -> QuantizationManifest.fromJson(json));
        assertTrue(e.getMessage().contains("INT3"), e.getMessage());
    }
}
