package org.djlquant.examples;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.util.Pair;
import java.util.Locale;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * The smallest demonstration: builds a DJL MLP (784-256-128-10, Xavier-initialised), quantizes the
 * weight of every {@link Linear} to INT8 per-channel symmetric and to INT4 per-group (group 16) and
 * prints, per layer, the weight size in each precision and the quantization error (SQNR in dB and
 * maximum absolute error), computed with the library's NDArray operations.
 */
public final class QuantizeLinearDemo {

    private static final int GROUP = 16;

    private QuantizeLinearDemo() {}

    /**
     * Runs the demo.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        Engine engine = Engine.getEngine("PyTorch");
        try (Model model = Model.newInstance("mlp", "PyTorch");
                NDManager manager = engine.newBaseManager()) {
            Block mlp =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(256).build())
                            .add(Activation.reluBlock())
                            .add(Linear.builder().setUnits(128).build())
                            .add(Activation.reluBlock())
                            .add(Linear.builder().setUnits(10).build());
            model.setBlock(mlp);
            mlp.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 784));

            System.out.println(
                    "Weight quantization of a DJL MLP (784-256-128-10), PyTorch engine "
                            + engine.getVersion());
            System.out.printf(
                    Locale.ROOT,
                    "%-22s %10s %10s %10s %12s %12s %12s %12s%n",
                    "parameter",
                    "FP32 KB",
                    "INT8 KB",
                    "INT4 KB",
                    "INT8 SQNR",
                    "INT8 max|e|",
                    "INT4 SQNR",
                    "INT4 max|e|");
            long fp32 = 0;
            long int8 = 0;
            long int4 = 0;
            for (Pair<String, Parameter> p : mlp.getParameters()) {
                if (!p.getKey().endsWith("weight")) {
                    continue;
                }
                NDArray w = p.getValue().getArray();
                long out = w.getShape().get(0);
                long n = w.size();
                LayerError e8 = error(w, QSpec.int8SymmetricPerChannel(0), manager);
                LayerError e4 = error(w, QSpec.int4SymmetricPerGroup(1, GROUP), manager);
                long b32 = 4 * n;
                long b8 = n + 4 * out; // int8 values + one float scale per row
                long b4 = n / 2 + 4 * (n / GROUP); // packed nibbles + one float scale per group
                fp32 += b32;
                int8 += b8;
                int4 += b4;
                System.out.printf(
                        Locale.ROOT,
                        "%-22s %10.1f %10.1f %10.1f %9.2f dB %12.5f %9.2f dB %12.5f%n",
                        p.getKey(),
                        b32 / 1024.0,
                        b8 / 1024.0,
                        b4 / 1024.0,
                        e8.sqnrDb,
                        e8.maxAbs,
                        e4.sqnrDb,
                        e4.maxAbs);
            }
            System.out.printf(
                    Locale.ROOT,
                    "%-22s %10.1f %10.1f %10.1f   compression INT8 %.2fx, INT4 %.2fx%n",
                    "total",
                    fp32 / 1024.0,
                    int8 / 1024.0,
                    int4 / 1024.0,
                    (double) fp32 / int8,
                    (double) fp32 / int4);
        }
    }

    private record LayerError(double sqnrDb, double maxAbs) {}

    private static LayerError error(NDArray w, QSpec spec, NDManager manager) {
        try (NDManager scope = manager.newSubManager()) {
            NDArray x = w.duplicate();
            x.attach(scope);
            Granularity g = spec.granularity();
            float[][] range = NDQuant.minMax(x, g);
            long[] paramShape = g.paramShape(x.getShape().getShape());
            QParams params = QuantMath.paramsFromMinMax(spec, range[0], range[1], paramShape);
            NDArray fq = NDQuant.fakeQuantize(x, params);
            NDArray err = fq.sub(x);
            double signal = x.square().sum().getFloat();
            double noise = err.square().sum().getFloat();
            double maxAbs = err.abs().max().getFloat();
            return new LayerError(10 * Math.log10(signal / noise), maxAbs);
        }
    }
}
