package org.djlquant.observer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.function.Supplier;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.junit.jupiter.api.Test;

/**
 * Observing and quantizing many batches leaves no native array behind: after every call the input's
 * manager holds exactly the arrays it held before (plus the results the caller closes).
 */
class NoLeakTest {

    @Test
    void observersAndQuantOpsLeaveNoArraysAttachedToTheInputsManager() {
        QSpec t = QSpec.uint8AffinePerTensor();
        List<Supplier<Observer>> factories =
                List.of(
                        Observers.minMax(t),
                        Observers.movingAverageMinMax(t, 0.1f),
                        Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(1)),
                        Observers.perChannelMovingAverageMinMax(
                                QSpec.int8SymmetricPerChannel(0), 0.1f),
                        Observers.perChannelMinMax(QSpec.int4SymmetricPerGroup(1, 4)),
                        Observers.histogram(t, HistogramMethod.PERCENTILE, 64, 99));
        try (NDManager root = Engine.getEngine("PyTorch").newBaseManager();
                NDManager m = root.newSubManager()) {
            NDArray x = m.randomNormal(new Shape(8, 16));
            int before = m.getManagedArrays().size();
            for (Supplier<Observer> f : factories) {
                Observer o = f.get();
                for (int b = 0; b < 200; b++) {
                    o.observe(x);
                }
                QParams p = o.computeParams();
                if (p.spec().granularity().kind() != Granularity.Kind.PER_GROUP
                        || p.paramShape().length == 2) {
                    for (int b = 0; b < 50; b++) {
                        try (NDArray q = NDQuant.quantize(x, p);
                                NDArray d = NDQuant.dequantize(q, p);
                                NDArray fq = NDQuant.fakeQuantize(x, p)) {
                            assertEquals(before + 3, m.getManagedArrays().size(), o.toString());
                        }
                    }
                }
                assertEquals(before, m.getManagedArrays().size(), o.toString());
            }
        }
    }
}
