package org.djlquant.eval;

import java.util.Arrays;
import java.util.Collection;

/**
 * The median the project reports timings with: the middle value of the sorted values, or the mean
 * of the two middle ones for an even count. The one implementation behind {@link
 * SpeedMeter.Timing#medianMillis()}, the policy verification, the cost model and the benchmarks.
 *
 * <p>Stateless and thread-safe; the input is never modified.
 */
public final class Median {

    private Median() {}

    /**
     * Returns the median of the values.
     *
     * @param values at least one value, none NaN; not modified
     * @return the middle value after sorting, or the mean of the two middle ones for an even count
     * @throws IllegalArgumentException if {@code values} is null, empty or holds a NaN (naming its
     *     index)
     */
    public static double of(double... values) {
        if (values == null || values.length == 0) {
            throw new IllegalArgumentException(
                    "values was " + (values == null ? "null" : "empty") + ", must hold >= 1 value");
        }
        for (int i = 0; i < values.length; i++) {
            if (Double.isNaN(values[i])) {
                throw new IllegalArgumentException(
                        "values[" + i + "] was NaN, must be a number (median of timings)");
            }
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /**
     * Returns the median of the values (see {@link #of(double...)}).
     *
     * @param values at least one value, none null or NaN; not modified
     * @return the median
     * @throws IllegalArgumentException if {@code values} is null, empty or holds a null or a NaN
     */
    public static double of(Collection<? extends Number> values) {
        if (values == null) {
            throw new IllegalArgumentException("values was null, must hold >= 1 value");
        }
        double[] v = new double[values.size()];
        int i = 0;
        for (Number n : values) {
            if (n == null) {
                throw new IllegalArgumentException(
                        "values[" + i + "] was null, must be a number (median of timings)");
            }
            v[i++] = n.doubleValue();
        }
        return of(v);
    }
}
