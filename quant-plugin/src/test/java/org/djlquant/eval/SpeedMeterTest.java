package org.djlquant.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
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
        // warm-up in key order; timed round 0: start 0 stride 1 (a b c); round 1: start 1 stride 2
        // (b, 1+2=0 -> a, 1+4=5 mod 3=2 -> c); round 2: start 2 stride 1 (c a b)
        assertEquals(
                List.of("a0", "b0", "c0", "a1", "b1", "c1", "b2", "a2", "c2", "c3", "a3", "b3"),
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
    void settlePauseComesBeforeEveryTimedCallAndStaysOutsideTheTimedSpan() {
        long[] now = {0};
        List<String> events = new ArrayList<>();
        Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
        // a: 1 ms, b: 2 ms, c: 3 ms, d: 4 ms
        for (String k : List.of("a", "b", "c", "d")) {
            long cost = (k.charAt(0) - 'a' + 1) * 1_000_000L;
            works.put(
                    k,
                    run -> {
                        events.add(k + run);
                        now[0] += cost;
                    });
        }
        SpeedMeter meter =
                new SpeedMeter(
                        1,
                        4,
                        () -> now[0],
                        Duration.ofMillis(30),
                        d -> {
                            events.add("|");
                            now[0] += d.toNanos();
                        });
        Map<String, SpeedMeter.Timing> t = meter.measureInterleaved(1, works);
        // n = 4, strides coprime to 4: 1, 3. Round 0: start 0 stride 1 -> a b c d; round 1: start
        // 1 stride 3 -> b, 4 mod 4 = 0 a, 7 mod 4 = 3 d, 10 mod 4 = 2 c; round 2: start 2 stride 1
        // -> c d a b; round 3: start 3 stride 3 -> d, 6 mod 4 = 2 c, 9 mod 4 = 1 b, 12 mod 4 = 0 a.
        // No pause in the warm-up round, one before every timed call.
        assertEquals(
                List.of(
                        "a0", "b0", "c0", "d0", //
                        "|", "a1", "|", "b1", "|", "c1", "|", "d1", //
                        "|", "b2", "|", "a2", "|", "d2", "|", "c2", //
                        "|", "c3", "|", "d3", "|", "a3", "|", "b3", //
                        "|", "d4", "|", "c4", "|", "b4", "|", "a4"),
                events);
        // the 30 ms pauses are not in any timing: every run of a work took exactly its cost
        assertArrayEquals(
                new long[] {1_000_000, 1_000_000, 1_000_000, 1_000_000}, t.get("a").nanos());
        assertArrayEquals(
                new long[] {4_000_000, 4_000_000, 4_000_000, 4_000_000}, t.get("d").nanos());
        // b ran after a (round 0), first (round 1), after a (round 2), after c (round 3)
        assertEquals(List.of("a", "b", "c", "d"), List.copyOf(t.keySet()));
    }

    @Test
    void settlePauseAlsoPrecedesEachTimedRunOfASingleWork() {
        long[] now = {0};
        List<String> events = new ArrayList<>();
        SpeedMeter meter =
                new SpeedMeter(
                        2,
                        2,
                        () -> now[0],
                        Duration.ofMillis(5),
                        d -> {
                            events.add("|" + d.toMillis());
                            now[0] += d.toNanos();
                        });
        SpeedMeter.Timing t =
                meter.measure(
                        1,
                        run -> {
                            events.add("w" + run);
                            now[0] += 2_000_000;
                        });
        assertEquals(List.of("w0", "w1", "|5", "w2", "|5", "w3"), events);
        assertArrayEquals(new long[] {2_000_000, 2_000_000}, t.nanos());
    }

    @Test
    void burstsPauseOnceThenRunTheLeadInUntimedAndTimeTheBurstBackToBack() {
        long[] now = {0};
        List<String> events = new ArrayList<>();
        Map<String, SpeedMeter.Work<RuntimeException>> works = new LinkedHashMap<>();
        // a's calls take 5, 3, 1, 1, 1, 1, ... ms (slow after a pause, as seen on a VM): the
        // call cost depends on the position in the turn, so the lead-in absorbs the slow ones
        long[] aCosts = {5_000_000, 3_000_000, 1_000_000, 1_000_000};
        int[] aPos = {0};
        works.put(
                "a",
                run -> {
                    events.add("a" + run);
                    now[0] += aCosts[Math.min(aPos[0]++, aCosts.length - 1)];
                });
        works.put(
                "b",
                run -> {
                    events.add("b" + run);
                    now[0] += 2_000_000;
                });
        SpeedMeter meter =
                new SpeedMeter(
                                1,
                                2,
                                () -> now[0],
                                Duration.ofMillis(30),
                                d -> {
                                    events.add("|");
                                    aPos[0] = 0;
                                    now[0] += d.toNanos();
                                })
                        .withBursts(2, 2);
        Map<String, SpeedMeter.Timing> t = meter.measureInterleaved(1, works);
        // warm-up a0 b0 (a's position counter then 1); n = 2: round 0 a b, round 1 b a. Each
        // turn: one pause, two lead-in calls, two timed calls; run indices continue per work.
        assertEquals(
                List.of(
                        "a0", "b0", //
                        "|", "a1", "a2", "a3", "a4", "|", "b1", "b2", "b3", "b4", //
                        "|", "b5", "b6", "b7", "b8", "|", "a5", "a6", "a7", "a8"),
                events);
        // a's timed calls are the 3rd and 4th of each turn: 1 ms; its first calls took 5 ms
        assertArrayEquals(
                new long[] {1_000_000, 1_000_000, 1_000_000, 1_000_000}, t.get("a").nanos());
        assertArrayEquals(new long[] {5_000_000, 5_000_000}, t.get("a").firstAfterPauseNanos());
        assertEquals(5.0, t.get("a").firstAfterPauseMedianMillis(), 1e-12);
        assertEquals(1.0, t.get("a").medianMillis(), 1e-12);
        assertArrayEquals(
                new long[] {2_000_000, 2_000_000, 2_000_000, 2_000_000}, t.get("b").nanos());
        assertTrue(
                meter.methodology().contains("each turn: 2 untimed lead-in call(s)"),
                meter.methodology());
        assertTrue(meter.methodology().contains("then 2 timed call(s)"), meter.methodology());
        // without a lead-in no first-call durations are kept
        SpeedMeter.Timing single =
                new SpeedMeter(0, 3, () -> now[0])
                        .withBursts(0, 2)
                        .measure(1, run -> now[0] += 1_000_000);
        assertEquals(6, single.nanos().length);
        assertEquals(0, single.firstAfterPauseNanos().length);
        assertTrue(Double.isNaN(single.firstAfterPauseMedianMillis()));
    }

    @Test
    void burstCountsAreValidated() {
        SpeedMeter meter = new SpeedMeter(0, 1);
        assertEquals(0, meter.leadIn());
        assertEquals(1, meter.burst());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> meter.withBursts(-1, 2));
        assertTrue(e.getMessage().contains("leadIn was -1, must be in [0, 1000]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> meter.withBursts(1, 0));
        assertTrue(e.getMessage().contains("burst was 0, must be in [1, 1000]"), e.getMessage());
        assertEquals(3, meter.withBursts(3, 5).leadIn());
        assertEquals(5, meter.withBursts(3, 5).withSettle(Duration.ofMillis(1)).burst());
    }

    @Test
    void settleIsOffByDefaultAndValidated() {
        SpeedMeter meter = new SpeedMeter(1, 2);
        assertEquals(Duration.ZERO, meter.settle());
        assertTrue(meter.methodology().contains("settle pause 0 ms"), meter.methodology());
        SpeedMeter settled = meter.withSettle(Duration.ofMillis(30));
        assertEquals(Duration.ofMillis(30), settled.settle());
        assertEquals(Duration.ZERO, meter.settle());
        assertEquals(2, settled.timedRuns());
        assertTrue(
                settled.methodology().contains("settle pause 30 ms before each timed call"),
                settled.methodology());
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> meter.withSettle(Duration.ofMillis(-1)));
        assertTrue(
                e.getMessage().contains("settle was -1 ms, must be in [0 ms, 10000 ms]"),
                e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> meter.withSettle(Duration.ofSeconds(11)));
        assertTrue(e.getMessage().contains("settle was 11000 ms"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> meter.withSettle(null));
    }

    @Test
    void interruptedSettlePauseCancelsTheMeasurementAndKeepsTheFlag() {
        SpeedMeter meter =
                new SpeedMeter(
                        0,
                        1,
                        System::nanoTime,
                        Duration.ofMillis(1),
                        d -> {
                            throw new InterruptedException("stop");
                        });
        try {
            assertThrows(CancellationException.class, () -> meter.measure(1, run -> {}));
            assertTrue(Thread.currentThread().isInterrupted());
        } finally {
            Thread.interrupted();
        }
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
