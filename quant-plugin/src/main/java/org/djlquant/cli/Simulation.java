package org.djlquant.cli;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.core.Linear;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.policy.apply.PrecisionConfigs;
import org.djlquant.policy.measure.PrecisionSimulator;

/**
 * A model prepared for per-layer precision simulation (every Linear a twin), its sentence batches
 * kept on the model's manager, and the simulator over it. Closing puts the twins back and closes
 * the model.
 */
final class Simulation implements AutoCloseable {

    final Model model;
    final PrecisionSimulator simulator;
    final List<NDList> batches;

    Simulation(ModelSource source, TokenBatches tokens, PrecisionConfigs configs)
            throws QuantizationException {
        model = source.load();
        try {
            // Linear layers only: the simulator swaps Linear twins (a global config would also
            // rewire the attention blocks, which the simulator does not take)
            PrepareReport report =
                    Preparer.prepare(
                            model,
                            QConfigMapping.builder()
                                    .optClassConfig(
                                            Linear.class, QConfig.dynamicInt8(configs.target()))
                                    .build());
            batches = tokens.kept(model.getNDManager());
            simulator = PrecisionSimulator.create(model.getBlock(), report, configs);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    NDManager manager() {
        return model.getNDManager();
    }

    /** Mean-pooled sentence embeddings of every batch, with the current precisions. */
    float[][] pooled() {
        List<float[]> out = new ArrayList<>();
        for (NDList b : batches) {
            try (NDManager sub = manager().newSubManager()) {
                sub.tempAttachAll(b);
                NDArray e = TokenBatches.meanPool(b, simulator.forward(b, sub));
                float[] flat = e.toFloatArray();
                int h = (int) e.getShape().get(1);
                for (int i = 0; i < flat.length / h; i++) {
                    float[] row = new float[h];
                    System.arraycopy(flat, i * h, row, 0, h);
                    out.add(row);
                }
            }
        }
        return out.toArray(new float[0][]);
    }

    @Override
    public void close() {
        try {
            simulator.close();
        } finally {
            model.close();
        }
    }
}
