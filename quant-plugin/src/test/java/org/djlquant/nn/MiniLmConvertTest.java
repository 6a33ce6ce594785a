package org.djlquant.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.transformer.BertModelBlock;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QSpec;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The imported all-MiniLM-L6-v2 converted to real INT8 in place, used through the user's own {@link
 * SentenceEmbeddingTranslator} and predictor (same call, same output type): sentence embeddings of
 * 16 real sentences against FP32 (cosine), dynamic and static on x86, dynamic on qnnpack
 * (correctness only); INT8 weight size against FP32.
 */
class MiniLmConvertTest {

    private static Path dir;
    private static Path onnx;
    private static Path tokenizer;
    private static List<String> sentences;
    private static float[][] fp32;
    private static QEngine before;

    @BeforeAll
    static void reference() throws Exception {
        before = QEngine.current();
        dir = Files.createTempDirectory("djlq-convert");
        onnx = MiniLm.extract(MiniLm.ONNX, dir);
        tokenizer = MiniLm.extract(MiniLm.TOKENIZER, dir);
        sentences = MiniLm.sentences(48).subList(32, 48);
        try (Model model = OnnxImporter.importModel(onnx).newModel("fp32", "PyTorch")) {
            fp32 = embed(model, sentences);
        }
    }

    @AfterAll
    static void cleanUp() throws Exception {
        QEngine.select(before);
        if (dir != null) {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    static float[][] embed(Model model, List<String> texts) throws Exception {
        try (SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder().setTokenizer(tokenizer).build();
                Predictor<List<String>, float[][]> p = model.newPredictor(translator.batch())) {
            return p.predict(texts);
        }
    }

    private static double[] cosines(float[][] a, float[][] b) {
        double min = 1;
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            double d = 0;
            for (int j = 0; j < a[i].length; j++) {
                d += (double) a[i][j] * b[i][j];
            }
            min = Math.min(min, d);
            sum += d;
        }
        return new double[] {min, sum / a.length};
    }

    static QConfig dynamicPerChannel8Bit(BackendTarget target) {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(QSpec.uint8AffinePerTensor())
                .optBackend(target)
                .build();
    }

    static QConfig staticPerChannel8Bit() {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optActivationObserver(
                        Observers.histogram(QSpec.uint8AffinePerTensor(), HistogramMethod.MSE))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    private static boolean vnni() throws java.io.IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        return Files.exists(cpuinfo) && Files.readString(cpuinfo).contains("avx512_vnni");
    }

    private static double[] convertAndCompare(
            QConfig config, boolean ffnOutputFp32, QEngine engine, String name) throws Exception {
        try (Model model = OnnxImporter.importModel(onnx).newModel(name, "PyTorch")) {
            QConfigMapping.Builder mapping = QConfigMapping.builder().optGlobal(config);
            if (ffnOutputFp32) {
                mapping.optPathGlob("encoder.*.output", null);
            }
            Preparer.prepare(model, mapping.build());
            if (config.mode().observesActivations()) {
                // calibration through the user's own translator: 16 other sentences
                embed(model, MiniLm.sentences(16));
            }
            ConvertReport report = Converter.convert(model, engine);
            assertEquals(engine, report.engine());
            assertEquals(ffnOutputFp32 ? 30 : 36, report.quantizedLinears().size());
            assertInstanceOf(BertModelBlock.class, model.getBlock());
            // hand count: 6 layers x (4 x 384x384 + 2 x 384x1536) INT8 weight values
            long values = 6L * (4 * 384 * 384 + (ffnOutputFp32 ? 1 : 2) * 384 * 1536);
            assertEquals(values, report.int8WeightBytes());
            assertEquals(4 * values, report.fp32WeightBytes());
            float[][] q = embed(model, sentences);
            double[] c = cosines(fp32, q);
            System.out.printf(
                    Locale.ROOT,
                    "MiniLM %s%s %s, 16 sentences: cosine to FP32 min %.4f mean %.4f%n",
                    config.mode(),
                    ffnOutputFp32 ? " (encoder.*.output FP32)" : "",
                    engine,
                    c[0],
                    c[1]);
            return c;
        }
    }

    @Test
    void dynamicInt8EmbeddingsStayCloseToFp32() throws Exception {
        Assumptions.assumeTrue(vnni(), "8-bit activations on fbgemm need VNNI");
        double[] c =
                convertAndCompare(
                        dynamicPerChannel8Bit(BackendTarget.FBGEMM), false, QEngine.X86, "dyn");
        assertTrue(c[0] >= 0.98, "min cosine " + c[0]);
    }

    @Test
    void staticInt8EmbeddingsStayCloseToFp32() throws Exception {
        Assumptions.assumeTrue(vnni(), "8-bit activations on fbgemm need VNNI");
        double[] mixed = convertAndCompare(staticPerChannel8Bit(), true, QEngine.X86, "st");
        assertTrue(mixed[0] >= 0.98, "min cosine " + mixed[0]);
    }

    @Test
    void dynamicInt8OnQnnpackIsCorrect() throws Exception {
        double[] c =
                convertAndCompare(
                        dynamicPerChannel8Bit(BackendTarget.QNNPACK),
                        false,
                        QEngine.QNNPACK,
                        "dyn-qnnpack");
        assertTrue(c[0] >= 0.98, "min cosine " + c[0]);
    }

    @Test
    void int8LinearWeightsWithScalesAreAtLeast39TimesSmaller() throws Exception {
        try (Model model = OnnxImporter.importModel(onnx).newModel("size", "PyTorch")) {
            Preparer.prepare(
                    model, QConfigMapping.global(QConfig.dynamicInt8(BackendTarget.FBGEMM)));
            ConvertReport report = Converter.convert(model, QEngine.X86);
            long int8 = 0;
            long scalesFloat = 0;
            long libtorchParams = 0;
            long fp32Bytes = 0;
            for (QuantizedLinear l : report.quantizedLinears()) {
                long[] shape = l.getWeightShape();
                int8 += l.getWeightInt8().length; // one byte per element
                fp32Bytes += 4L * shape[0] * shape[1];
                int channels = l.getWeightParams().size();
                scalesFloat += 4L * channels + channels; // float32 scale + int8 zero point
                libtorchParams += 8L * channels + 8L * channels; // float64 scale + int64 zp
            }
            double ratio = fp32Bytes / (double) (int8 + scalesFloat);
            double ratioLibtorch = fp32Bytes / (double) (int8 + libtorchParams);
            System.out.printf(
                    Locale.ROOT,
                    "MiniLM Linear weights: FP32 %d B, INT8 values %d B + scales/zero points %d B"
                            + " (float32/int8) = %.3fx smaller; with libtorch's float64/int64"
                            + " per-channel parameters %.3fx%n",
                    fp32Bytes,
                    int8,
                    scalesFloat,
                    ratio,
                    ratioLibtorch);
            assertTrue(ratio >= 3.9, "ratio " + ratio);
        }
    }
}
