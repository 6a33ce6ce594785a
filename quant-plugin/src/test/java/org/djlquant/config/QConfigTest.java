package org.djlquant.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.nn.core.Linear;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;

class QConfigTest {

    @Test
    void fbgemmStaticPresetUsesPerChannelWeightsAndReducedRangeActivations() {
        QConfig c = QConfig.staticInt8(BackendTarget.FBGEMM);
        assertEquals(QMode.STATIC, c.mode());
        assertEquals(Granularity.Kind.PER_CHANNEL, c.weightSpec().granularity().kind());
        assertEquals(QScheme.SYMMETRIC, c.weightSpec().scheme());
        assertEquals(QDataType.UINT8, c.activationSpec().dtype());
        assertEquals(QScheme.AFFINE, c.activationSpec().scheme());
        assertTrue(c.activationSpec().reduceRange());
        assertEquals(127, c.activationSpec().qmax());
    }

    @Test
    void qnnpackStaticPresetUsesPerTensorWeightsAndFullRange() {
        QConfig c = QConfig.staticInt8(BackendTarget.QNNPACK);
        assertEquals(Granularity.Kind.PER_TENSOR, c.weightSpec().granularity().kind());
        assertFalse(c.activationSpec().reduceRange());
        assertEquals(255, c.activationSpec().qmax());
    }

    @Test
    void presetsEachBackendCanRunAreAccepted() {
        for (BackendTarget t : BackendTarget.values()) {
            assertEquals(QMode.DYNAMIC, QConfig.dynamicInt8(t).mode());
            assertNull(QConfig.dynamicInt8(t).activationObserver());
            assertEquals(QMode.WEIGHT_ONLY, QConfig.weightOnlyInt8(t).mode());
            assertEquals(QMode.QAT, QConfig.qatInt8(t).mode());
        }
        QConfig int4 = QConfig.weightOnlyInt4(128, BackendTarget.ONNXRUNTIME);
        assertEquals(128, int4.weightSpec().granularity().groupSize());
        assertEquals(QDataType.INT4, int4.weightSpec().dtype());
    }

    @Test
    void presetABackendCannotRunIsRefusedWhenBuilt() {
        // INT4 weight-only per channel: no backend declares it (libtorch's kernel is per group)
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                QConfig.builder()
                                        .setMode(QMode.WEIGHT_ONLY)
                                        .setWeightObserver(
                                                Observers.perChannelMinMax(
                                                        new QSpec(
                                                                QDataType.INT4,
                                                                QScheme.SYMMETRIC,
                                                                Granularity.perChannel(0),
                                                                false)))
                                        .optBackend(BackendTarget.FBGEMM)
                                        .build());
        assertTrue(e.getMessage().contains("FBGEMM"), e.getMessage());
        assertTrue(e.getMessage().contains("INT4"), e.getMessage());
        assertTrue(e.getMessage().contains("allowed"), e.getMessage());
        // qnnpack static: per-tensor weights only
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        QConfig.builder()
                                .setMode(QMode.STATIC)
                                .setWeightObserver(
                                        Observers.perChannelMinMax(
                                                QSpec.int8SymmetricPerChannel(0)))
                                .optActivationObserver(
                                        Observers.minMax(QSpec.uint8AffinePerTensor()))
                                .optBackend(BackendTarget.QNNPACK)
                                .build());
    }

    @Test
    void int4WeightOnlyPresetIsAffinePerGroupAndRunsOnEveryBackend() {
        for (BackendTarget t : BackendTarget.values()) {
            for (int g : QConfig.INT4_GROUP_SIZES) {
                QConfig c = QConfig.weightOnlyInt4(g, t);
                assertEquals(QDataType.INT4, c.weightSpec().dtype());
                assertEquals(QScheme.AFFINE, c.weightSpec().scheme());
                assertEquals(Granularity.perGroup(1, g), c.weightSpec().granularity());
            }
        }
    }

    @Test
    void badConfigsAreRefusedNamingValueAndAllowed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> QConfig.weightOnlyInt4(16, BackendTarget.ONNXRUNTIME));
        assertTrue(
                e.getMessage().contains("16") && e.getMessage().contains("[32, 64, 128, 256]"),
                e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                QConfig.builder()
                                        .setMode(QMode.STATIC)
                                        .setWeightObserver(
                                                Observers.minMax(QSpec.int8SymmetricPerTensor()))
                                        .build());
        assertTrue(e.getMessage().contains("activationObserver"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                QConfig.builder()
                                        .setMode(QMode.STATIC)
                                        .setWeightObserver(
                                                Observers.minMax(QSpec.int8SymmetricPerTensor()))
                                        .optActivationObserver(
                                                Observers.minMax(QSpec.uint8AffinePerTensor()))
                                        .optLearnableScale(true)
                                        .build());
        assertTrue(e.getMessage().contains("QAT"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                QConfig.builder()
                                        .setMode(QMode.WEIGHT_ONLY)
                                        .setWeightObserver(
                                                Observers.minMax(QSpec.int8SymmetricPerTensor()))
                                        .optActivationObserver(
                                                Observers.minMax(QSpec.uint8AffinePerTensor()))
                                        .build());
        assertTrue(e.getMessage().contains("STATIC, QAT"), e.getMessage());
    }

    @Test
    void precedenceIsGlobalThenClassThenPath() {
        QConfig global = QConfig.dynamicInt8(BackendTarget.FBGEMM);
        QConfig linear = QConfig.weightOnlyInt8(BackendTarget.FBGEMM);
        QConfig path = QConfig.staticInt8(BackendTarget.FBGEMM);
        QConfigMapping m =
                QConfigMapping.builder()
                        .optGlobal(global)
                        .optClassConfig(Linear.class, linear)
                        .optPathGlob("encoder.*.attention.query", path)
                        .optPathRegex("encoder\\.0[0-9]\\.attention\\.key", null)
                        .build();
        Class<?> att = ScaledDotProductAttentionBlock.class;
        assertSame(global, m.resolve("01a", "a", att).config());
        assertSame(linear, m.resolve("01a", "a", Linear.class).config());
        QConfigMapping.Resolution r =
                m.resolve(
                        "01encoder.03x.01attention.01query",
                        "encoder.03.attention.query",
                        Linear.class);
        assertSame(path, r.config());
        assertTrue(r.exactPathMatch());
        assertEquals("glob 'encoder.*.attention.query'", r.source());
        QConfigMapping.Resolution k =
                m.resolve("01e.07x.01a.01k", "encoder.07.attention.key", Linear.class);
        assertTrue(k.matched());
        assertNull(k.config());
    }

    @Test
    void pathRuleAppliesToDescendantsAndTheLongestMatchWins() {
        QConfig a = QConfig.dynamicInt8(BackendTarget.FBGEMM);
        QConfig b = QConfig.weightOnlyInt8(BackendTarget.FBGEMM);
        QConfigMapping m =
                QConfigMapping.builder()
                        .optPathGlob("encoder.**.query", b)
                        .optPathGlob("encoder", a)
                        .build();
        assertSame(a, m.resolve("e.l.k", "encoder.layer.key", Linear.class).config());
        assertFalse(m.resolve("e.l.k", "encoder.layer.key", Linear.class).exactPathMatch());
        assertSame(b, m.resolve("e.l.q", "encoder.layer.query", Linear.class).config());
        assertFalse(m.resolve("d.q", "decoder.query", Linear.class).matched());
    }

    @Test
    void globStarStaysWithinOneSegment() {
        assertEquals("[^.]*", QConfigMapping.Builder.globToRegex("*"));
        QConfigMapping m =
                QConfigMapping.builder()
                        .optPathGlob("a.*.c", QConfig.dynamicInt8(BackendTarget.FBGEMM))
                        .build();
        assertTrue(m.resolve("a.b.c", "a.b.c", Linear.class).matched());
        assertFalse(m.resolve("a.b.x.c", "a.b.x.c", Linear.class).matched());
    }
}
