package org.djlquant.observer;

import java.util.function.Supplier;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QSpec;

/**
 * Factories of observers. A configuration holds these {@code Supplier}s, never observer instances;
 * every {@code get()} returns a fresh observer. Arguments are validated when the factory is made,
 * so a bad configuration fails before calibration starts.
 */
public final class Observers {

    /** Default number of histogram bins (as PyTorch's HistogramObserver and TensorRT). */
    public static final int DEFAULT_BINS = 2048;

    /**
     * Default cap on the values of one batch that a histogram observer bins (larger batches are
     * binned from a deterministic strided subsample; see {@link #histogram(QSpec, HistogramMethod,
     * int, double, long)}).
     */
    public static final long DEFAULT_MAX_SAMPLES = 1L << 16;

    /** Default percentile of the PERCENTILE method (as ONNX Runtime). */
    public static final double DEFAULT_PERCENTILE = 99.99;

    private Observers() {}

    /**
     * Running minimum and maximum over all batches (PyTorch {@code MinMaxObserver}).
     *
     * @param spec a per-tensor integer spec
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if the spec is not per tensor or not integer
     */
    public static Supplier<Observer> minMax(QSpec spec) {
        requirePerTensor(spec, "minMax");
        return () -> new RangeObserver(spec, Float.NaN);
    }

    /**
     * Exponential moving average of per-batch minimum and maximum (PyTorch {@code
     * MovingAverageMinMaxObserver}): the first batch sets the range, then {@code r <- r + momentum
     * * (batch - r)}. PyTorch's {@code averaging_constant} is our {@code momentum} (default there
     * 0.01).
     *
     * @param spec a per-tensor integer spec
     * @param momentum the averaging constant, in (0, 1]
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if momentum is outside (0, 1] or the spec is not per tensor
     */
    public static Supplier<Observer> movingAverageMinMax(QSpec spec, float momentum) {
        requirePerTensor(spec, "movingAverageMinMax");
        checkMomentum(momentum);
        return () -> new RangeObserver(spec, momentum);
    }

    /**
     * Running minimum and maximum per channel (PyTorch {@code PerChannelMinMaxObserver}), or per
     * group for a per-group spec.
     *
     * @param spec a per-channel or per-group integer spec
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if the spec is per tensor or not integer
     */
    public static Supplier<Observer> perChannelMinMax(QSpec spec) {
        requirePerChannel(spec, "perChannelMinMax");
        return () -> new RangeObserver(spec, Float.NaN);
    }

    /**
     * Moving average of per-channel (or per-group) minimum and maximum (PyTorch {@code
     * MovingAveragePerChannelMinMaxObserver}).
     *
     * @param spec a per-channel or per-group integer spec
     * @param momentum the averaging constant, in (0, 1]
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if momentum is outside (0, 1] or the spec is per tensor
     */
    public static Supplier<Observer> perChannelMovingAverageMinMax(QSpec spec, float momentum) {
        requirePerChannel(spec, "perChannelMovingAverageMinMax");
        checkMomentum(momentum);
        return () -> new RangeObserver(spec, momentum);
    }

    /**
     * Histogram observer with {@value #DEFAULT_BINS} bins and, for PERCENTILE, percentile {@value
     * #DEFAULT_PERCENTILE}.
     *
     * @param spec a per-tensor integer spec
     * @param method how the range is chosen from the histogram
     * @return a factory of fresh observers
     */
    public static Supplier<Observer> histogram(QSpec spec, HistogramMethod method) {
        return histogram(spec, method, DEFAULT_BINS, DEFAULT_PERCENTILE);
    }

    /**
     * Histogram observer with a fixed number of bins; memory stays {@code O(bins)} whatever the
     * number of batches (a wider range re-bins the histogram). For PERCENTILE and MSE, batches of
     * more than {@value #DEFAULT_MAX_SAMPLES} elements are binned from a deterministic subsample
     * (see {@link #histogram(QSpec, HistogramMethod, int, double, long)}); ENTROPY bins every
     * element, because its KL search reacts to the empty tail bins of a subsample (on a [8, 128,
     * 768] activation with outlier channels a subsample moved its range by 14% and raised the
     * quantization error 1.6x, where MSE and PERCENTILE moved by sampling noise only).
     *
     * @param spec a per-tensor integer spec
     * @param method how the range is chosen from the histogram
     * @param bins number of bins, {@code >= 2}
     * @param percentile for PERCENTILE, the kept mass in percent, in (0, 100]
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if an argument is out of range
     */
    public static Supplier<Observer> histogram(
            QSpec spec, HistogramMethod method, int bins, double percentile) {
        return histogram(
                spec,
                method,
                bins,
                percentile,
                method == HistogramMethod.ENTROPY ? Long.MAX_VALUE : DEFAULT_MAX_SAMPLES);
    }

    /**
     * Histogram observer with a fixed number of bins and a cap on the values binned per batch. Each
     * batch's minimum and maximum are always taken over the whole tensor (natively), so the
     * histogram range is exact; a batch of {@code n > maxSamples} elements is binned from the
     * elements {@code 0, k, 2k, ...} of its row-major flattening, {@code k} the smallest integer
     * {@code >= ceil(n / maxSamples)} coprime with {@code n}, each sample counting {@code n /
     * samples} times. The subsample is deterministic (same batch, same histogram).
     *
     * @param spec a per-tensor integer spec
     * @param method how the range is chosen from the histogram
     * @param bins number of bins, {@code >= 2}
     * @param percentile for PERCENTILE, the kept mass in percent, in (0, 100]
     * @param maxSamples values binned per batch at most, {@code >= bins}; {@code Long.MAX_VALUE}
     *     bins every element (as PyTorch's {@code HistogramObserver})
     * @return a factory of fresh observers
     * @throws IllegalArgumentException if an argument is out of range
     */
    public static Supplier<Observer> histogram(
            QSpec spec, HistogramMethod method, int bins, double percentile, long maxSamples) {
        requirePerTensor(spec, "histogram");
        if (method == null) {
            throw new IllegalArgumentException(
                    "method was null, must be one of PERCENTILE, ENTROPY, MSE");
        }
        if (bins < 2) {
            throw new IllegalArgumentException("bins was " + bins + ", must be >= 2");
        }
        if (!(percentile > 0 && percentile <= 100)) {
            throw new IllegalArgumentException(
                    "percentile was " + percentile + ", must be in (0, 100]");
        }
        if (maxSamples < bins) {
            throw new IllegalArgumentException(
                    "maxSamples was " + maxSamples + ", must be >= bins (" + bins + ")");
        }
        return () -> new HistogramObserver(spec, method, bins, percentile, maxSamples);
    }

    private static void checkMomentum(float momentum) {
        if (!(momentum > 0f && momentum <= 1f)) {
            throw new IllegalArgumentException("momentum was " + momentum + ", must be in (0, 1]");
        }
    }

    private static void requireInteger(QSpec spec, String what) {
        if (spec == null) {
            throw new IllegalArgumentException(what + ": spec was null, must be a QSpec");
        }
        if (!spec.dtype().isInteger()) {
            throw new IllegalArgumentException(
                    what
                            + ": dtype was "
                            + spec.dtype()
                            + ", must be an integer type (INT8, UINT8, INT4, UINT4, INT2,"
                            + " BINARY, TERNARY)");
        }
    }

    private static void requirePerTensor(QSpec spec, String what) {
        requireInteger(spec, what);
        if (spec.granularity().kind() != Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    what
                            + ": granularity was "
                            + spec.granularity()
                            + ", must be per-tensor (use perChannelMinMax for channels/groups)");
        }
    }

    private static void requirePerChannel(QSpec spec, String what) {
        requireInteger(spec, what);
        if (spec.granularity().kind() == Granularity.Kind.PER_TENSOR) {
            throw new IllegalArgumentException(
                    what + ": granularity was per-tensor, must be per-channel or per-group");
        }
    }
}
