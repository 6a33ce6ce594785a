package org.djlquant.eval;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.function.LongSupplier;

/**
 * Times a piece of work the way the project reports speed: a few untimed warm-up runs, then several
 * timed runs, summarised by their median (see {@link Timing}).
 *
 * <p>A "run" is whatever the caller passes: one batch-1 call for latency, or one pass over a fixed
 * set of batches for throughput (then {@code itemsPerRun} is the number of items in the pass, and
 * {@link Timing#itemsPerSecond()} is computed from the median pass). Speed is only comparable
 * between timings taken in the same process on the same machine; report ratios, not absolute times
 * from different runs.
 *
 * <p><b>Settle pause.</b> libtorch's OpenMP workers and ONNX Runtime's intra-op threads keep
 * spinning for a while after a call returns, waiting for more work. On a machine with few cores
 * they then steal cores from whatever is timed next: with interleaved variants, the one that runs
 * right after an ONNX Runtime or multi-threaded libtorch call looks slower than it is (seen on 2
 * cores: an INT8 FFN measured 1.4x slower right after ONNX Runtime, 1.03x with a 30 ms pause).
 * {@link #withSettle(Duration)} makes the meter sleep before every timed run, outside the timed
 * span, so that every run starts on idle cores. It is off (zero) by default.
 *
 * <p><b>Bursts (steady state).</b> A pause has its own cost: the first calls after the cores went
 * idle run slower (on this project's 2-core VM the first call of an INT8 FFN at [1,128,768] after a
 * 30 ms pause took 1.5-3x the time of the fourth, with 1 thread as with 2; the causes were not
 * separated: an idle vCPU rescheduled, sleeping OpenMP workers, cold caches). That penalty is a few
 * milliseconds, so it distorts short calls (INT8, batch 1) far more than long ones (FP32) and makes
 * speed-ups look smaller than they are. {@link #withBursts(int, int)} measures the steady state
 * instead: after each pause, {@code leadIn} untimed calls, then {@code burst} timed calls back to
 * back. The first lead-in call is still timed on its own and reported as {@link
 * Timing#firstAfterPauseNanos()}, the latency of a call that arrives at an idle machine. Default:
 * no lead-in, bursts of one (every timed call follows a pause).
 *
 * <p>Instances are immutable and thread-safe; the work itself is run on the calling thread.
 */
public final class SpeedMeter {

    /** The longest settle pause accepted; spinning threads give up after milliseconds. */
    public static final Duration MAX_SETTLE = Duration.ofSeconds(10);

    /** The largest lead-in or burst accepted by {@link #withBursts(int, int)}. */
    public static final int MAX_BURST = 1000;

    private final int warmupRuns;
    private final int timedRuns;
    private final LongSupplier clock;
    private final Duration settle;
    private final Pause pause;
    private final int leadIn;
    private final int burst;

    /**
     * Creates a meter.
     *
     * @param warmupRuns untimed runs before timing starts, {@code >= 0}
     * @param timedRuns timed runs, {@code >= 1}
     * @throws IllegalArgumentException if a count is out of range
     */
    public SpeedMeter(int warmupRuns, int timedRuns) {
        this(warmupRuns, timedRuns, System::nanoTime);
    }

    /**
     * Creates a meter with a given clock (for tests).
     *
     * @param warmupRuns untimed runs before timing starts, {@code >= 0}
     * @param timedRuns timed runs, {@code >= 1}
     * @param clock a monotonic clock in nanoseconds
     * @throws IllegalArgumentException if a count is out of range
     */
    public SpeedMeter(int warmupRuns, int timedRuns, LongSupplier clock) {
        this(warmupRuns, timedRuns, clock, Duration.ZERO, SpeedMeter::sleep, 0, 1);
    }

    /**
     * Creates a meter with a given clock and pause (for tests: the pause can advance a fake clock
     * and record when it is called).
     */
    SpeedMeter(int warmupRuns, int timedRuns, LongSupplier clock, Duration settle, Pause pause) {
        this(warmupRuns, timedRuns, clock, settle, pause, 0, 1);
    }

    private SpeedMeter(
            int warmupRuns,
            int timedRuns,
            LongSupplier clock,
            Duration settle,
            Pause pause,
            int leadIn,
            int burst) {
        if (warmupRuns < 0) {
            throw new IllegalArgumentException("warmupRuns was " + warmupRuns + ", must be >= 0");
        }
        if (timedRuns < 1) {
            throw new IllegalArgumentException("timedRuns was " + timedRuns + ", must be >= 1");
        }
        if (settle == null || settle.isNegative() || settle.compareTo(MAX_SETTLE) > 0) {
            throw new IllegalArgumentException(
                    "settle was "
                            + (settle == null ? "null" : settle.toMillis() + " ms")
                            + ", must be in [0 ms, "
                            + MAX_SETTLE.toMillis()
                            + " ms]");
        }
        if (leadIn < 0 || leadIn > MAX_BURST) {
            throw new IllegalArgumentException(
                    "leadIn was " + leadIn + ", must be in [0, " + MAX_BURST + "]");
        }
        if (burst < 1 || burst > MAX_BURST) {
            throw new IllegalArgumentException(
                    "burst was " + burst + ", must be in [1, " + MAX_BURST + "]");
        }
        this.warmupRuns = warmupRuns;
        this.timedRuns = timedRuns;
        this.clock = clock;
        this.settle = settle;
        this.pause = pause;
        this.leadIn = leadIn;
        this.burst = burst;
    }

    /**
     * Returns a meter like this one that sleeps for {@code settle} before every turn (outside the
     * timed span; warm-up runs are not paused). Use it whenever the timed work runs native thread
     * pools (libtorch with more than one thread, ONNX Runtime), above all in {@link
     * #measureInterleaved}: see the class comment for why. 20-50 ms is enough on Linux.
     *
     * @param settle the pause, in {@code [0, }{@link #MAX_SETTLE}{@code ]}; zero turns it off
     * @return a new meter; this one is unchanged
     * @throws IllegalArgumentException if {@code settle} is null, negative or above {@link
     *     #MAX_SETTLE}
     */
    public SpeedMeter withSettle(Duration settle) {
        return new SpeedMeter(warmupRuns, timedRuns, clock, settle, pause, leadIn, burst);
    }

    /**
     * Returns a meter like this one that measures the steady state: every turn (after the settle
     * pause, if any) runs {@code leadIn} untimed calls, then {@code burst} timed calls back to
     * back. A timing then holds {@code timedRuns * burst} durations, and with {@code leadIn >= 1}
     * also the duration of each turn's first call ({@link Timing#firstAfterPauseNanos()}). In
     * {@link #measureInterleaved} the whole turn of one work runs before the next work's turn, and
     * the order of turns rotates as described there.
     *
     * @param leadIn untimed calls per turn before the timed ones, in {@code [0, }{@link
     *     #MAX_BURST}{@code ]}; 3 covered the slow first calls of a 1-2 ms INT8 FFN after a pause
     * @param burst timed calls per turn, in {@code [1, }{@link #MAX_BURST}{@code ]}
     * @return a new meter; this one is unchanged
     * @throws IllegalArgumentException if a count is out of range
     */
    public SpeedMeter withBursts(int leadIn, int burst) {
        return new SpeedMeter(warmupRuns, timedRuns, clock, settle, pause, leadIn, burst);
    }

    /**
     * Returns the untimed calls per turn before the timed burst.
     *
     * @return the lead-in, 0 by default
     */
    public int leadIn() {
        return leadIn;
    }

    /**
     * Returns the timed calls per turn.
     *
     * @return the burst, 1 by default
     */
    public int burst() {
        return burst;
    }

    /**
     * Returns the pause taken before every turn (every timed run unless {@link #withBursts} is
     * used).
     *
     * @return the settle pause, {@link Duration#ZERO} when off
     */
    public Duration settle() {
        return settle;
    }

    /**
     * Describes how this meter measures, for the header of a results table or a JSON field: the run
     * counts, the order policy of {@link #measureInterleaved} and the settle pause.
     *
     * @return a one-line description
     */
    public String methodology() {
        String turn =
                leadIn == 0 && burst == 1
                        ? ""
                        : String.format(
                                Locale.ROOT,
                                "; each turn: %d untimed lead-in call(s) (the first timed apart as"
                                        + " 'first call after the pause'), then %d timed call(s)"
                                        + " back to back (steady state)",
                                leadIn,
                                burst);
        return String.format(
                Locale.ROOT,
                "%d warm-up + %d timed rounds; interleaved order rotated per round (round r starts"
                        + " at work r mod n and steps by the (r mod k)-th of the k strides coprime"
                        + " to n); settle pause %d ms before each %s%s%s",
                warmupRuns,
                timedRuns,
                settle.toMillis(),
                leadIn == 0 && burst == 1 ? "timed call" : "turn",
                settle.isZero() ? " (off)" : ", outside the timed span",
                turn);
    }

    /**
     * Returns the number of untimed warm-up runs.
     *
     * @return the warm-up count
     */
    public int warmupRuns() {
        return warmupRuns;
    }

    /**
     * Returns the number of timed runs.
     *
     * @return the timed count
     */
    public int timedRuns() {
        return timedRuns;
    }

    /**
     * Runs the work {@code warmupRuns} times untimed, then {@code timedRuns} timed turns (by
     * default one call each; with {@link #withBursts}, lead-in plus burst calls; with {@link
     * #withSettle}, after a pause before each turn).
     *
     * @param itemsPerRun how many items (sentences, images) one run processes, {@code >= 1}
     * @param work the work; its run index (0-based, warm-up runs included) is passed so that it can
     *     cycle over inputs
     * @param <E> the checked exception the work may throw
     * @return the timing
     * @throws E if the work throws; nothing is measured then
     * @throws IllegalArgumentException if {@code itemsPerRun < 1}
     */
    public <E extends Exception> Timing measure(int itemsPerRun, Work<E> work) throws E {
        if (itemsPerRun < 1) {
            throw new IllegalArgumentException("itemsPerRun was " + itemsPerRun + ", must be >= 1");
        }
        for (int i = 0; i < warmupRuns; i++) {
            work.run(i);
        }
        long[] nanos = new long[timedRuns * burst];
        long[] first = new long[leadIn == 0 ? 0 : timedRuns];
        int[] next = {warmupRuns};
        for (int i = 0; i < timedRuns; i++) {
            turn(work, next, nanos, first, i);
        }
        return new Timing(nanos, itemsPerRun, warmupRuns, first);
    }

    /**
     * One turn: the settle pause, the lead-in (its first call timed into {@code first[t]}), then
     * the burst timed into {@code nanos[t * burst ...]}. {@code next[0]} is the next run index.
     */
    private <E extends Exception> void turn(
            Work<E> work, int[] next, long[] nanos, long[] first, int t) throws E {
        pauseToSettle();
        for (int j = 0; j < leadIn; j++) {
            long start = clock.getAsLong();
            work.run(next[0]++);
            if (j == 0) {
                first[t] = clock.getAsLong() - start;
            }
        }
        for (int j = 0; j < burst; j++) {
            long start = clock.getAsLong();
            work.run(next[0]++);
            nanos[t * burst + j] = clock.getAsLong() - start;
        }
    }

    /**
     * Times several pieces of work on the same items in interleaved rounds, so that a change in
     * machine load during the measurement affects all of them alike: first {@code warmupRuns}
     * rounds untimed (in the iteration order of {@code works}), then {@code timedRuns} timed
     * rounds. In timed round {@code r} every one of the {@code n} works runs once, in the order
     * {@code s, s + d, s + 2d, ... (mod n)} with {@code s = r mod n} and {@code d} the {@code (r
     * mod k)}-th of the {@code k} strides in {@code [1, n)} coprime to {@code n} (1 when {@code n
     * <= 2}). So the first work changes every round and, from three works on, no work always runs
     * right after the same other one: a work that disturbs the next one (spinning native threads,
     * caches) does not always disturb the same one. With {@link #withSettle} the meter sleeps
     * before every timed call.
     *
     * @param itemsPerRun how many items one run of each work processes, {@code >= 1}
     * @param works the works by name; the same items should be given to every work
     * @param <K> the name type
     * @param <E> the checked exception the works may throw
     * @return one timing per work, in the iteration order of {@code works}
     * @throws E if a work throws; nothing is measured then
     * @throws IllegalArgumentException if {@code itemsPerRun < 1} or there is no work
     */
    public <K, E extends Exception> Map<K, Timing> measureInterleaved(
            int itemsPerRun, Map<K, Work<E>> works) throws E {
        if (itemsPerRun < 1) {
            throw new IllegalArgumentException("itemsPerRun was " + itemsPerRun + ", must be >= 1");
        }
        if (works.isEmpty()) {
            throw new IllegalArgumentException("works was empty, must hold at least one work");
        }
        List<K> keys = new ArrayList<>(works.keySet());
        int n = keys.size();
        for (int i = 0; i < warmupRuns; i++) {
            for (K k : keys) {
                works.get(k).run(i);
            }
        }
        long[][] nanos = new long[n][timedRuns * burst];
        long[][] first = new long[n][leadIn == 0 ? 0 : timedRuns];
        int[][] next = new int[n][];
        for (int w = 0; w < n; w++) {
            next[w] = new int[] {warmupRuns};
        }
        for (int r = 0; r < timedRuns; r++) {
            for (int w : roundOrder(r, n)) {
                turn(works.get(keys.get(w)), next[w], nanos[w], first[w], r);
            }
        }
        Map<K, Timing> out = new LinkedHashMap<>();
        for (int w = 0; w < n; w++) {
            out.put(keys.get(w), new Timing(nanos[w], itemsPerRun, warmupRuns, first[w]));
        }
        return out;
    }

    /**
     * Returns the order of the works in timed round {@code round} (see {@link
     * #measureInterleaved}).
     */
    static int[] roundOrder(int round, int n) {
        List<Integer> strides = new ArrayList<>();
        for (int d = 1; d < n; d++) {
            if (gcd(d, n) == 1) {
                strides.add(d);
            }
        }
        if (strides.isEmpty()) {
            strides.add(1);
        }
        int start = round % n;
        int stride = strides.get(round % strides.size());
        int[] order = new int[n];
        for (int p = 0; p < n; p++) {
            order[p] = (int) ((start + (long) p * stride) % n);
        }
        return order;
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    private void pauseToSettle() {
        if (settle.isZero()) {
            return;
        }
        try {
            pause.pause(settle);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            CancellationException c =
                    new CancellationException("interrupted during the settle pause");
            c.initCause(e);
            throw c;
        }
    }

    private static void sleep(Duration d) throws InterruptedException {
        Thread.sleep(d.toMillis(), d.toNanosPart() % 1_000_000);
    }

    /** Sleeps between timed runs (injectable for tests). */
    @FunctionalInterface
    interface Pause {
        /**
         * Pauses.
         *
         * @param d how long
         * @throws InterruptedException if interrupted
         */
        void pause(Duration d) throws InterruptedException;
    }

    /**
     * One run of timed work.
     *
     * @param <E> the checked exception it may throw
     */
    @FunctionalInterface
    public interface Work<E extends Exception> {

        /**
         * Does the work once.
         *
         * @param run the run index, counting warm-up runs
         * @throws E if the work fails
         */
        void run(int run) throws E;
    }

    /**
     * The timed runs of one measurement.
     *
     * @param nanos the duration of each timed run in nanoseconds, in run order
     * @param itemsPerRun the items one run processes
     * @param warmupRuns the untimed runs that came first
     * @param firstAfterPauseNanos the duration of the first call of every turn (before the timed
     *     burst; see {@link SpeedMeter#withBursts}), empty when the meter has no lead-in
     */
    public record Timing(
            long[] nanos, int itemsPerRun, int warmupRuns, long[] firstAfterPauseNanos) {

        /**
         * Creates a timing without first-call durations.
         *
         * @param nanos the duration of each timed run in nanoseconds, in run order
         * @param itemsPerRun the items one run processes
         * @param warmupRuns the untimed runs that came first
         * @throws IllegalArgumentException as the canonical constructor
         */
        public Timing(long[] nanos, int itemsPerRun, int warmupRuns) {
            this(nanos, itemsPerRun, warmupRuns, new long[0]);
        }

        /**
         * Validates and copies the durations.
         *
         * @throws IllegalArgumentException if there is no duration, a duration is negative, or
         *     {@code itemsPerRun < 1}
         */
        public Timing {
            if (nanos.length == 0) {
                throw new IllegalArgumentException("nanos was empty, must hold >= 1 duration");
            }
            for (long n : nanos) {
                if (n < 0) {
                    throw new IllegalArgumentException("duration was " + n + " ns, must be >= 0");
                }
            }
            if (itemsPerRun < 1) {
                throw new IllegalArgumentException(
                        "itemsPerRun was " + itemsPerRun + ", must be >= 1");
            }
            for (long n : firstAfterPauseNanos) {
                if (n < 0) {
                    throw new IllegalArgumentException(
                            "first-call duration was " + n + " ns, must be >= 0");
                }
            }
            nanos = nanos.clone();
            firstAfterPauseNanos = firstAfterPauseNanos.clone();
        }

        /**
         * Returns a copy of the first-call durations.
         *
         * @return nanoseconds of each turn's first call; empty without a lead-in
         */
        @Override
        public long[] firstAfterPauseNanos() {
            return firstAfterPauseNanos.clone();
        }

        /**
         * Returns the median duration of the first call after each pause, the latency of a call
         * that finds the machine idle.
         *
         * @return milliseconds, or {@link Double#NaN} when the meter had no lead-in
         */
        public double firstAfterPauseMedianMillis() {
            return firstAfterPauseNanos.length == 0
                    ? Double.NaN
                    : medianOf(firstAfterPauseNanos) / 1e6;
        }

        /**
         * Returns a copy of the durations.
         *
         * @return nanoseconds per timed run
         */
        @Override
        public long[] nanos() {
            return nanos.clone();
        }

        /**
         * Returns the median duration of a run ({@link Median}: the mean of the two middle ones for
         * an even count).
         *
         * @return milliseconds
         */
        public double medianMillis() {
            return medianOf(nanos) / 1e6;
        }

        private static double medianOf(long[] values) {
            return Median.of(Arrays.stream(values).asDoubleStream().toArray());
        }

        /**
         * Returns the shortest run.
         *
         * @return milliseconds
         */
        public double minMillis() {
            return Arrays.stream(nanos).min().orElseThrow() / 1e6;
        }

        /**
         * Returns the longest run.
         *
         * @return milliseconds
         */
        public double maxMillis() {
            return Arrays.stream(nanos).max().orElseThrow() / 1e6;
        }

        /**
         * Returns the throughput of the median run.
         *
         * @return {@code itemsPerRun / median seconds}; infinite if the median is 0
         */
        public double itemsPerSecond() {
            return itemsPerRun / (medianMillis() / 1e3);
        }

        /** {@inheritDoc} */
        @Override
        public boolean equals(Object o) {
            return o instanceof Timing t
                    && Arrays.equals(nanos, t.nanos)
                    && itemsPerRun == t.itemsPerRun
                    && warmupRuns == t.warmupRuns
                    && Arrays.equals(firstAfterPauseNanos, t.firstAfterPauseNanos);
        }

        /** {@inheritDoc} */
        @Override
        public int hashCode() {
            return 31 * (31 * (31 * Arrays.hashCode(nanos) + itemsPerRun) + warmupRuns)
                    + Arrays.hashCode(firstAfterPauseNanos);
        }

        /** {@inheritDoc} */
        @Override
        public String toString() {
            return String.format(
                    java.util.Locale.ROOT,
                    "Timing{median %.3f ms over %d runs (min %.3f, max %.3f), %d items/run,"
                            + " %d warm-up}",
                    medianMillis(),
                    nanos.length,
                    minMillis(),
                    maxMillis(),
                    itemsPerRun,
                    warmupRuns);
        }
    }
}
