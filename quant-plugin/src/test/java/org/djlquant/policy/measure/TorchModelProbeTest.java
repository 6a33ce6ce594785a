package org.djlquant.policy.measure;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.policy.LatencyProbe;
import org.djlquant.policy.Precision;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.junit.jupiter.api.Test;

/** The whole-model probe builds each assignment's real model from a fresh copy and times it. */
class TorchModelProbeTest {

    private static Map<String, Precision> assign(Precision a, Precision b, Precision c) {
        Map<String, Precision> m = new LinkedHashMap<>();
        m.put("01", a);
        m.put("03", b);
        m.put("05", c);
        return m;
    }

    @Test
    void buildsEveryInPlacePrecisionFromAFreshModelAndTimesIt() throws QuantizationException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<NDList> batches = Mlp.batches(m, 2, 1, 8);
            int[] made = {0};
            TorchModelProbe.ModelFactory factory =
                    () -> {
                        made[0]++;
                        Model model = Model.newInstance("mlp", "PyTorch");
                        model.setBlock(new Mlp(model.getNDManager(), 1, false).block);
                        return model;
                    };
            TorchModelProbe probe =
                    TorchModelProbe.builder()
                            .setModelFactory(factory)
                            .setConfigs(PrecisionConfigs.perChannel(BackendTarget.FBGEMM))
                            .setInput(batches.get(0))
                            .optCalibration(batches)
                            .optEngine(QEngine.X86)
                            .build();
            Precision f = Precision.FP32;
            List<Map<String, Precision>> cases =
                    List.of(
                            assign(f, f, f),
                            assign(Precision.BF16, f, f),
                            assign(Precision.INT8_DYNAMIC, Precision.INT8_STATIC, Precision.BF16));
            for (Map<String, Precision> a : cases) {
                LatencyProbe.Subject s = probe.build(a);
                double ms = s.forwardMs();
                assertTrue(ms > 0 && Double.isFinite(ms), a + " " + ms);
                s.close();
                s.close(); // harmless
                assertThrows(IllegalStateException.class, s::forwardMs);
            }
            assertEquals(3, made[0]);

            TorchModelProbe uncalibrated =
                    TorchModelProbe.builder()
                            .setModelFactory(factory)
                            .setConfigs(PrecisionConfigs.perChannel(BackendTarget.FBGEMM))
                            .setInput(batches.get(0))
                            .build();
            IllegalStateException e =
                    assertThrows(
                            IllegalStateException.class,
                            () -> uncalibrated.build(assign(Precision.INT8_STATIC, f, f)));
            assertTrue(e.getMessage().contains("optCalibration"), e.getMessage());
            assertEquals(3, made[0]);
        }
    }
}
