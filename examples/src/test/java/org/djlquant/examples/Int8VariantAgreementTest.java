package org.djlquant.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.djlquant.config.QMode;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.SentimentData;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Each exported INT8 MiniLM (TorchScript loaded by plain DJL, ONNX on ONNX Runtime) against its
 * in-place twin built from the same prepared and calibrated model, on 16 real sentences: every
 * sentence's embedding agrees (cosine), and all three stay close to FP32 on libtorch. The exports
 * keep the float word-embedding table here, as the in-place model does, so that only the INT8
 * lowerings differ (the pipeline's rows store it INT8 per row, a further weight-only change).
 */
class Int8VariantAgreementTest {

    private static Path work;
    private static PipelineContext context;
    private static List<String> evaluation;
    private static float[][] fp32;

    @BeforeAll
    static void setUp() throws Exception {
        Path data = SentimentData.defaultDataDir();
        assertTrue(
                Files.isDirectory(data.resolve("sentiment")),
                "sentiment data missing at " + data + " (run scripts/fetch-data.sh)");
        List<LabelledText> slice = MiniLmPipeline.stratifiedSlice(SentimentData.load(data), 48);
        List<String> texts = slice.stream().map(LabelledText::text).toList();
        work = MiniLmPipeline.createWorkDir();
        context =
                new PipelineContext(
                        work.resolve(MiniLmPipeline.FP32_ONNX),
                        work.resolve(MiniLmPipeline.INT8_ONNX),
                        work.resolve(MiniLmPipeline.TOKENIZER),
                        work,
                        1,
                        texts.subList(0, 32),
                        MiniLmPipeline.MAX_LENGTH);
        // evaluated sentences are not among the calibration sentences
        evaluation = texts.subList(32, 48);
        try (Fp32DjlVariant reference = new Fp32DjlVariant()) {
            reference.build(context);
            fp32 = embed(reference);
        }
    }

    @AfterAll
    static void cleanUp() {
        if (work != null) {
            MiniLmPipeline.deleteRecursively(work);
        }
    }

    private static float[][] embed(Variant v) throws Exception {
        try (SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder()
                                .setTokenizer(context.tokenizer())
                                .optMaxLength(context.maxLength())
                                .build();
                Predictor<List<String>, float[][]> p = v.newPredictor(translator.batch())) {
            return p.predict(evaluation);
        }
    }

    /** Per-sentence cosines (rows are unit length). */
    private static double[] cosines(float[][] a, float[][] b) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            double d = 0;
            for (int j = 0; j < a[i].length; j++) {
                d += (double) a[i][j] * b[i][j];
            }
            c[i] = d;
        }
        return c;
    }

    private static double min(double[] v) {
        double m = Double.POSITIVE_INFINITY;
        for (double x : v) {
            m = Math.min(m, x);
        }
        return m;
    }

    @ParameterizedTest
    @EnumSource(
            value = QMode.class,
            names = {"STATIC", "DYNAMIC"})
    void exportedVariantsAgreeWithTheirInPlaceTwin(QMode mode) throws Exception {
        QuantizedMiniLm quantized = new QuantizedMiniLm(mode, MiniLmRecipe.DEFAULT, false);
        List<Variant> variants = new ArrayList<>();
        variants.add(new InPlaceInt8Variant(quantized));
        variants.add(new TorchScriptInt8Variant(quantized));
        variants.add(new OnnxInt8Variant(quantized));
        Map<String, float[][]> out = new LinkedHashMap<>();
        try {
            for (Variant v : variants) {
                v.build(context);
                out.put(v.name(), embed(v));
            }
        } finally {
            variants.forEach(Variant::close);
        }
        String m = quantized.modeName();
        float[][] inPlace = out.get("int8-" + m + "-inplace");
        assertEquals(evaluation.size(), inPlace.length);
        for (Map.Entry<String, float[][]> e : out.entrySet()) {
            double toFp32 = min(cosines(fp32, e.getValue()));
            double toTwin = min(cosines(inPlace, e.getValue()));
            System.out.printf(
                    Locale.ROOT,
                    "%s: min cosine to FP32 %.5f, to %s %.5f%n",
                    e.getKey(),
                    toFp32,
                    "int8-" + m + "-inplace",
                    toTwin);
            assertTrue(toFp32 >= 0.975, e.getKey() + " min cosine to FP32 " + toFp32);
        }
        double ts = min(cosines(inPlace, out.get("int8-" + m + "-ts")));
        double onnx = min(cosines(inPlace, out.get("int8-" + m + "-onnx")));
        if (mode == QMode.DYNAMIC) {
            // same Linear kernels (quantized::linear_dynamic on fbgemm, range per batch), but the
            // TorchScript export runs the fused attention kernel (QuantizedMiniLm.ATTENTION): its
            // float rounding (~1e-6, ~1e-4 on padding rows) moves the per-batch ranges, so many
            // INT8 roundings flip; measured 0.9896 (1.00000 with separate matmul / softmax) while
            // both stay 0.980 to FP32. ONNX Runtime's DynamicQuantizeLinear rounds the range to
            // include zero its own way: measured 0.989
            assertTrue(ts >= 0.985, "TorchScript vs in place, min cosine " + ts);
            assertTrue(onnx >= 0.985, "ONNX vs in place, min cosine " + onnx);
        } else {
            // static: the ONNX export quantizes what the simulation quantizes, including the
            // attention matmul inputs (Q, K, P, V with their calibrated parameters); the
            // TorchScript export quantizes Q, K, V but runs the fused attention with float P
            // (QuantizedMiniLm.ATTENTION); the in-place QuantizedBertSelfAttention keeps those
            // matmuls float. The INT8 models therefore differ about as much from each other as
            // each from FP32 (FFN down-projections FP32, before: min 0.979 (TS) and 0.978 (ONNX)
            // against 0.986 / 0.985 to FP32). A regression guard, not a tolerance.
            assertTrue(ts >= 0.97, "TorchScript vs in place, min cosine " + ts);
            assertTrue(onnx >= 0.97, "ONNX vs in place, min cosine " + onnx);
        }
    }
}
