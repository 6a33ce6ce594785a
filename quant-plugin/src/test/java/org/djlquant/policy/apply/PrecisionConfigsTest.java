package org.djlquant.policy.apply;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
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
    void int4IsRunOnlyWhereTheBackendDeclaresIt() {
        PrecisionConfigs fbgemm = PrecisionConfigs.perChannel(BackendTarget.FBGEMM);
        assertFalse(fbgemm.supports(Precision.INT4_WEIGHT_ONLY));
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> fbgemm.config(Precision.INT4_WEIGHT_ONLY));
        assertTrue(e.getMessage().contains("FBGEMM"), e.getMessage());
        PrecisionConfigs ort = PrecisionConfigs.perChannel(BackendTarget.ONNXRUNTIME);
        assertTrue(ort.supports(Precision.INT4_WEIGHT_ONLY));
        assertEquals(
                Precision.INT4_WEIGHT_ONLY,
                PolicyApplication.precisionOf(ort.config(Precision.INT4_WEIGHT_ONLY)));
    }
}
