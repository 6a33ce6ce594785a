package org.djlquant.backend.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.nio.file.Path;
import java.util.Map;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.Twins;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Linear-ReLU-Linear FFN exported float, static INT8 (QDQ) and dynamic INT8 runs on ONNX Runtime
 * (full optimisation, so the integer kernels run) and agrees with (a) the in-process fake-quant
 * simulation of the same prepared block and (b) a plain-Java reference of the ONNX operator
 * semantics written in this test (division by the scale, ties to even).
 *
 * <p>Tolerances, derived: ONNX Runtime accumulates the integer products exactly in int32 and scales
 * once, where the simulation sums dequantized float products, so the two differ by float32
 * summation error: ≤ {@code K · 2^-24 · Σ|terms|} with K = 64 inputs, well under {@code 1e-4 ·
 * max|y|}; the bias, stored as INT32 on the grid {@code s_x · s_w[j]} so that ONNX Runtime fuses
 * the layer (QGemm / MatMulIntegerToFloat), adds at most {@code s_x · s_w / 2}, far below that too.
 * On top, ONNX QuantizeLinear divides by the scale while the simulation multiplies by the float32
 * reciprocal: an input within an ulp of a rounding tie may land one step away, which moves an
 * output of the layer by at most {@code s_x · max|W|} and, through the next layer, by at most
 * {@code s_x · max|W1| · max_j Σ_i |W2[j,i]|}. Static layers also quantize their output (as the
 * simulation does): an output within the accumulation error of a rounding tie may land one output
 * step {@code s_y} away, which moves the FFN output by {@code s_y2} in the last layer and by at
 * most {@code s_y1 · max_j Σ_i |W2[j,i]|} through the next layer. The test counts elements beyond
 * the accumulation tolerance (expected: none or a handful) and bounds every difference by the
 * accumulation term plus one input step and one output step in each layer.
 */
class FfnExportTest {

    private static final int IN = 64;
    private static final int HIDDEN = 96;
    private static final int OUT = 16;
    private static final int ROWS = 48;

    private static SequentialBlock ffn(NDManager m) {
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(HIDDEN).build());
        net.add(Activation.reluBlock());
        net.add(Linear.builder().setUnits(OUT).build());
        net.initialize(m, DataType.FLOAT32, new Shape(ROWS, IN));
        return net;
    }

    private static NDArray forward(SequentialBlock net, NDManager m, NDArray x) {
        return net.forward(new ParameterStore(m, false), new NDList(x), false).head();
    }

    private static byte[] export(SequentialBlock net, ExportOptions.DynamicOperator op) {
        return OnnxExporter.builder()
                .setBlock(net)
                .optInput("input", -1, IN)
                .optDynamicOperator(op)
                .build()
                .toBytes();
    }

    @Test
    void floatFfnMatchesDjl(@TempDir Path dir) throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(7);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ffn(m);
            NDArray x = m.randomNormal(new Shape(ROWS, IN));
            float[] expected = forward(net, m, x).toFloatArray();
            try (OrtModel ort =
                    new OrtModel(
                            export(net, ExportOptions.DynamicOperator.MATMUL_INTEGER),
                            dir,
                            "ffn")) {
                float[] actual = ort.run(x.toFloatArray(), x.getShape());
                assertTrue(maxAbs(expected, actual) <= 1e-5, "max abs " + maxAbs(expected, actual));
            }
        }
    }

    @Test
    void staticInt8FfnMatchesFakeQuantAndOnnxSemantics(@TempDir Path dir) throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(7);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ffn(m);
            Preparer.prepare(
                    net, QConfigMapping.global(QConfig.staticInt8(BackendTarget.ONNXRUNTIME)));
            for (int i = 0; i < 6; i++) {
                forward(net, m, m.randomNormal(new Shape(ROWS, IN)));
            }
            Twins.setObserving(net, false);
            Twins.setFakeQuant(net, true);
            NDArray x = m.randomNormal(new Shape(ROWS, IN)).mul(1.2f);
            float[] fake = forward(net, m, x).toFloatArray();
            Map<String, Map<String, QParams>> params = Twins.computeParams(net);
            Layer l1 = Layer.of(net, 0, params);
            Layer l2 = Layer.of(net, 2, params);
            float[] xs = x.toFloatArray();
            float[] h = l1.staticRef(xs, ROWS);
            for (int i = 0; i < h.length; i++) {
                h[i] = Math.max(h[i], 0f);
            }
            float[] reference = l2.staticRef(h, ROWS);
            byte[] onnx = export(net, ExportOptions.DynamicOperator.MATMUL_INTEGER);
            try (OrtModel ort = new OrtModel(onnx, dir, "ffn_static")) {
                float[] actual = ort.run(xs, x.getShape());
                assertAgree("static", fake, reference, actual, l1, l2);
            }
        }
    }

    @Test
    void dynamicInt8FfnMatchesFakeQuantWithBothOperatorsPerTensorAndPerChannel(@TempDir Path dir)
            throws Exception {
        QConfig perChannel =
                QConfig.builder()
                        .setMode(QMode.DYNAMIC)
                        .setWeightObserver(
                                Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                        .optDynamicActivationSpec(QSpec.uint8AffinePerTensor())
                        .build();
        for (QConfig config :
                new QConfig[] {QConfig.dynamicInt8(BackendTarget.ONNXRUNTIME), perChannel}) {
            for (ExportOptions.DynamicOperator op : ExportOptions.DynamicOperator.values()) {
                Engine.getEngine("PyTorch").setRandomSeed(7);
                try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                    SequentialBlock net = ffn(m);
                    Preparer.prepare(net, QConfigMapping.global(config));
                    Twins.setObserving(net, false);
                    Twins.setFakeQuant(net, true);
                    NDArray x = m.randomNormal(new Shape(ROWS, IN)).mul(0.7f).add(0.3f);
                    float[] fake = forward(net, m, x).toFloatArray();
                    Map<String, Map<String, QParams>> params = Twins.computeParams(net);
                    Layer l1 = Layer.of(net, 0, params);
                    Layer l2 = Layer.of(net, 2, params);
                    float[] xs = x.toFloatArray();
                    float[] h = l1.dynamicRef(xs, ROWS);
                    for (int i = 0; i < h.length; i++) {
                        h[i] = Math.max(h[i], 0f);
                    }
                    float[] reference = l2.dynamicRef(h, ROWS);
                    String name = "ffn_" + op.name().toLowerCase() + l1.weight.size();
                    try (OrtModel ort = new OrtModel(export(net, op), dir, name)) {
                        float[] actual = ort.run(xs, x.getShape());
                        assertAgree(name, fake, reference, actual, l1, l2);
                    }
                }
            }
        }
    }

    @Test
    void weightOnlyInt8FfnMatchesFakeQuant(@TempDir Path dir) throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(13);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = ffn(m);
            Preparer.prepare(
                    net, QConfigMapping.global(QConfig.weightOnlyInt8(BackendTarget.ONNXRUNTIME)));
            Twins.setObserving(net, false);
            Twins.setFakeQuant(net, true);
            NDArray x = m.randomNormal(new Shape(ROWS, IN));
            float[] fake = forward(net, m, x).toFloatArray();
            Twins.setFakeQuant(net, false);
            float[] fp32 = forward(net, m, x).toFloatArray();
            byte[] onnx = export(net, ExportOptions.DynamicOperator.MATMUL_INTEGER);
            try (OrtModel ort = new OrtModel(onnx, dir, "ffn_weight_only")) {
                float[] actual = ort.run(x.toFloatArray(), x.getShape());
                // float activations, dequantized weights: only the summation order differs
                double d = maxAbs(fake, actual);
                System.out.printf(
                        "FFN weight-only INT8: ORT vs fake-quant %.3g, vs FP32 %.3g%n",
                        d, maxAbs(fp32, actual));
                assertTrue(d <= 1e-5, "max abs " + d);
                assertTrue(maxAbs(fp32, actual) > 1e-4, "weights were quantized");
            }
        }
    }

    private static void assertAgree(
            String label, float[] fake, float[] reference, float[] actual, Layer l1, Layer l2) {
        assertEquals(fake.length, actual.length);
        double maxY = 0;
        for (float v : reference) {
            maxY = Math.max(maxY, Math.abs(v));
        }
        double acc = 1e-4 * maxY;
        double oneStep =
                l2.stepBound()
                        + l2.outputStep()
                        + (l1.stepBound() + l1.outputStep()) * l2.maxRowAbsSum();
        int beyond = 0;
        for (int i = 0; i < fake.length; i++) {
            if (Math.abs(fake[i] - actual[i]) > acc || Math.abs(reference[i] - actual[i]) > acc) {
                beyond++;
            }
        }
        double toRef = maxAbs(reference, actual);
        double toFake = maxAbs(fake, actual);
        System.out.printf(
                "FFN %s: ORT vs ONNX-semantics reference %.3g, ORT vs fake-quant %.3g"
                        + " (accumulation tolerance %.3g, one-step bound %.3g, %d of %d elements"
                        + " beyond accumulation tolerance)%n",
                label, toRef, toFake, acc, oneStep, beyond, fake.length);
        assertTrue(toRef <= acc + oneStep, label + ": ORT vs reference " + toRef);
        assertTrue(toFake <= acc + oneStep, label + ": ORT vs fake-quant " + toFake);
        assertTrue(beyond <= fake.length / 100, label + ": " + beyond + " elements differ");
    }

    static double maxAbs(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    /** One linear layer's float weights and its parameters, with ONNX-semantics references. */
    private record Layer(
            float[] w, float[] b, int out, int in, QParams weight, QParams input, QParams output) {

        static Layer of(SequentialBlock net, int index, Map<String, Map<String, QParams>> params) {
            Linear lin = (Linear) net.getChildren().get(index).getValue();
            float[] w = lin.getParameters().get("weight").getArray().toFloatArray();
            float[] b = lin.getParameters().get("bias").getArray().toFloatArray();
            Shape s = lin.getParameters().get("weight").getArray().getShape();
            Map<String, QParams> p = null;
            for (Map.Entry<String, Map<String, QParams>> e : params.entrySet()) {
                if (e.getKey().startsWith(String.format("%02d", index + 1))) {
                    p = e.getValue();
                }
            }
            return new Layer(
                    w,
                    b,
                    (int) s.get(0),
                    (int) s.get(1),
                    p.get(TwinControl.WEIGHT),
                    p.get(TwinControl.INPUT),
                    p.get(TwinControl.OUTPUT));
        }

        /** Dequantized weight as stored: rint(w · (1/s)) clamped to [-128, 127], times s. */
        double dw(int j, int i) {
            int k = weight.size() == 1 ? 0 : j;
            float s = weight.scaleAt(k);
            float inv = 1.0f / s;
            double q = Math.max(-128, Math.min(127, Math.rint(w[j * in + i] * inv)));
            return (float) ((q - weight.zeroPointAt(k)) * s);
        }

        double maxAbsW() {
            double m = 0;
            for (int j = 0; j < out; j++) {
                for (int i = 0; i < in; i++) {
                    m = Math.max(m, Math.abs(dw(j, i)));
                }
            }
            return m;
        }

        double maxRowAbsSum() {
            double m = 0;
            for (int j = 0; j < out; j++) {
                double s = 0;
                for (int i = 0; i < in; i++) {
                    s += Math.abs(dw(j, i));
                }
                m = Math.max(m, s);
            }
            return m;
        }

        double stepBound() {
            return (input != null ? input.scale() : lastDynamicScale) * maxAbsW();
        }

        /** One step of the output grid (static layers quantize their output), else 0. */
        double outputStep() {
            return output != null ? output.scale() : 0;
        }

        private static double lastDynamicScale;

        /**
         * Static layer: the bias is stored as INT32 on the grid s_x · s_w[j] (see the exporter);
         * the output goes through QuantizeLinear/DequantizeLinear with the output parameters.
         */
        float[] staticRef(float[] x, int rows) {
            float[] stored = new float[out];
            for (int j = 0; j < out; j++) {
                float s = input.scale() * weight.scaleAt(weight.size() == 1 ? 0 : j);
                stored[j] = (float) (Math.rint(b[j] / s) * s);
            }
            float[] y =
                    new Layer(w, stored, out, in, weight, input, output)
                            .linear(x, rows, input.scale(), input.zeroPoint());
            if (output == null) {
                return y;
            }
            float s = output.scale();
            long z = output.zeroPoint();
            long lo = output.spec().qmin();
            long hi = output.spec().qmax();
            for (int i = 0; i < y.length; i++) {
                double q = Math.max(lo, Math.min(hi, Math.rint(y[i] / s) + z));
                y[i] = (float) ((q - z) * s);
            }
            return y;
        }

        /** ONNX DynamicQuantizeLinear: s = (max(0, max) - min(0, min)) / 255, zp = rint(-min/s). */
        float[] dynamicRef(float[] x, int rows) {
            float lo = 0;
            float hi = 0;
            for (float v : x) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            float s = (hi - lo) / 255f;
            long z = (long) Math.max(0, Math.min(255, Math.rint(-lo / s)));
            lastDynamicScale = Math.max(lastDynamicScale, s);
            return linear(x, rows, s, z);
        }

        /** QuantizeLinear (x / s, ties to even), DequantizeLinear, matmul in double, bias. */
        private float[] linear(float[] x, int rows, float s, long z) {
            double[] xd = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                double q = Math.max(0, Math.min(255, Math.rint(x[i] / s) + z));
                xd[i] = (q - z) * s;
            }
            float[] y = new float[rows * out];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < out; j++) {
                    double acc = b[j];
                    for (int i = 0; i < in; i++) {
                        acc += xd[r * in + i] * dw(j, i);
                    }
                    y[r * out + j] = (float) acc;
                }
            }
            return y;
        }
    }
}
