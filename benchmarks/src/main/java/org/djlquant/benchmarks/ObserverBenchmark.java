package org.djlquant.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observer;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Cost of one observer update ({@code observe(x)}) on a {@code [256, 256]} batch, in nanoseconds
 * per element. Histogram observers copy the batch to the heap and bin it in Java; min/max observers
 * reduce on the engine and copy back only the extremes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ObserverBenchmark {

    static final int N = QuantizeBenchmark.N;

    private NDManager manager;
    private NDArray x;
    private Observer minMax;
    private Observer movingAverage;
    private Observer perChannel;
    private Observer histogram;

    /** Creates the batch and the observers. */
    @Setup(Level.Trial)
    public void setUp() {
        Random r = new Random(2);
        float[] v = new float[N];
        for (int i = 0; i < N; i++) {
            v[i] = (float) r.nextGaussian();
        }
        manager = Engine.getEngine("PyTorch").newBaseManager();
        x = manager.create(v, new Shape(QuantizeBenchmark.ROWS, QuantizeBenchmark.COLS));
        minMax = Observers.minMax(QSpec.uint8AffinePerTensor()).get();
        movingAverage = Observers.movingAverageMinMax(QSpec.uint8AffinePerTensor(), 0.01f).get();
        perChannel = Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)).get();
        histogram = Observers.histogram(QSpec.uint8AffinePerTensor(), HistogramMethod.MSE).get();
    }

    /** Closes the native arrays. */
    @TearDown(Level.Trial)
    public void tearDown() {
        manager.close();
    }

    /**
     * MinMax observer update.
     *
     * @return the observer
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public Observer observeMinMax() {
        minMax.observe(x);
        return minMax;
    }

    /**
     * Moving-average MinMax observer update.
     *
     * @return the observer
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public Observer observeMovingAverageMinMax() {
        movingAverage.observe(x);
        return movingAverage;
    }

    /**
     * Per-channel MinMax observer update (axis 0, 256 channels).
     *
     * @return the observer
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public Observer observePerChannelMinMax() {
        perChannel.observe(x);
        return perChannel;
    }

    /**
     * Histogram observer update (2048 bins).
     *
     * @return the observer
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public Observer observeHistogram() {
        histogram.observe(x);
        return histogram;
    }
}
