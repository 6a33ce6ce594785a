package org.djlquant.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
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
 * Quantize / dequantize / fake-quantize on a {@code [256, 256]} tensor, per tensor (UINT8 affine)
 * and per channel (INT8 symmetric, axis 0), through NDArray engine ops and through the float[]
 * reference. Scores are nanoseconds per element (65,536 elements per call).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class QuantizeBenchmark {

    static final int ROWS = 256;
    static final int COLS = 256;
    static final int N = ROWS * COLS;

    private NDManager manager;
    private NDArray x;
    private NDArray q;
    private float[] xf;
    private long[] qf;
    private final long[] shape = {ROWS, COLS};
    private QParams perTensor;
    private QParams perChannel;

    /** Creates the inputs and parameters once per trial. */
    @Setup(Level.Trial)
    public void setUp() {
        Random r = new Random(1);
        xf = new float[N];
        for (int i = 0; i < N; i++) {
            xf[i] = (float) r.nextGaussian();
        }
        manager = Engine.getEngine("PyTorch").newBaseManager();
        x = manager.create(xf, new Shape(shape));
        float[][] mm = NDQuant.minMax(x, QSpec.uint8AffinePerTensor().granularity());
        perTensor = QuantMath.paramsFromMinMax(QSpec.uint8AffinePerTensor(), mm[0][0], mm[1][0]);
        QSpec pc = QSpec.int8SymmetricPerChannel(0);
        float[][] cm = NDQuant.minMax(x, pc.granularity());
        perChannel = QuantMath.paramsFromMinMax(pc, cm[0], cm[1], new long[] {ROWS});
        q = NDQuant.quantize(x, perTensor);
        qf = QuantMath.quantize(xf, shape, perTensor);
    }

    /** Closes the native arrays. */
    @TearDown(Level.Trial)
    public void tearDown() {
        manager.close();
    }

    /**
     * NDArray quantize, per tensor.
     *
     * @return a checksum-free scalar so the work is not eliminated
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float ndQuantizePerTensor() {
        try (NDArray r = NDQuant.quantize(x, perTensor)) {
            return r.getShape().size();
        }
    }

    /**
     * NDArray dequantize, per tensor.
     *
     * @return the element count
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float ndDequantizePerTensor() {
        try (NDArray r = NDQuant.dequantize(q, perTensor)) {
            return r.getShape().size();
        }
    }

    /**
     * NDArray fake-quantize, per tensor.
     *
     * @return the element count
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float ndFakeQuantizePerTensor() {
        try (NDArray r = NDQuant.fakeQuantize(x, perTensor)) {
            return r.getShape().size();
        }
    }

    /**
     * NDArray fake-quantize, per channel.
     *
     * @return the element count
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float ndFakeQuantizePerChannel() {
        try (NDArray r = NDQuant.fakeQuantize(x, perChannel)) {
            return r.getShape().size();
        }
    }

    /**
     * float[] quantize, per tensor.
     *
     * @return the quantized values
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public long[] floatQuantizePerTensor() {
        return QuantMath.quantize(xf, shape, perTensor);
    }

    /**
     * float[] dequantize, per tensor.
     *
     * @return the values
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] floatDequantizePerTensor() {
        return QuantMath.dequantize(qf, shape, perTensor);
    }

    /**
     * float[] fake-quantize, per tensor.
     *
     * @return the values
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] floatFakeQuantizePerTensor() {
        return QuantMath.fakeQuantize(xf, shape, perTensor);
    }

    /**
     * float[] fake-quantize, per channel.
     *
     * @return the values
     */
    @Benchmark
    @OperationsPerInvocation(N)
    public float[] floatFakeQuantizePerChannel() {
        return QuantMath.fakeQuantize(xf, shape, perChannel);
    }
}
