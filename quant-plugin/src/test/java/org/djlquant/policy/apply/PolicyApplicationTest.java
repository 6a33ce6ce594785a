package org.djlquant.policy.apply;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.djlquant.Quantizer;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.ConvertReport;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.WeightOnlyLinear;
import org.djlquant.policy.DecisionSource;
import org.djlquant.policy.LayerDecision;
import org.djlquant.policy.MixedPrecisionPolicy;
import org.djlquant.policy.Precision;
import org.djlquant.policy.Strategy;
import org.djlquant.policy.measure.PrecisionSimulator;
import org.junit.jupiter.api.Test;

/** A policy becomes a QConfigMapping plus half-precision layers, and reads back from the model. */
class PolicyApplicationTest {

    private static SequentialBlock mlp(NDManager m) {
        SequentialBlock net =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(32).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(32).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(32).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(4).build());
        net.initialize(m, DataType.FLOAT32, new Shape(1, 32));
        return net;
    }

    private static MixedPrecisionPolicy policy(Precision... ps) {
        Map<String, LayerDecision> layers = new LinkedHashMap<>();
        String[] paths = {"01", "03", "05", "07"};
        for (int i = 0; i < ps.length; i++) {
            layers.put(paths[i], new LayerDecision(ps[i], DecisionSource.MANUAL, ""));
        }
        return new MixedPrecisionPolicy(
                Strategy.MANUAL,
                layers,
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                OptionalDouble.empty());
    }

    @Test
    void policyRoundTripsThroughMappingPrepareAndHalfSwaps() {
        Precision[][] cases = {
            {Precision.INT8_STATIC, Precision.BF16, Precision.INT8_WEIGHT_ONLY, Precision.FP32},
            {Precision.INT8_DYNAMIC, Precision.FP32, Precision.FP16, Precision.BF16}
        };
        for (Precision[] c : cases) {
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                SequentialBlock net = mlp(m);
                NDArray x = m.randomNormal(new Shape(3, 32));
                float[] fp32 =
                        net.forward(new ParameterStore(m, false), new NDList(x), false)
                                .head()
                                .toFloatArray();
                MixedPrecisionPolicy p = policy(c);
                QConfigMapping mapping =
                        PolicyApplication.toQConfigMapping(p, BackendTarget.FBGEMM, net);
                PrepareReport report = Preparer.prepare(net, mapping);
                PolicyApplication.HalfSwaps swaps = PolicyApplication.applyHalfPrecision(p, net);
                assertEquals(p.assignment(), PolicyApplication.precisionsOf(net));
                for (Map.Entry<String, Precision> e : p.assignment().entrySet()) {
                    PrepareReport.Entry entry = report.entry(e.getKey());
                    if (e.getValue().isQuantized()) {
                        assertEquals(PrepareReport.Status.WRAPPED, entry.status(), e.getKey());
                    } else {
                        assertEquals(PrepareReport.Status.FLOAT, entry.status(), e.getKey());
                        assertNull(entry.config());
                    }
                }
                if (c[0] == Precision.INT8_STATIC) {
                    assertEquals(QMode.STATIC, report.entry("01").config().mode());
                }
                // the model still runs; with fake quantization off it differs from FP32 only by
                // the half-precision layers
                float[] mixed =
                        net.forward(new ParameterStore(m, false), new NDList(x), false)
                                .head()
                                .toFloatArray();
                double maxDiff = 0;
                for (int i = 0; i < fp32.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(mixed[i] - fp32[i]));
                }
                assertTrue(maxDiff > 0 && maxDiff < 0.05, "max diff " + maxDiff);
                swaps.restore();
                swaps.restore();
                float[] back =
                        net.forward(new ParameterStore(m, false), new NDList(x), false)
                                .head()
                                .toFloatArray();
                assertArrayEquals(fp32, back, 0f);
                for (String path : p.assignment().keySet()) {
                    if (!p.assignment().get(path).isQuantized()) {
                        assertSame(
                                Linear.class,
                                org.djlquant.nn.BlockPaths.byCleanPath(net).get(path).getClass());
                    }
                }
            }
        }
    }

    @Test
    void policyNamingALayerTheModelDoesNotHaveIsRefused() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = mlp(m);
            Map<String, LayerDecision> layers = new LinkedHashMap<>();
            layers.put("01", new LayerDecision(Precision.BF16, DecisionSource.MANUAL, ""));
            layers.put(
                    "encoder.03.ffn",
                    new LayerDecision(Precision.INT8_DYNAMIC, DecisionSource.MANUAL, ""));
            MixedPrecisionPolicy p =
                    new MixedPrecisionPolicy(
                            Strategy.MANUAL,
                            layers,
                            OptionalDouble.empty(),
                            OptionalDouble.empty(),
                            OptionalDouble.empty());
            UnknownLayerException e =
                    assertThrows(
                            UnknownLayerException.class,
                            () -> PolicyApplication.toQConfigMapping(p, BackendTarget.FBGEMM, net));
            assertEquals("encoder.03.ffn", e.path());
            assertTrue(e.getMessage().contains("[01, 03, 05, 07]"), e.getMessage());
            assertThrows(
                    UnknownLayerException.class,
                    () -> PolicyApplication.applyHalfPrecision(p, net));
            // nothing was swapped by the refused call
            assertSame(Linear.class, net.getChildren().get(0).getValue().getClass());
            // a path naming a non-Linear block
            Map<String, LayerDecision> relu = new LinkedHashMap<>();
            relu.put("02", new LayerDecision(Precision.BF16, DecisionSource.MANUAL, ""));
            MixedPrecisionPolicy q =
                    new MixedPrecisionPolicy(
                            Strategy.MANUAL,
                            relu,
                            OptionalDouble.empty(),
                            OptionalDouble.empty(),
                            OptionalDouble.empty());
            IllegalArgumentException notLinear =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> PolicyApplication.applyHalfPrecision(q, net));
            assertTrue(notLinear.getMessage().contains("02"), notLinear.getMessage());
        }
    }

    /**
     * A policy asking for INT4 weight-only on a layer whose shape libtorch's INT4 kernel cannot
     * take (layer 07 of the MLP is 32 → 4: 4 output features, the kernel packs 16 at a time) is
     * refused when the mapping is made, with the typed exception naming the layer, its weight shape
     * and the rule; the same precision on a 32 → 32 layer is mapped to the INT4 weight-only config
     * (group 32, the largest that divides 32 input features).
     */
    @Test
    void int4OnALayerTheKernelCannotTakeIsRefusedWhenMapping() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = mlp(m);
            MixedPrecisionPolicy bad =
                    policy(
                            Precision.INT4_WEIGHT_ONLY,
                            Precision.FP32,
                            Precision.FP32,
                            Precision.INT4_WEIGHT_ONLY);
            org.djlquant.nn.WeightOnlyShapeException e =
                    assertThrows(
                            org.djlquant.nn.WeightOnlyShapeException.class,
                            () ->
                                    PolicyApplication.toQConfigMapping(
                                            bad,
                                            PrecisionConfigs.perChannel(BackendTarget.FBGEMM),
                                            net));
            assertEquals("07", e.path());
            assertTrue(e.getMessage().contains("[4, 32]"), e.getMessage());
            assertTrue(e.getMessage().contains("multiple of 16"), e.getMessage());
            MixedPrecisionPolicy good = policy(Precision.INT4_WEIGHT_ONLY);
            org.djlquant.config.QConfig c =
                    PolicyApplication.toQConfigMapping(
                                    good, PrecisionConfigs.perChannel(BackendTarget.FBGEMM), net)
                            .resolve("01", "01", Linear.class)
                            .config();
            assertEquals(Precision.INT4_WEIGHT_ONLY, PolicyApplication.precisionOf(c));
        }
    }

    /** The shape rules of the in-place kernels, from libtorch's weight-only kernels' limits. */
    @Test
    void shapeProblemFollowsTheKernelLimits() {
        org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute bf16 =
                org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute.BFLOAT16;
        org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute f32 =
                org.djlquant.backend.pytorch.WeightOnlyPackedLinear.Compute.FLOAT32;
        // MiniLM's shapes all run
        for (long[] s : new long[][] {{384, 384}, {1536, 384}, {384, 1536}}) {
            for (Precision p : Precision.values()) {
                assertEquals(null, PrecisionConfigs.shapeProblem(p, s[0], s[1], bf16), p + "");
            }
        }
        // Fashion-MNIST's classifier 64 -> 10: INT8 weight-only yes, INT4 no (10 outputs)
        assertEquals(null, PrecisionConfigs.shapeProblem(Precision.INT8_WEIGHT_ONLY, 10, 64, bf16));
        assertTrue(
                PrecisionConfigs.shapeProblem(Precision.INT4_WEIGHT_ONLY, 10, 64, bf16)
                        .contains("10"));
        // 40 input features: bfloat16 INT8 needs 16 | K, float32 does not; INT4 needs 32 | K
        assertTrue(
                PrecisionConfigs.shapeProblem(Precision.INT8_WEIGHT_ONLY, 16, 40, bf16)
                        .contains("40"));
        assertEquals(null, PrecisionConfigs.shapeProblem(Precision.INT8_WEIGHT_ONLY, 16, 40, f32));
        assertTrue(
                PrecisionConfigs.shapeProblem(Precision.INT4_WEIGHT_ONLY, 16, 40, bf16)
                        .contains("multiple of 32"));
        assertEquals(null, PrecisionConfigs.shapeProblem(Precision.INT8_STATIC, 10, 40, bf16));
    }

    /** FFN 128 → 256 → ReLU → 128 with weights from a seeded {@link Random}, in a new model. */
    private static Model ffn(String name) {
        Model model = Model.newInstance(name, "PyTorch");
        SequentialBlock block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(256).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(128).build());
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 128));
        model.setBlock(block);
        Random r = new Random(11);
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray a = p.getValue().getArray();
            float[] v = new float[(int) a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 0.05);
            }
            a.set(v);
        }
        return model;
    }

    /**
     * A policy with INT4 and INT8 weight-only layers converts in place on fbgemm through the {@link
     * Quantizer} facade (policy → mapping → prepare → {@link org.djlquant.nn.Converter}, FLOAT32
     * compute) into libtorch's weight-only kernels, and the converted model computes what the
     * {@link org.djlquant.policy.measure.PrecisionSimulator} simulated for the same policy: {@code
     * max|y - y_sim| ≤ 2e-5 · max|y_sim|} (the tolerance of WeightOnlyConvertTest for FLOAT32
     * compute: same dequantized weights, float32 summation order only).
     */
    @Test
    void weightOnlyPolicyConvertsInPlaceOnFbgemmAndMatchesTheSimulator()
            throws QuantizationException {
        MixedPrecisionPolicy p = policy(Precision.INT4_WEIGHT_ONLY, Precision.INT8_WEIGHT_ONLY);
        Random r = new Random(5);
        float[] xs = new float[4 * 128];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = (float) r.nextGaussian();
        }
        Shape xShape = new Shape(4, 128);
        float[] fp32;
        float[] sim;
        try (Model a = ffn("wo-policy-sim")) {
            NDManager m = a.getNDManager();
            NDList x = new NDList(m.create(xs, xShape));
            fp32 =
                    a.getBlock()
                            .forward(new ParameterStore(m, false), x, false)
                            .head()
                            .toFloatArray();
            PrepareReport report =
                    Preparer.prepare(
                            a,
                            QConfigMapping.global(
                                    org.djlquant.config.QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator s =
                    PrecisionSimulator.create(a.getBlock(), report, BackendTarget.FBGEMM)) {
                s.set(p.assignment());
                sim = s.forward(x, m).head().toFloatArray();
            }
        }
        QEngine before = QEngine.current();
        try (Model b = ffn("wo-policy-convert")) {
            NDManager m = b.getNDManager();
            ConvertReport report =
                    Quantizer.builder()
                            .setPolicy(p)
                            .optBackend(BackendTarget.FBGEMM)
                            .build()
                            .quantize(b);
            assertEquals(2, report.weightOnlyLinears().size(), report.toTable());
            WeightOnlyLinear int4 = report.weightOnlyLinears().get(0);
            WeightOnlyLinear int8 = report.weightOnlyLinears().get(1);
            assertEquals(4, int4.bits());
            assertEquals(128, int4.groupSize());
            assertEquals(8, int8.bits());
            assertSame(int4, b.getBlock().getChildren().get(0).getValue());
            assertSame(int8, b.getBlock().getChildren().get(2).getValue());
            float[] got =
                    b.getBlock()
                            .forward(
                                    new ParameterStore(m, false),
                                    new NDList(m.create(xs, xShape)),
                                    false)
                            .head()
                            .toFloatArray();
            double maxSim = 0;
            double maxDiff = 0;
            double maxFromFp32 = 0;
            for (int i = 0; i < got.length; i++) {
                maxSim = Math.max(maxSim, Math.abs(sim[i]));
                maxDiff = Math.max(maxDiff, Math.abs(got[i] - sim[i]));
                maxFromFp32 = Math.max(maxFromFp32, Math.abs(got[i] - fp32[i]));
            }
            assertTrue(maxDiff <= 2e-5 * maxSim, "vs simulation " + maxDiff + " of " + maxSim);
            // the comparison is not vacuous: INT4 weights move the output well beyond that
            assertTrue(maxFromFp32 > 1e-3 * maxSim, "vs FP32 " + maxFromFp32);
        } finally {
            QEngine.select(before);
        }
    }
}
