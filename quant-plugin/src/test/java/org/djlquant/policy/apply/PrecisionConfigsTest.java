package org.djlquant.policy.apply;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.nn.WeightOnlyShapeException;
import org.djlquant.policy.Precision;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.junit.jupiter.api.Test;

/** The INT8 forms the policy engine measures and converts. */
class PrecisionConfigsTest {

    @Test
    void perChannelFormHasPerChannelWeightsAndFullRangeActivations() {
        PrecisionConfigs c = PrecisionConfigs.perChannel(BackendTarget.FBGEMM);
        for (Precision p : new Precision[] {Precision.INT8_DYNAMIC, Precision.INT8_STATIC}) {
            QConfig q = c.config(p);
            assertEquals(
                    p == Precision.INT8_DYNAMIC ? QMode.DYNAMIC : QMode.STATIC, q.mode(), p.name());
            assertEquals(Granularity.Kind.PER_CHANNEL, q.weightSpec().granularity().kind());
            assertEquals(0, q.weightSpec().granularity().axis());
            assertEquals(QDataType.INT8, q.weightSpec().dtype());
            assertEquals(QScheme.SYMMETRIC, q.weightSpec().scheme());
            assertEquals(QDataType.UINT8, q.activationSpec().dtype());
            assertFalse(q.activationSpec().reduceRange(), p.name());
            assertEquals(p, PolicyApplication.precisionOf(q));
        }
        assertNull(c.config(Precision.BF16));
        assertNull(c.config(Precision.FP32));
    }

    @Test
    void presetFormIsWhatPolicyApplicationReturns() {
        PrecisionConfigs c = PrecisionConfigs.presets(BackendTarget.FBGEMM);
        QConfig dyn = c.config(Precision.INT8_DYNAMIC);
        assertEquals(Granularity.Kind.PER_TENSOR, dyn.weightSpec().granularity().kind());
        assertTrue(dyn.activationSpec().reduceRange());
        assertEquals(
                PolicyApplication.qconfig(Precision.INT8_STATIC, BackendTarget.FBGEMM)
                        .activationSpec(),
                c.config(Precision.INT8_STATIC).activationSpec());
    }

    @Test
    void backendWithoutPerChannelStaticWeightsRefusesTheForm() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> PrecisionConfigs.perChannel(BackendTarget.QNNPACK));
        assertTrue(e.getMessage().contains("QNNPACK"), e.getMessage());
        assertTrue(e.getMessage().contains("PER_CHANNEL"), e.getMessage());
    }

    @Test
    void int4WeightOnlyIsAffinePerGroupOnEveryBackendWithTheGroupChosenPerLayer() {
        for (BackendTarget t : BackendTarget.values()) {
            PrecisionConfigs c = PrecisionConfigs.presets(t);
            assertTrue(c.supports(Precision.INT4_WEIGHT_ONLY), t.name());
            QConfig q = c.config(Precision.INT4_WEIGHT_ONLY);
            assertEquals(QConfig.weightOnlyInt4(128, t).weightSpec(), q.weightSpec(), t.name());
            assertEquals(QDataType.INT4, q.weightSpec().dtype());
            assertEquals(QScheme.AFFINE, q.weightSpec().scheme());
            assertEquals(Precision.INT4_WEIGHT_ONLY, PolicyApplication.precisionOf(q));
        }
        PrecisionConfigs fbgemm = PrecisionConfigs.perChannel(BackendTarget.FBGEMM);
        // 128 where it divides the input features, else 64, else 32
        int[][] cases = {{384, 128}, {1536, 128}, {192, 64}, {96, 32}, {32, 32}};
        for (int[] k : cases) {
            QConfig q = fbgemm.config(Precision.INT4_WEIGHT_ONLY, "l", k[0]);
            assertEquals(Granularity.perGroup(1, k[1]), q.weightSpec().granularity(), "K " + k[0]);
        }
        // other precisions ignore the width
        assertEquals(
                fbgemm.config(Precision.INT8_WEIGHT_ONLY).weightSpec(),
                fbgemm.config(Precision.INT8_WEIGHT_ONLY, "l", 48).weightSpec());
        assertNull(fbgemm.config(Precision.BF16, "l", 48));
        WeightOnlyShapeException e =
                assertThrows(
                        WeightOnlyShapeException.class,
                        () -> fbgemm.config(Precision.INT4_WEIGHT_ONLY, "encoder.01.output", 48));
        assertEquals("encoder.01.output", e.path());
        assertTrue(e.getMessage().contains("was 48"), e.getMessage());
        assertTrue(e.getMessage().contains("multiple of 32"), e.getMessage());
    }
}
