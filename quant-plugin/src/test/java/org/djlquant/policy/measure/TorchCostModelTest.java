package org.djlquant.policy.measure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.djlquant.QuantizationException;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.CostCache;
import org.djlquant.policy.CostModel;
import org.djlquant.policy.LayerCost;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
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
                    long expected =
                            p == Precision.FP32
                                    ? 4 * (w + b)
                                    : p == Precision.FP16 || p == Precision.BF16
                                            ? 2 * (w + b)
                                            : (long) Math.ceil(w * (1 + 4.0 / 256)) + 4 * b;
                    assertEquals(expected, c.bytes(), p.toString());
                    // second ask: from the cache, not measured again
                    assertEquals(c, cached.measure(mid, p));
                }
                assertEquals(6, calls.get());
                QuantizationException int4 =
                        assertThrows(
                                QuantizationException.class,
                                () -> model.measure(mid, Precision.INT4_WEIGHT_ONLY));
                assertTrue(int4.getMessage().contains("03"), int4.getMessage());
                cache.save();

                CostCache reread = CostCache.open(dir, model.cacheKey("mlp batch 8"));
                assertEquals(6, reread.size());
                for (Precision p :
                        EnumSet.of(Precision.FP32, Precision.BF16, Precision.INT8_STATIC)) {
                    assertEquals(cache.get(mid, p), reread.get(mid, p));
                }
                reread.caching(counting).measure(mid, Precision.INT8_DYNAMIC);
                assertEquals(6, calls.get());
            }
        }
    }
}
