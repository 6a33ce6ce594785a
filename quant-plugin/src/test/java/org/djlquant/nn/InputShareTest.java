package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import java.util.Arrays;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QMode;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.Test;

/**
 * Q, K and V projections that read the same input array fake-quantize it once while an {@link
 * TwinControl.InputShare} is installed; different arrays or different parameters are never shared.
 */
class InputShareTest {

    private static ObservedLinear twin(NDManager m, String path, QConfig cfg) {
        Linear l = Linear.builder().setUnits(3).build();
        l.initialize(m, DataType.FLOAT32, new Shape(2, 8));
        return new ObservedLinear(l, path, cfg, true);
    }

    @Test
    void projectionsReadingTheSameArrayShareOneFakeQuantizedInput() {
        QConfig qat = QConfig.qatInt8(BackendTarget.FBGEMM);
        QConfig other =
                QConfig.builder()
                        .setMode(QMode.QAT)
                        .setWeightObserver(
                                Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                        .optActivationObserver(Observers.minMax(QSpec.int8SymmetricPerTensor()))
                        .build();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ObservedLinear q = twin(m, "q", qat);
            ObservedLinear k = twin(m, "k", qat);
            ObservedLinear v = twin(m, "v", qat);
            ObservedLinear d = twin(m, "d", other);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray x = m.randomNormal(new Shape(2, 8));
            NDArray copy = x.duplicate();
            NDArray qx;
            try (TwinControl.InputShare share = TwinControl.InputShare.install(q, k, v, d)) {
                qx = q.control().activation(TwinControl.INPUT, x, ps, true, false);
                NDArray kx = k.control().activation(TwinControl.INPUT, x, ps, true, false);
                assertSame(qx, kx, "same array, equal parameters: computed once");
                NDArray vx = v.control().activation(TwinControl.INPUT, copy, ps, true, false);
                assertNotSame(qx, vx, "another array (even with equal values) is not shared");
                assertArrayEquals(qx.toFloatArray(), vx.toFloatArray(), 0f);
                NDArray dx = d.control().activation(TwinControl.INPUT, x, ps, true, false);
                assertNotSame(qx, dx, "different parameters are not shared");
                assertTrue(!Arrays.equals(qx.toFloatArray(), dx.toFloatArray()));
            }
            // the value is the reference fake quantization with the observer's parameters
            float[] ref =
                    QuantMath.fakeQuantize(
                            x.toFloatArray(),
                            new long[] {2, 8},
                            q.control().params(TwinControl.INPUT));
            assertArrayEquals(ref, qx.toFloatArray(), 0f);
            NDArray after = k.control().activation(TwinControl.INPUT, x, ps, true, false);
            assertNotSame(qx, after, "nothing is shared once the share is closed");
            assertArrayEquals(qx.toFloatArray(), after.toFloatArray(), 0f);
        }
    }
}
