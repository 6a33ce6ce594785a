package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LatencyCalibration#wholeModelMs}: the calibration runs shared by {@code djlq policy} and
 * the PolicyStudy example, with a timer that returns fixed numbers and records what it was asked.
 */
class WholeModelRunsTest {

    private static final CostCacheKey KEY =
            new CostCacheKey("x86-64-test-cpu-2cpu", "pytorch-fbgemm", 1, "whole");

    /** Layer a may use BF16 and INT8_DYNAMIC, layer b only INT8_DYNAMIC. */
    private static ResolvedRules rules() {
        List<LayerInfo> layers =
                List.of(new LayerInfo("a", "Linear", 100), new LayerInfo("b", "Linear", 300));
        Map<String, Set<Precision>> allowed = new LinkedHashMap<>();
        allowed.put("a", EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC));
        allowed.put("b", EnumSet.of(Precision.FP32, Precision.INT8_DYNAMIC));
        Map<String, String> by = Map.of("a", "test", "b", "test");
        return new ResolvedRules(layers, allowed, by, List.of());
    }

    private static final Set<Precision> ALL =
            EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC);

    private static Map<String, Precision> assign(Precision a, Precision b) {
        Map<String, Precision> m = new LinkedHashMap<>();
        m.put("a", a);
        m.put("b", b);
        return m;
    }

    @Test
    void calibrationRunsAreAllFp32AndEachPrecisionWhereAllowed() {
        Map<Precision, Map<String, Precision>> runs =
                LatencyCalibration.calibrationRuns(rules(), ALL);
        assertEquals(
                List.of(Precision.FP32, Precision.BF16, Precision.INT8_DYNAMIC),
                new ArrayList<>(runs.keySet()));
        assertEquals(assign(Precision.FP32, Precision.FP32), runs.get(Precision.FP32));
        assertEquals(assign(Precision.BF16, Precision.FP32), runs.get(Precision.BF16));
        assertEquals(
                assign(Precision.INT8_DYNAMIC, Precision.INT8_DYNAMIC),
                runs.get(Precision.INT8_DYNAMIC));
        assertEquals("uniform BF16", LatencyCalibration.runName(Precision.BF16));
    }

    @Test
    void missingRunsAreTimedOnceStoredAndThenServedFromTheCache(@TempDir Path dir)
            throws QuantizationException {
        CostCache cache = CostCache.open(dir, KEY);
        cache.putWholeModel("uniform FP32", 20.0); // cached: must not be asked for
        List<Map<String, Map<String, Precision>>> asked = new ArrayList<>();
        LatencyCalibration.WholeModelRuns first =
                LatencyCalibration.wholeModelMs(
                        rules(),
                        ALL,
                        cache,
                        missing -> {
                            asked.add(missing);
                            return Map.of("uniform BF16", 14.0, "uniform INT8_DYNAMIC", 16.0);
                        });
        assertEquals(1, asked.size());
        assertEquals(
                List.of("uniform BF16", "uniform INT8_DYNAMIC"),
                new ArrayList<>(asked.get(0).keySet()));
        assertEquals(assign(Precision.BF16, Precision.FP32), asked.get(0).get("uniform BF16"));
        assertTrue(first.measured());
        assertEquals(
                Map.of(Precision.FP32, 20.0, Precision.BF16, 14.0, Precision.INT8_DYNAMIC, 16.0),
                first.wholeModelMs());

        // saved: a fresh cache on the same file serves every run without timing
        LatencyCalibration.WholeModelRuns again =
                LatencyCalibration.wholeModelMs(
                        rules(),
                        ALL,
                        CostCache.open(dir, KEY),
                        missing -> {
                            throw new AssertionError("timed " + missing.keySet());
                        });
        assertFalse(again.measured());
        assertEquals(first.wholeModelMs(), again.wholeModelMs());
    }

    @Test
    void aTimerThatTimesEveryRowTogetherRefreshesAllCalibrationRuns(@TempDir Path dir)
            throws QuantizationException {
        CostCache cache = CostCache.open(dir, KEY);
        cache.putWholeModel("uniform FP32", 20.0);
        LatencyCalibration.WholeModelRuns r =
                LatencyCalibration.wholeModelMs(
                        rules(),
                        ALL,
                        cache,
                        missing ->
                                Map.of(
                                        "uniform FP32", 21.0,
                                        "uniform BF16", 14.0,
                                        "uniform INT8_DYNAMIC", 16.0,
                                        "some other row", 3.0));
        assertEquals(21.0, r.wholeModelMs().get(Precision.FP32));
        assertTrue(cache.getWholeModel("some other row").isEmpty());
    }

    @Test
    void aTimerThatSkipsAMissingRunIsRefusedNamingIt(@TempDir Path dir)
            throws QuantizationException {
        CostCache cache = CostCache.open(dir, KEY);
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () ->
                                LatencyCalibration.wholeModelMs(
                                        rules(),
                                        ALL,
                                        cache,
                                        missing -> Map.of("uniform FP32", 20.0)));
        assertTrue(e.getMessage().contains("'uniform BF16'"), e.getMessage());
    }
}
