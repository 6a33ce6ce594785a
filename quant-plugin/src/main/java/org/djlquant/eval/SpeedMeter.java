package org.djlquant.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 * <p>Instances are immutable and thread-safe; the work itself is run on the calling thread.
 */
public final class SpeedMeter {

    private final int warmupRuns;
    private final int timedRuns;
    private final LongSupplier clock;

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
        if (warmupRuns < 0) {
            throw new IllegalArgumentException("warmupRuns was " + warmupRuns + ", must be >= 0");
        }
        if (timedRuns < 1) {
            throw new IllegalArgumentException("timedRuns was " + timedRuns + ", must be >= 1");
        }
        this.warmupRuns = warmupRuns;
        this.timedRuns = timedRuns;
        this.clock = clock;
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
     * Runs the work {@code warmupRuns + timedRuns} times and times the last {@code timedRuns}.
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
        long[] nanos = new long[timedRuns];
        for (int i = 0; i < timedRuns; i++) {
            long start = clock.getAsLong();
            work.run(warmupRuns + i);
            nanos[i] = clock.getAsLong() - start;
        }
        return new Timing(nanos, itemsPerRun, warmupRuns);
    }

    /**
     * Times several pieces of work on the same items in interleaved rounds, so that a change in
     * machine load during the measurement affects all of them alike: first {@code warmupRuns}
     * rounds untimed, then {@code timedRuns} timed rounds; in round {@code r} every work runs once,
     * starting with the work at position {@code r mod n} (the order rotates, so no work always runs
     * first or right after another).
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
        long[][] nanos = new long[n][timedRuns];
        for (int r = 0; r < timedRuns; r++) {
            for (int j = 0; j < n; j++) {
                int w = (r + j) % n;
                long start = clock.getAsLong();
                works.get(keys.get(w)).run(warmupRuns + r);
                nanos[w][r] = clock.getAsLong() - start;
            }
        }
        Map<K, Timing> out = new LinkedHashMap<>();
        for (int w = 0; w < n; w++) {
            out.put(keys.get(w), new Timing(nanos[w], itemsPerRun, warmupRuns));
        }
        return out;
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
     */
    public record Timing(long[] nanos, int itemsPerRun, int warmupRuns) {

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
            nanos = nanos.clone();
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
         * Returns the median duration of a run (the mean of the two middle ones for an even count).
         *
         * @return milliseconds
         */
        public double medianMillis() {
            long[] sorted = nanos.clone();
            Arrays.sort(sorted);
            int mid = sorted.length / 2;
            double median =
                    sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0;
            return median / 1e6;
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
                    && warmupRuns == t.warmupRuns;
        }

        /** {@inheritDoc} */
        @Override
        public int hashCode() {
            return 31 * (31 * Arrays.hashCode(nanos) + itemsPerRun) + warmupRuns;
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
