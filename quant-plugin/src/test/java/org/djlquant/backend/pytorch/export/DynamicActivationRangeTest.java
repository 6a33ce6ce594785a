package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import java.nio.file.Path;
import java.util.Random;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Preparer;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Why an exported MiniLM disagreed with its simulation: one dynamic INT8 layer 384 -> 64
 * (per-channel weights) on a MiniLM-sized input [32, 40, 384] whose channel 7 carries outliers (std
 * 20, as the hidden states of BERT models do), exported and run by libtorch's fbgemm ({@code
 * quantized::linear_dynamic}) against the fake-quant simulation.
 *
 * <p>With 7-bit activations ({@code reduce_range}, PyTorch's x86 default) the kernel equals the
 * simulation up to float summation order. With full 8-bit activations it does not, on this CPU too
 * although it reports AVX512-VNNI: fbgemm sums pairs of u8·s8 products into 16 bits (saturating)
 * before widening, and with the outlier channel a pair of {@code 255 · 127 + 128 · 127} exceeds
 * 32767. The simulation does not model that saturation, so configs with 8-bit activations on fbgemm
 * (the MiniLM export test's "VNNI" config) cannot match it; Gaussian inputs without outliers rarely
 * reach the limit, which is why small tests did not show it.
 */
class DynamicActivationRangeTest {

    private static QEngine initial;

    @BeforeAll
    static void x86() {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
    }

    @AfterAll
    static void restore() {
        QEngine.select(initial);
    }

    /** Returns {max |export - simulation|, max |simulation - FP32|}. */
    private static double[] exportVsSimulation(Path dir, boolean reduceRange, double outlierStd)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock().add(Linear.builder().setUnits(64).build());
            net.initialize(m, DataType.FLOAT32, new Shape(32, 40, 384));
            ExportFixtures.fill(net, 3);
            QConfig config =
                    QConfig.builder()
                            .setMode(QMode.DYNAMIC)
                            .setWeightObserver(
                                    Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                            .optDynamicActivationSpec(
                                    new QSpec(
                                            QDataType.UINT8,
                                            QScheme.AFFINE,
                                            Granularity.perTensor(),
                                            reduceRange))
                            .optBackend(BackendTarget.FBGEMM)
                            .build();
            Preparer.prepare(net, QConfigMapping.global(config));
            Random r = new Random(5);
            float[] v = new float[32 * 40 * 384];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * (i % 384 == 7 ? outlierStd : 1));
            }
            NDArray x = m.create(v, new Shape(32, 40, 384));
            float[] fp32 = ExportFixtures.run(net, m, new NDList(x)).head().toFloatArray();
            float[] sim = ExportFixtures.simulate(net, m, new NDList(x));
            String name = "dyn" + (reduceRange ? 7 : 8) + "o" + (int) outlierStd;
            TorchScriptExporter.builder().setBlock(net).build().export(dir, name);
            float[] real = ExportFixtures.runExported(dir, name, new NDList(x));
            return new double[] {
                ExportFixtures.maxAbsDiff(sim, real), ExportFixtures.maxAbsDiff(sim, fp32)
            };
        }
    }

    @Test
    void sevenBitDynamicKernelEqualsTheSimulationAndEightBitSaturatesOnOutliers(@TempDir Path dir)
            throws Exception {
        double[] seven = exportVsSimulation(dir, true, 20);
        double[] eight = exportVsSimulation(dir, false, 20);
        double[] eightNoOutlier = exportVsSimulation(dir, false, 1);
        System.out.printf(
                "dynamic 384->64 on [32,40,384], max |export - simulation| (vs quantization error"
                        + " |simulation - FP32|): 7-bit outliers %.3g (%.3g); 8-bit outliers %.3g"
                        + " (%.3g); 8-bit Gaussian %.3g (%.3g)%n",
                seven[0], seven[1], eight[0], eight[1], eightNoOutlier[0], eightNoOutlier[1]);
        // measured 6e-6: both sum the same INT8 products; only float order differs (outputs
        // are O(1), K = 384 terms)
        assertTrue(seven[0] <= 1e-4, "7-bit export vs simulation " + seven[0]);
        // 8-bit without outliers: measured 0.0049 (8% of the quantization error 0.064): the zero
        // point sits near 128, so pairs of large products saturate there too, only rarer
        assertTrue(eightNoOutlier[0] > 1e-3, "8-bit Gaussian difference " + eightNoOutlier[0]);
        // measured 0.08 (a tenth of the quantization error itself): fbgemm's 16-bit pair sums
        // saturate. If a libtorch update stops saturating, this fails and the 8-bit configs can
        // be trusted to match their simulation.
        assertTrue(eight[0] > 100 * seven[0] && eight[0] > 1e-2, "8-bit difference " + eight[0]);
    }
}
