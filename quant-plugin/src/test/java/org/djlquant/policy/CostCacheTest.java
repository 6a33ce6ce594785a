package org.djlquant.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CostCacheTest {

    private static final CostCacheKey KEY =
            new CostCacheKey("x86-64-test-cpu-2cpu", "pytorch-fbgemm", 2, "batch=32,seq=128");

    private static final List<LayerInfo> LAYERS =
            List.of(
                    new LayerInfo("encoder.0.ffn.in", "Linear", 1000),
                    new LayerInfo("encoder.0.ffn.out", "Linear", 1000),
                    new LayerInfo("encoder.1.ffn.in", "Linear", 1000),
                    new LayerInfo("encoder.1.ffn.out", "Linear", 1000),
                    new LayerInfo("classifier", "Linear", 20));

    @Test
    void repeatedLayerRolesAreMeasuredOnceAndTheFileIsReread(@TempDir Path dir)
            throws QuantizationException {
        List<String> measured = new ArrayList<>();
        CostModel backend =
                (layer, p) -> {
                    measured.add(layer.path() + "@" + p);
                    return new LayerCost(
                            layer.params() / 100.0 / p.weightBytesPerParam(),
                            p.estimatedBytes(layer.params()));
                };
        ResolvedRules rules =
                ResolvedRules.unrestricted(
                        LAYERS,
                        BackendCapabilities.uniform(
                                "pytorch-fbgemm",
                                EnumSet.of(Precision.FP32, Precision.INT8_DYNAMIC)));
        CostCache cache = CostCache.open(dir, KEY);
        CostTable first = CostTable.measure(rules, cache.caching(backend));
        // three roles (encoder.#.ffn.in, encoder.#.ffn.out, classifier) x two precisions
        assertEquals(6, measured.size(), measured.toString());
        assertEquals(6, cache.size());
        assertTrue(measured.contains("encoder.0.ffn.out@FP32"), measured.toString());
        cache.save();
        assertTrue(Files.exists(dir.resolve(KEY.fileName())));

        CostCache reread = CostCache.open(dir, KEY);
        CostTable second =
                CostTable.measure(
                        rules,
                        reread.caching(
                                (l, p) -> {
                                    throw new QuantizationException("must not measure " + l.path());
                                }));
        for (LayerInfo l : LAYERS) {
            assertEquals(
                    first.cost(l.path(), Precision.INT8_DYNAMIC),
                    second.cost(l.path(), Precision.INT8_DYNAMIC));
        }
        assertEquals(
                new LayerCost(10.0, 1016),
                second.cost("encoder.1.ffn.out", Precision.INT8_DYNAMIC));
    }

    @Test
    void wholeModelLatenciesAreSavedAndReread(@TempDir Path dir) throws QuantizationException {
        CostCache cache = CostCache.open(dir, KEY);
        cache.put(LAYERS.get(0), Precision.FP32, new LayerCost(1, 4000));
        cache.putWholeModel("uniform BF16", 12.5);
        cache.putWholeModel("uniform FP32", 20.0);
        cache.save();
        CostCache reread = CostCache.open(dir, KEY);
        assertEquals(12.5, reread.getWholeModel("uniform BF16").orElseThrow());
        assertEquals(20.0, reread.getWholeModel("uniform FP32").orElseThrow());
        assertTrue(reread.getWholeModel("uniform INT8_STATIC").isEmpty());
        assertEquals(new LayerCost(1, 4000), reread.get(LAYERS.get(0), Precision.FP32).get());
        assertThrows(IllegalArgumentException.class, () -> cache.putWholeModel("x", 0));
        assertThrows(IllegalArgumentException.class, () -> cache.putWholeModel(" ", 1));
    }

    @Test
    void aFileMeasuredUnderAnotherKeyIsRefused(@TempDir Path dir) throws Exception {
        CostCache cache = CostCache.open(dir, KEY);
        cache.put(LAYERS.get(0), Precision.FP32, new LayerCost(1, 4000));
        cache.save();
        CostCacheKey fourThreads =
                new CostCacheKey(KEY.machineId(), KEY.backend(), 4, KEY.workload());
        Files.copy(dir.resolve(KEY.fileName()), dir.resolve(fourThreads.fileName()));
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> CostCache.open(dir, fourThreads));
        assertTrue(e.getMessage().contains("threads=2"), e.getMessage());
    }

    @Test
    void malformedCacheIsACheckedErrorSayingWhatToDo(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve(KEY.fileName()), "{\"format\": \"djl-quant-cost-cache/1\"}");
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> CostCache.open(dir, KEY));
        assertTrue(e.getMessage().contains("delete it"), e.getMessage());
    }

    @Test
    void measurementFailureNamesTheLayer() {
        ResolvedRules rules =
                ResolvedRules.unrestricted(
                        LAYERS, BackendCapabilities.uniform("b", EnumSet.of(Precision.FP32)));
        QuantizationException e =
                assertThrows(
                        QuantizationException.class,
                        () ->
                                CostTable.measure(
                                        rules,
                                        (l, p) -> {
                                            throw new IllegalStateException("boom");
                                        }));
        assertTrue(e.getMessage().contains("encoder.0.ffn.in at FP32"), e.getMessage());
    }

    @Test
    void roleReplacesNumericSegmentsOnly() {
        assertEquals("encoder.#.attention.query", CostCache.role("encoder.03.attention.query"));
        assertEquals("#.ffn.layer2", CostCache.role("12.ffn.layer2"));
        assertEquals("classifier", CostCache.role("classifier"));
    }

    @Test
    void keysMakeSafeFileNamesAndTheMachineIdIsStable() {
        assertEquals(
                "cost-x86-64-test-cpu-2cpu-pytorch-fbgemm-t2-batch-32-seq-128.json",
                KEY.fileName());
        String id = CostCacheKey.currentMachineId();
        assertEquals(id, CostCacheKey.currentMachineId());
        assertTrue(id.matches("[a-z0-9-]+"), id);
        assertThrows(IllegalArgumentException.class, () -> new CostCacheKey("m", "b", 0, "w"));
        assertThrows(IllegalArgumentException.class, () -> new LayerCost(Double.NaN, 1));
    }
}
