package org.djlquant.backend.pytorch.export;

import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbs;
import static org.djlquant.backend.pytorch.export.ExportFixtures.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.djlquant.backend.pytorch.PackedLinear;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.QuantizedActivation;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Converter;
import org.djlquant.nn.ObservedLinear;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantizedLinear;
import org.djlquant.nn.TwinControl;
import org.djlquant.nn.Twins;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Linear → ReLU → Linear, static: the first layer observes its output after the ReLU (as PyTorch
 * fuses Linear+ReLU before observing), the second takes its input parameters from it, and the
 * converted and exported models hand the {@code quint8} activation from one kernel to the next.
 */
class Int8ChainTest {

    private static QEngine before;

    @BeforeAll
    static void x86() {
        before = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(before);
    }

    /**
     * Static INT8 for fbgemm with a min/max activation observer (its params are hand-derivable).
     */
    private static QConfig minMaxStatic() {
        QConfig preset = QConfig.staticInt8(BackendTarget.FBGEMM);
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(preset.weightObserver())
                .optActivationObserver(Observers.minMax(preset.activationSpec()))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    /** max over all batches of relu(x W^T + b), in plain Java. */
    private static double maxRelu(float[] w, float[] b, int out, int in, List<NDArray> batches) {
        double max = 0;
        for (NDArray x : batches) {
            float[] v = x.toFloatArray();
            int rows = v.length / in;
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) {
                    double s = b[o];
                    for (int i = 0; i < in; i++) {
                        s += (double) v[r * in + i] * w[o * in + i];
                    }
                    max = Math.max(max, s);
                }
            }
        }
        return max;
    }

    private static PackedLinear repack(QuantizedLinear l, boolean relu) throws Exception {
        long[] shape = l.getWeightShape();
        int out = (int) shape[0];
        int in = (int) shape[1];
        byte[] q = l.getWeightInt8();
        QParams wp = l.getWeightParams();
        float[] scales = new float[out];
        long[] zps = new long[out];
        float[] w = new float[q.length];
        for (int o = 0; o < out; o++) {
            int k = wp.size() == 1 ? 0 : o;
            scales[o] = wp.scaleAt(k);
            zps[o] = wp.zeroPointAt(k);
            for (int i = 0; i < in; i++) {
                w[o * in + i] = (float) ((q[o * in + i] - zps[o]) * (double) scales[o]);
            }
        }
        return PackedLinear.staticInt8(
                w,
                shape,
                scales,
                zps,
                0,
                l.getBias(),
                l.getInputParams().scale(),
                l.getInputParams().zeroPoint(),
                l.getOutputParams().scale(),
                l.getOutputParams().zeroPoint(),
                relu);
    }

    @Test
    void linearReluLinearObservesAfterTheReluSharesParamsAndStaysInt8(@TempDir Path dir)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(24).build())
                            .add(Activation.reluBlock())
                            .add(Linear.builder().setUnits(16).build());
            net.initialize(m, DataType.FLOAT32, new Shape(6, ExportFixtures.FFN_IN));
            ExportFixtures.fill(net, 7);
            Linear first = (Linear) net.getChildren().get(0).getValue();
            float[] w1 = first.getParameters().get("weight").getArray().toFloatArray();
            float[] b1 = first.getParameters().get("bias").getArray().toFloatArray();
            List<NDArray> calibration = ExportFixtures.batches(m, 100, 8, 6, ExportFixtures.FFN_IN);
            double hiddenMax = maxRelu(w1, b1, 24, ExportFixtures.FFN_IN, calibration);

            Preparer.prepare(net, QConfigMapping.global(minMaxStatic()));
            ObservedLinear t1 = (ObservedLinear) net.getChildren().get(0).getValue();
            ObservedLinear t2 = (ObservedLinear) net.getChildren().get(2).getValue();
            assertTrue(t1.isReluFused());
            assertFalse(t2.isReluFused());
            assertNull(t1.control().sharedFrom(TwinControl.INPUT));
            assertEquals(
                    t1.path() + "#" + TwinControl.OUTPUT,
                    t2.control().sharedFrom(TwinControl.INPUT));
            for (NDArray x : calibration) {
                ExportFixtures.run(net, m, new NDList(x));
            }
            Twins.setObserving(net, false);

            // min/max after the ReLU: min 0, so the zero point is qmin and the scale
            // max/(qmax-qmin)
            // (before the ReLU the minimum is negative and the zero point larger)
            QParams out1 = t1.control().computeParams().get(TwinControl.OUTPUT);
            QSpec spec = out1.spec();
            assertEquals(spec.qmin(), out1.zeroPoint());
            assertEquals(hiddenMax / (spec.qmax() - spec.qmin()), out1.scale(), 1e-5 * hiddenMax);
            QParams in2 = t2.control().computeParams().get(TwinControl.INPUT);
            assertEquals(out1.scale(), in2.scale(), 0.0);
            assertEquals(out1.zeroPoint(), in2.zeroPoint());

            NDArray test = ExportFixtures.batches(m, 555, 1, 6, ExportFixtures.FFN_IN).get(0);
            float[] sim = ExportFixtures.simulate(net, m, new NDList(test));

            // prepared export: linear_relu requantizing to the shared params, quint8 handed on
            QuantizationManifest prepared =
                    TorchScriptExporter.builder()
                            .setBlock(net)
                            .optEngine(QEngine.X86)
                            .build()
                            .export(dir.resolve("prepared"), "ffn");
            assertEquals(2, prepared.layers().size(), prepared.toJson());
            assertEquals("quantized::linear_relu", prepared.layers().get(0).kernel());
            assertTrue(prepared.layers().get(0).outputQuantized());
            assertEquals(out1.scale(), prepared.layers().get(1).inputScale(), 0.0);
            float[] preparedOut =
                    ExportFixtures.runExported(dir.resolve("prepared"), "ffn", new NDList(test));

            // in place: the first layer runs both kernels on quint8
            Converter.convert(net, m, QEngine.X86);
            QuantizedLinear q1 = (QuantizedLinear) net.getChildren().get(0).getValue();
            QuantizedLinear q2 = (QuantizedLinear) net.getChildren().get(2).getValue();
            assertTrue(q1.isReluFused());
            assertSame(q2, q1.getNext());
            assertTrue(q2.isChainedFromPrevious());
            assertFalse(q1.isChainedFromPrevious());
            float[] inPlace = ExportFixtures.run(net, m, new NDList(test)).head().toFloatArray();
            // the chain must not touch its input (DJL's Shape.getShape() is the Shape's own array)
            assertEquals(new Shape(6, ExportFixtures.FFN_IN), test.getShape());

            // the same INT8 weights packed by hand and chained through QuantizedActivation
            float[] hand;
            try (PackedLinear p1 = repack(q1, true);
                    PackedLinear p2 = repack(q2, false);
                    NDManager scope = m.newSubManager();
                    QuantizedActivation xq =
                            QuantizedActivation.quantize(
                                    test,
                                    q1.getInputParams().scale(),
                                    q1.getInputParams().zeroPoint());
                    QuantizedActivation h = p1.forward(xq);
                    QuantizedActivation y = p2.forward(h)) {
                hand = y.dequantize(scope).toFloatArray();
            }
            assertArrayEquals(hand, inPlace, 0f);

            QuantizationManifest converted =
                    TorchScriptExporter.builder()
                            .setBlock(net)
                            .optEngine(QEngine.X86)
                            .build()
                            .export(dir.resolve("converted"), "ffn");
            assertEquals("quantized::linear_relu", converted.layers().get(0).kernel());
            float[] convertedOut =
                    ExportFixtures.runExported(dir.resolve("converted"), "ffn", new NDList(test));

            double magnitude = maxAbs(inPlace);
            assertTrue(magnitude > 0.1, "outputs are not trivially zero: " + magnitude);
            assertTrue(maxAbsDiff(inPlace, convertedOut) <= 1e-6 * Math.max(1, magnitude));
            assertTrue(maxAbsDiff(inPlace, preparedOut) <= 1e-6 * Math.max(1, magnitude));
            double step = q2.getOutputParams().scale();
            int within = 0;
            for (int i = 0; i < sim.length; i++) {
                if (Math.abs(sim[i] - inPlace[i]) <= step * 1.0001) {
                    within++;
                }
            }
            System.out.printf(
                    Locale.ROOT,
                    "Linear-ReLU-Linear chain: %d/%d within one output step of the simulation,"
                            + " max |sim - int8| %.2f steps%n",
                    within,
                    sim.length,
                    maxAbsDiff(sim, inPlace) / step);
            assertTrue(within >= 0.99 * sim.length, within + " of " + sim.length);
            assertTrue(maxAbsDiff(sim, inPlace) <= 2 * step);
        }
    }

    /** A static layer after a float block keeps its own input observer. */
    @Test
    void staticLayerAfterAFloatBlockObservesItsOwnInput() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net =
                    new SequentialBlock()
                            .add(Linear.builder().setUnits(8).build())
                            .add(Activation.geluBlock())
                            .add(Linear.builder().setUnits(4).build());
            net.initialize(m, DataType.FLOAT32, new Shape(2, 6));
            Preparer.prepare(net, QConfigMapping.global(minMaxStatic()));
            Block a = net.getChildren().get(0).getValue();
            ObservedLinear b = (ObservedLinear) net.getChildren().get(2).getValue();
            assertFalse(((ObservedLinear) a).isReluFused());
            assertNull(b.control().sharedFrom(TwinControl.INPUT));
        }
    }
}
