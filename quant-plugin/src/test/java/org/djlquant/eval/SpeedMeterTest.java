package org.djlquant.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SpeedMeterTest {

    /** A clock that advances by a scripted amount on every second read (end of a timed run). */
    private static final class ScriptedClock {
        private final long[] durations;
        private long now;
        private int reads;

        ScriptedClock(long... durations) {
            this.durations = durations;
        }

        long read() {
            if (reads % 2 == 1) {
                now += durations[reads / 2];
            }
            reads++;
            return now;
        }
    }

    @Test
    void warmUpRunsAreNotTimedAndTheMedianIsOfTimedRunsOnly() {
        ScriptedClock clock = new ScriptedClock(5_000_000, 1_000_000, 3_000_000);
        List<Integer> seen = new ArrayList<>();
        SpeedMeter.Timing t = new SpeedMeter(2, 3, clock::read).measure(32, seen::add);
        assertEquals(List.of(0, 1, 2, 3, 4), seen);
        assertArrayEquals(new long[] {5_000_000, 1_000_000, 3_000_000}, t.nanos());
        assertEquals(3.0, t.medianMillis(), 1e-12);
        assertEquals(1.0, t.minMillis(), 1e-12);
        assertEquals(5.0, t.maxMillis(), 1e-12);
        // 32 items in 3 ms
        assertEquals(32 / 0.003, t.itemsPerSecond(), 1e-6);
        assertEquals(2, t.warmupRuns());
    }

    @Test
    void evenRunCountTakesTheMeanOfTheTwoMiddleRuns() {
        ScriptedClock clock = new ScriptedClock(4_000_000, 1_000_000, 2_000_000, 9_000_000);
        SpeedMeter.Timing t = new SpeedMeter(0, 4, clock::read).measure(1, run -> {});
        assertEquals(3.0, t.medianMillis(), 1e-12);
    }

    @Test
    void interleavedRoundsRotateTheOrderAndTimeEachWorkSeparately() {
        long[] now = {0};
        List<String> order = new ArrayList<>();
        Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
        // work "a" takes 1 ms, "b" 2 ms, "c" 3 ms on the fake clock
        for (String k : List.of("a", "b", "c")) {
            long cost = (k.charAt(0) - 'a' + 1) * 1_000_000L;
            works.put(
                    k,
                    run -> {
                        order.add(k + run);
                        now[0] += cost;
                    });
        }
        Map<String, SpeedMeter.Timing> t =
                new SpeedMeter(1, 3, () -> now[0]).measureInterleaved(10, works);
        assertEquals(
                List.of("a0", "b0", "c0", "a1", "b1", "c1", "b2", "c2", "a2", "c3", "a3", "b3"),
                order);
        assertEquals(List.of("a", "b", "c"), List.copyOf(t.keySet()));
        assertEquals(1.0, t.get("a").medianMillis(), 1e-12);
        assertEquals(2.0, t.get("b").medianMillis(), 1e-12);
        assertEquals(3.0, t.get("c").maxMillis(), 1e-12);
        assertEquals(3, t.get("c").nanos().length);
        assertThrows(
                IllegalArgumentException.class,
                () -> new SpeedMeter(0, 1).measureInterleaved(1, Map.of()));
    }

    @Test
    void failingWorkPropagatesItsCheckedException() {
        SpeedMeter meter = new SpeedMeter(1, 1);
        assertThrows(
                IOException.class,
                () ->
                        meter.measure(
                                1,
                                run -> {
                                    throw new IOException("boom");
                                }));
    }

    @Test
    void badCountsAreRefusedWithTheValueAndTheRange() {
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new SpeedMeter(-1, 3));
        assertTrue(e.getMessage().contains("warmupRuns was -1, must be >= 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new SpeedMeter(0, 0));
        assertTrue(e.getMessage().contains("timedRuns was 0, must be >= 1"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new SpeedMeter(0, 1).measure(0, run -> {}));
        assertTrue(e.getMessage().contains("itemsPerRun was 0"), e.getMessage());
    }
}
