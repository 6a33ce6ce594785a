package org.djlquant.backend.pytorch.export;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.training.ParameterStore;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.djlquant.backend.pytorch.ExportableBlocks;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.nn.transformer.BertConfig;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;

/** Deterministic small models, prepared and calibrated, for the export tests. */
final class ExportFixtures {

    static final int FFN_IN = 12;

    private ExportFixtures() {}

    /** Static INT8 as on x86: 7-bit UINT8 activations (min/max), per-channel INT8 weights. */
    /** UINT8 affine per tensor over the full 8 bits (no range reduction). */
    static QSpec uint8Full() {
        return new QSpec(QDataType.UINT8, QScheme.AFFINE, Granularity.perTensor(), false);
    }

    /** Static INT8: per-channel symmetric weights, full 8-bit min/max activations. */
    static QConfig staticPerChannel8() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(Observers.minMax(uint8Full()))
                .build();
    }

    /** Dynamic INT8: per-channel symmetric weights, full 8-bit activations per call. */
    static QConfig dynamicPerChannel8() {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(uint8Full())
                .build();
    }

    /** The tiny BERT prepared with {@code mapping} and run over six calibration batches. */
    static BertModelBlock calibratedTinyBert(NDManager m, QConfigMapping mapping) {
        BertModelBlock bert = new BertModelBlock(tinyBertConfig());
        bert.initialize(m, DataType.FLOAT32, new Shape(2, 7), new Shape(2, 7), new Shape(2, 7));
        fill(bert, 21);
        Preparer.prepare(bert, mapping);
        for (int b = 0; b < 6; b++) {
            run(bert, m, bertInputs(m, 200 + b, 3, 7));
        }
        Twins.setObserving(bert, false);
        return bert;
    }

    static QConfig staticX86() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(
                        Observers.minMax(
                                new QSpec(
                                        QDataType.UINT8,
                                        QScheme.AFFINE,
                                        Granularity.perTensor(),
                                        true)))
                .build();
    }

    /** Dynamic INT8 as on x86: 7-bit UINT8 activations per batch, per-tensor INT8 weights. */
    static QConfig dynamicX86() {
        return QConfig.dynamicInt8(org.djlquant.config.BackendTarget.FBGEMM);
    }

    /**
     * 01 Linear 24 (static) · 02 ReLU · 03 Linear 16 (static; 01→03 stays INT8) · 04 GELU · 05
     * Linear 12 (dynamic) · 06 LayerNorm · 07 Linear 8 (static, float output) · 08 Linear 5
     * (float).
     */
    static SequentialBlock ffn() {
        SequentialBlock net = new SequentialBlock();
        net.add(Linear.builder().setUnits(24).build());
        net.add(ExportableBlocks.relu());
        net.add(Linear.builder().setUnits(16).build());
        net.add(ExportableBlocks.gelu());
        net.add(Linear.builder().setUnits(12).build());
        net.add(LayerNorm.builder().axis(1).build());
        net.add(Linear.builder().setUnits(8).build());
        net.add(Linear.builder().setUnits(5).build());
        return net;
    }

    static QConfigMapping ffnMapping() {
        return QConfigMapping.builder()
                .optPathGlob("01", staticX86())
                .optPathGlob("03", staticX86())
                .optPathGlob("05", dynamicX86())
                .optPathGlob("07", staticX86())
                .build();
    }

    /** Overwrites every parameter with seeded Gaussian values (scaled by 1/sqrt(fan-in)). */
    static void fill(Block block, long seed) {
        Random random = new Random(seed);
        for (var p : block.getParameters()) {
            Parameter param = p.getValue();
            NDArray a = param.getArray();
            long[] shape = a.getShape().getShape();
            float[] v = new float[(int) a.size()];
            double scale = shape.length >= 2 ? 1 / Math.sqrt(shape[1]) : 0.2;
            boolean gamma = p.getKey().endsWith("gamma");
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) ((gamma ? 1 : 0) + random.nextGaussian() * scale);
            }
            a.set(FloatBuffer.wrap(v));
        }
    }

    static List<NDArray> batches(NDManager m, long seed, int count, long... shape) {
        Random random = new Random(seed);
        List<NDArray> out = new ArrayList<>();
        for (int b = 0; b < count; b++) {
            long n = new Shape(shape).size();
            float[] v = new float[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextGaussian() * 1.5);
            }
            out.add(m.create(v, new Shape(shape)));
        }
        return out;
    }

    /** The FP32 FFN with the same weights as {@link #calibratedFfn}. */
    static SequentialBlock ffn0(NDManager m) {
        SequentialBlock net = ffn();
        net.initialize(m, DataType.FLOAT32, new Shape(6, FFN_IN));
        fill(net, 7);
        return net;
    }

    /** The FFN, initialized, filled, prepared and calibrated on 8 batches [6, 12]. */
    static SequentialBlock calibratedFfn(NDManager m) {
        SequentialBlock net = ffn();
        net.initialize(m, DataType.FLOAT32, new Shape(6, FFN_IN));
        fill(net, 7);
        Preparer.prepare(net, ffnMapping());
        for (NDArray x : batches(m, 100, 8, 6, FFN_IN)) {
            run(net, m, new NDList(x));
        }
        Twins.setObserving(net, false);
        return net;
    }

    static BertConfig tinyBertConfig() {
        return new BertConfig(40, 16, 2, 4, 32, 12, 2, 1e-12f, -10000f);
    }

    /** A tiny BERT (2 layers, hidden 16, 4 heads): all Linears static except intermediates. */
    static BertModelBlock calibratedTinyBert(NDManager m, boolean staticLinears) {
        return calibratedTinyBert(
                m,
                staticLinears
                        ? QConfigMapping.builder()
                                .optGlobal(staticX86())
                                .optPathGlob("*.intermediate", dynamicX86())
                                .build()
                        : QConfigMapping.global(dynamicX86()));
    }

    /** Random ids in [1, 40), a padding tail on the second row, token types 0/1. */
    static NDList bertInputs(NDManager m, long seed, int batch, int tokens) {
        Random random = new Random(seed);
        long[] ids = new long[batch * tokens];
        long[] mask = new long[batch * tokens];
        long[] types = new long[batch * tokens];
        for (int b = 0; b < batch; b++) {
            int length = b == 1 ? tokens - 2 : tokens;
            for (int t = 0; t < tokens; t++) {
                int i = b * tokens + t;
                ids[i] = t < length ? 1 + random.nextInt(39) : 0;
                mask[i] = t < length ? 1 : 0;
                types[i] = t < tokens / 2 ? 0 : 1;
            }
        }
        Shape s = new Shape(batch, tokens);
        return new NDList(m.create(ids, s), m.create(mask, s), m.create(types, s));
    }

    static NDList run(Block block, NDManager m, NDList inputs) {
        return block.forward(new ParameterStore(m, false), inputs, false);
    }

    /** The fake-quant simulation's output. */
    static float[] simulate(Block block, NDManager m, NDList inputs) {
        Twins.setFakeQuant(block, true);
        try {
            return run(block, m, inputs).head().toFloatArray();
        } finally {
            Twins.setFakeQuant(block, false);
        }
    }

    /** Loads an exported model with plain DJL (no djl-quant class) and runs it. */
    static float[] runExported(Path dir, String name, NDList inputs) throws Exception {
        Criteria<NDList, NDList> criteria =
                Criteria.builder()
                        .setTypes(NDList.class, NDList.class)
                        .optEngine("PyTorch")
                        .optModelPath(dir)
                        .optModelName(name)
                        .build();
        try (ZooModel<NDList, NDList> model = criteria.loadModel();
                Predictor<NDList, NDList> predictor = model.newPredictor();
                NDManager m = model.getNDManager().newSubManager()) {
            NDList copy = new NDList();
            for (NDArray a : inputs) {
                copy.add(a.duplicate().toDevice(m.getDevice(), false));
            }
            copy.attach(m);
            return predictor.predict(copy).head().toFloatArray();
        }
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
