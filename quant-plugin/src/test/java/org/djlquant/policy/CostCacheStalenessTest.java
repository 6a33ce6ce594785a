package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.OptionalDouble;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.DoubleSupplier;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cost cache's staleness check with an injected reference timer returning fixed values; the
 * rescaled latencies are derived by hand (cached value × now / stored).
 */
class CostCacheStalenessTest {

    private static final double EPS = 1e-12;

    private static final CostCacheKey KEY =
            new CostCacheKey("x86-64-test-cpu-2cpu", "pytorch-onednn", 1, "batch=8,seq=16");

    private static final LayerInfo LAYER = new LayerInfo("encoder.0.ffn.in", "Linear", 1000);

    /** Writes layer 10 ms, whole model 20 ms, BF16 round trip 0.5 ms, reference 2.0 ms. */
    private static void write(Path dir) throws QuantizationException {
        CostCache c = CostCache.open(dir, KEY, () -> 2.0);
        assertEquals(
                CostCache.ReferenceCheck.Outcome.NO_REFERENCE, c.referenceCheck().get().outcome());
        c.put(LAYER, Precision.INT8_DYNAMIC, new LayerCost(10.0, 1016));
        c.putWholeModel("uniform FP32", 20.0);
        c.putRoundTrip(LAYER, PrecisionFamily.BFLOAT16, 0.5);
        c.save();
    }

    private static DoubleSupplier once(double ms, AtomicInteger calls) {
        return () -> {
            calls.incrementAndGet();
            return ms;
        };
    }

    @Test
    void aSlowerMachineRescalesEveryCachedLatencyByTheRatio(@TempDir Path dir)
            throws QuantizationException {
        write(dir);
        AtomicInteger calls = new AtomicInteger();
        // now 2.8 ms: ratio 1.4, |1.4 - 1| = 0.4 > 0.35
        CostCache c = CostCache.open(dir, KEY, once(2.8, calls));
        assertEquals(1, calls.get());
        CostCache.ReferenceCheck check = c.referenceCheck().orElseThrow();
        assertEquals(CostCache.ReferenceCheck.Outcome.RESCALED, check.outcome());
        assertEquals(OptionalDouble.of(2.0), check.storedMs());
        assertEquals(2.8, check.currentMs(), EPS);
        assertEquals(1.4, check.ratio().getAsDouble(), EPS);
        assertEquals(14.0, c.get(LAYER, Precision.INT8_DYNAMIC).get().latencyMs(), EPS); // 10·1.4
        assertEquals(1016, c.get(LAYER, Precision.INT8_DYNAMIC).get().bytes());
        assertEquals(28.0, c.getWholeModel("uniform FP32").get(), EPS); // 20·1.4
        assertEquals(0.7, c.getRoundTrip(LAYER, PrecisionFamily.BFLOAT16).getAsDouble(), EPS);
        assertEquals(2.8, c.referenceMs().getAsDouble(), EPS);

        // saved after rescaling: the file holds today's numbers against today's reference, so a
        // reference within tolerance (2.7 / 2.8 = 0.964) uses them as stored
        c.save();
        CostCache next = CostCache.open(dir, KEY, () -> 2.7);
        assertEquals(
                CostCache.ReferenceCheck.Outcome.WITHIN_TOLERANCE,
                next.referenceCheck().get().outcome());
        assertEquals(14.0, next.get(LAYER, Precision.INT8_DYNAMIC).get().latencyMs(), EPS);
        assertEquals(2.8, next.referenceMs().getAsDouble(), EPS);
    }

    @Test
    void aFasterMachineScalesDownAndAChangeWithinToleranceChangesNothing(@TempDir Path dir)
            throws QuantizationException {
        write(dir);
        // now 1.2 ms: ratio 0.6, |0.6 - 1| = 0.4 > 0.35: 10 -> 6, 20 -> 12, 0.5 -> 0.3
        CostCache fast = CostCache.open(dir, KEY, () -> 1.2);
        assertEquals(
                CostCache.ReferenceCheck.Outcome.RESCALED, fast.referenceCheck().get().outcome());
        assertEquals(6.0, fast.get(LAYER, Precision.INT8_DYNAMIC).get().latencyMs(), EPS);
        assertEquals(12.0, fast.getWholeModel("uniform FP32").get(), EPS);
        assertEquals(0.3, fast.getRoundTrip(LAYER, PrecisionFamily.BFLOAT16).getAsDouble(), EPS);

        // now 2.2 ms: ratio 1.1 within 0.35: as stored, stored reference kept
        CostCache same = CostCache.open(dir, KEY, () -> 2.2);
        assertEquals(
                CostCache.ReferenceCheck.Outcome.WITHIN_TOLERANCE,
                same.referenceCheck().get().outcome());
        assertEquals(1.1, same.referenceCheck().get().ratio().getAsDouble(), EPS);
        assertEquals(10.0, same.get(LAYER, Precision.INT8_DYNAMIC).get().latencyMs(), EPS);
        assertEquals(2.0, same.referenceMs().getAsDouble(), EPS);

        // the same 1.1 with a tolerance of 0.05 rescales: 10 -> 11
        CostCache strict = CostCache.open(dir, KEY, () -> 2.2, 0.05);
        assertEquals(
                CostCache.ReferenceCheck.Outcome.RESCALED, strict.referenceCheck().get().outcome());
        assertEquals(11.0, strict.get(LAYER, Precision.INT8_DYNAMIC).get().latencyMs(), EPS);
    }

    @Test
    void aFileWithoutReferenceIsUsedAsStoredAndGetsOneOnSave(@TempDir Path dir)
            throws QuantizationException {
        CostCache old = CostCache.open(dir, KEY);
        old.put(LAYER, Precision.FP32, new LayerCost(4.0, 4000));
        old.save();
        assertTrue(CostCache.open(dir, KEY).referenceMs().isEmpty());
        assertTrue(CostCache.open(dir, KEY).referenceCheck().isEmpty());

        CostCache c = CostCache.open(dir, KEY, () -> 3.0);
        CostCache.ReferenceCheck check = c.referenceCheck().orElseThrow();
        assertEquals(CostCache.ReferenceCheck.Outcome.NO_REFERENCE, check.outcome());
        assertTrue(check.ratio().isEmpty());
        assertEquals(4.0, c.get(LAYER, Precision.FP32).get().latencyMs(), EPS);
        c.save();
        assertEquals(3.0, CostCache.open(dir, KEY).referenceMs().getAsDouble(), EPS);
        // opened without a timer, the stored reference survives a save
        CostCache plain = CostCache.open(dir, KEY);
        plain.save();
        assertEquals(3.0, CostCache.open(dir, KEY).referenceMs().getAsDouble(), EPS);
    }

    @Test
    void badReferenceTimesAndTolerancesAreRefusedNamingTheValue(@TempDir Path dir) {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> CostCache.open(dir, KEY, () -> Double.NaN));
        assertTrue(e.getMessage().contains("reference time was NaN"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CostCache.open(dir, KEY, () -> 0.0));
        assertTrue(e.getMessage().contains("was 0.0 ms, must be finite and > 0"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> CostCache.open(dir, KEY, () -> 1.0, -0.1));
        assertTrue(e.getMessage().contains("tolerance was -0.1"), e.getMessage());
    }
}
