package org.djlquant.backend.onnx;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** An exported graph loaded on DJL's OnnxRuntime engine at ORT's full optimisation level. */
final class OrtModel implements AutoCloseable {

    private final Model model;

    OrtModel(byte[] onnx, Path dir, String name) throws IOException, MalformedModelException {
        this(write(onnx, dir, name), name, "ALL_OPT");
    }

    OrtModel(Path dir, String name, String optLevel) throws IOException, MalformedModelException {
        model = Model.newInstance(name, "OnnxRuntime");
        model.load(dir, name, Map.of("optLevel", optLevel));
    }

    private static Path write(byte[] onnx, Path dir, String name) throws IOException {
        Files.write(dir.resolve(name + ".onnx"), onnx);
        return dir;
    }

    Model model() {
        return model;
    }

    float[] run(float[] x, Shape shape) throws TranslateException {
        try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator());
                NDManager m = model.getNDManager().newSubManager()) {
            NDArray a = m.create(x, shape);
            a.setName("input");
            return p.predict(new NDList(a)).get(0).toFloatArray();
        }
    }

    float[] runBert(long[] ids, long[] mask, long[] types, Shape shape) throws TranslateException {
        try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator());
                NDManager m = model.getNDManager().newSubManager()) {
            NDArray a = m.create(ids, shape);
            a.setName("input_ids");
            NDArray b = m.create(mask, shape);
            b.setName("attention_mask");
            NDArray c = m.create(types, shape);
            c.setName("token_type_ids");
            return p.predict(new NDList(a, b, c)).get(0).toFloatArray();
        }
    }

    @Override
    public void close() {
        model.close();
    }
}
