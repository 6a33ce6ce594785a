package org.djlquant.policy.measure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalDouble;
import java.util.concurrent.atomic.AtomicInteger;
import org.djlquant.QuantizationException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.WeightOnlyShapeException;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostModel;
import org.djlquant.policy.LayerCost;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
import org.djlquant.policy.PrecisionFamily;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Measured layer costs are positive, sized from the storage format, and cached per machine. */
class TorchCostModelTest {

    @TempDir Path dir;

    @Test
    void measuresEveryLibtorchPrecisionAndReadsThemBackFromTheCache() throws QuantizationException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 1, false);
            List<NDList> batches = Mlp.batches(m, 2, 1, 8);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                TorchCostModel model =
                        TorchCostModel.builder().setSimulator(sim).optWarmup(1).optRuns(3).build();
                LayerInfo mid = sim.layers().get(1);
                IllegalStateException noShape =
                        assertThrows(
                                IllegalStateException.class,
                                () -> model.measure(mid, Precision.FP32));
                assertTrue(noShape.getMessage().contains("layer 03"), noShape.getMessage());
                sim.forward(batches.get(0), m);

                AtomicInteger calls = new AtomicInteger();
                CostModel counting =
                        (layer, p) -> {
                            calls.incrementAndGet();
                            return model.measure(layer, p);
                        };
                CostCache cache = CostCache.open(dir, model.cacheKey("mlp batch 8"));
                CostModel cached = cache.caching(counting);
                long w = (long) Mlp.HIDDEN * Mlp.HIDDEN;
                long b = Mlp.HIDDEN;
                for (Precision p :
                        EnumSet.of(
                                Precision.FP32,
                                Precision.FP16,
                                Precision.BF16,
                                Precision.INT8_WEIGHT_ONLY,
                                Precision.INT8_DYNAMIC,
                                Precision.INT8_STATIC)) {
                    LayerCost c = cached.measure(mid, p);
                    assertTrue(c.latencyMs() > 0, p + " " + c);
                    // weight-only INT8 [32, 32]: 1024 int8 weights + 32 bfloat16 scales + 32
                    // float32 biases
                    long expected =
                            p == Precision.FP32
                                    ? 4 * (w + b)
                                    : p == Precision.FP16 || p == Precision.BF16
                                            ? 2 * (w + b)
                                            : p == Precision.INT8_WEIGHT_ONLY
                                                    ? 1024 + 2 * 32 + 4 * 32
                                                    : (long) Math.ceil(w * (1 + 4.0 / 256)) + 4 * b;
                    assertEquals(expected, c.bytes(), p.toString());
                    // second ask: from the cache, not measured again
                    assertEquals(c, cached.measure(mid, p));
                }
                assertEquals(6, calls.get());
                cache.save();

                CostCache reread = CostCache.open(dir, model.cacheKey("mlp batch 8"));
                assertEquals(6, reread.size());
                for (Precision p :
                        EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_STATIC)) {
                    assertEquals(cache.get(mid, p), reread.get(mid, p));
                }
                reread.caching(counting).measure(mid, Precision.INT8_DYNAMIC);
                assertEquals(6, calls.get());

                // boundaries: the layer input's round trip through each family, cached by role
                for (PrecisionFamily f :
                        EnumSet.of(
                                PrecisionFamily.BFLOAT16,
                                PrecisionFamily.FLOAT16,
                                PrecisionFamily.INT8_ACTIVATION)) {
                    double ms = cache.caching(model).roundTripMs(mid, f).orElseThrow();
                    assertTrue(ms > 0 && Double.isFinite(ms), f + " " + ms);
                    assertEquals(OptionalDouble.of(ms), cache.getRoundTrip(mid, f));
                }
                assertThrows(
                        IllegalArgumentException.class,
                        () -> model.roundTripMs(mid, PrecisionFamily.FLOAT32));
            }
        }
    }

    /**
     * Weight-only layers run on libtorch's weight-only kernels (bfloat16 compute). Bytes by hand
     * for the [32, 32] layer 03 with 32 float32 biases: INT8 1024 int8 weights + 32 bfloat16 scales
     * (64 B) + 128 B bias = 1216; INT4, one group of 32 per row: 512 B of packed 4-bit weights + 32
     * rows x 1 group x (bfloat16 scale + bfloat16 zero) = 128 B + 128 B bias = 768.
     */
    /**
     * The engine given to optEngine is selected before INT8 weights are packed and names the cost
     * cache file; a real reference check on a fresh cache stores the timed reference (structure
     * only: no assertion on the time itself).
     */
    @Test
    void theChosenEngineIsSelectedForPackingAndKeysTheCacheAndTheReferenceIsStored()
            throws QuantizationException {
        org.djlquant.backend.pytorch.QEngine initial =
                org.djlquant.backend.pytorch.QEngine.current();
        org.djlquant.backend.pytorch.QEngine other =
                initial == org.djlquant.backend.pytorch.QEngine.FBGEMM
                        ? org.djlquant.backend.pytorch.QEngine.X86
                        : org.djlquant.backend.pytorch.QEngine.FBGEMM;
        org.junit.jupiter.api.Assumptions.assumeTrue(
                org.djlquant.backend.pytorch.QEngine.available().contains(other),
                "this libtorch lacks " + other);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 1, false);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                sim.forward(Mlp.batches(m, 1, 1, 8).get(0), m);
                TorchCostModel model =
                        TorchCostModel.builder()
                                .setSimulator(sim)
                                .optWarmup(0)
                                .optRuns(1)
                                .optEngine(other)
                                .build();
                assertEquals(other, model.engine());
                assertEquals(initial, org.djlquant.backend.pytorch.QEngine.current());
                String backend = model.cacheKey("w").backend();
                assertTrue(
                        backend.startsWith(
                                "pytorch-" + other.name().toLowerCase(java.util.Locale.ROOT) + "-"),
                        backend);
                TorchCostModel defaultEngine = TorchCostModel.builder().setSimulator(sim).build();
                assertEquals(initial, defaultEngine.engine());
                assertTrue(
                        !defaultEngine
                                .cacheKey("w")
                                .fileName()
                                .equals(model.cacheKey("w").fileName()),
                        "one cache file per engine");

                model.measure(sim.layers().get(1), Precision.INT8_DYNAMIC);
                assertEquals(other, org.djlquant.backend.pytorch.QEngine.current());

                CostCache cache = CostCache.open(dir, model.cacheKey("w"), model::referenceGemmMs);
                CostCache.ReferenceCheck check = cache.referenceCheck().orElseThrow();
                assertEquals(CostCache.ReferenceCheck.Outcome.NO_REFERENCE, check.outcome());
                assertTrue(
                        Double.isFinite(check.currentMs()) && check.currentMs() > 0,
                        check.toString());
                cache.save();
                assertEquals(
                        check.currentMs(),
                        CostCache.open(dir, model.cacheKey("w")).referenceMs().getAsDouble());
            }
        } finally {
            org.djlquant.backend.pytorch.QEngine.select(initial);
        }
    }

    @Test
    void measuresWeightOnlyInt8AndInt4OnTheKernelsAndRefusesShapesTheyCannotTake()
            throws QuantizationException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Mlp mlp = new Mlp(m, 3, false);
            PrepareReport report =
                    Preparer.prepare(
                            mlp.block,
                            QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            try (PrecisionSimulator sim =
                    PrecisionSimulator.create(mlp.block, report, BackendTarget.FBGEMM)) {
                sim.forward(Mlp.batches(m, 4, 1, 8).get(0), m);
                TorchCostModel model =
                        TorchCostModel.builder().setSimulator(sim).optWarmup(1).optRuns(3).build();
                LayerInfo mid = sim.layers().get(1);
                LayerCost int8 = model.measure(mid, Precision.INT8_WEIGHT_ONLY);
                LayerCost int4 = model.measure(mid, Precision.INT4_WEIGHT_ONLY);
                for (LayerCost c : new LayerCost[] {int8, int4}) {
                    assertTrue(c.latencyMs() > 0 && Double.isFinite(c.latencyMs()), c.toString());
                }
                assertEquals(1024 + 64 + 128, int8.bytes());
                assertEquals(512 + 128 + 128, int4.bytes());

                // layer 05 is [4, 32]: the INT4 packing needs out features a multiple of 16
                LayerInfo last = sim.layers().get(2);
                WeightOnlyShapeException e =
                        assertThrows(
                                WeightOnlyShapeException.class,
                                () -> model.measure(last, Precision.INT4_WEIGHT_ONLY));
                assertEquals("05", e.path());
                assertTrue(e.getMessage().contains("[4, 32]"), e.getMessage());
                assertTrue(e.getMessage().contains("was 4"), e.getMessage());
                assertTrue(e.getMessage().contains("multiple of 16"), e.getMessage());
                // INT8 takes it (in = 32 is a multiple of 16)
                assertEquals(
                        4 * 32 + 2 * 4 + 4 * 4,
                        model.measure(last, Precision.INT8_WEIGHT_ONLY).bytes());
            }
        }
    }
}
