package org.djlquant.io.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.translate.TranslateException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.io.onnx.ImportedModel;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Sentence embeddings of MiniLM agree between the imported block model and ONNX Runtime. */
class SentenceEmbeddingTranslatorTest {

    private static Path dir;
    private static Path tokenizer;
    private static Model onnxRuntime;
    private static Model pytorch;

    @BeforeAll
    static void loadModels() throws Exception {
        dir = Files.createTempDirectory("djlq-sentence");
        Path onnx = MiniLm.extract(MiniLm.ONNX, dir);
        tokenizer = MiniLm.extract(MiniLm.TOKENIZER, dir);
        onnxRuntime = Model.newInstance("minilm-ort", "OnnxRuntime");
        onnxRuntime.load(dir, "all-minilm-l6-v2");
        ImportedModel imported = OnnxImporter.importModel(onnx);
        pytorch = imported.newModel("minilm-djl", "PyTorch");
    }

    @AfterAll
    static void closeModels() throws Exception {
        if (onnxRuntime != null) {
            onnxRuntime.close();
        }
        if (pytorch != null) {
            pytorch.close();
        }
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    @Test
    void importedModelOnPyTorchAndOriginalOnOnnxRuntimeGiveTheSameEmbeddings() throws Exception {
        List<String> sentences = new ArrayList<>(MiniLm.sentences(20));
        sentences.add("");
        try (SentenceEmbeddingTranslator translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(tokenizer)
                        .optMaxLength(256)
                        .build()) {
            float[][] fromOrt = embed(onnxRuntime, translator, sentences);
            float[][] fromDjl = embed(pytorch, translator, sentences);
            double min = 1;
            for (int i = 0; i < sentences.size(); i++) {
                assertEquals(384, fromDjl[i].length);
                assertEquals(1.0, norm(fromDjl[i]), 1e-5);
                assertEquals(1.0, norm(fromOrt[i]), 1e-5);
                min = Math.min(min, dot(fromOrt[i], fromDjl[i]));
            }
            System.out.printf(
                    "sentence embeddings, %d sentences: min cosine DJL/PyTorch vs ORT %.8f%n",
                    sentences.size(), min);
            assertTrue(min >= 0.9999, "min cosine " + min);
            assertEquals(0, translator.getTruncationCount());
        }
    }

    @Test
    void singleSentenceEmbeddingEqualsItsRowInAPaddedBatch() throws Exception {
        List<String> sentences = MiniLm.sentences(4);
        try (SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder().setTokenizer(tokenizer).build();
                Predictor<String, float[]> single = pytorch.newPredictor(translator)) {
            float[][] batch = embed(pytorch, translator, sentences);
            for (int i = 0; i < sentences.size(); i++) {
                assertTrue(dot(single.predict(sentences.get(i)), batch[i]) >= 0.99999);
            }
        }
    }

    @Test
    void emptySentenceIsEmbeddedFromClsAndSep() throws Exception {
        try (SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder().setTokenizer(tokenizer).build();
                Predictor<String, float[]> ort = onnxRuntime.newPredictor(translator);
                Predictor<String, float[]> djl = pytorch.newPredictor(translator)) {
            float[] a = ort.predict("");
            float[] b = djl.predict("");
            assertEquals(1.0, norm(b), 1e-5);
            assertTrue(dot(a, b) >= 0.9999);
        }
    }

    @Test
    void sentencesLongerThanMaxLengthAreTruncatedAndCounted() throws Exception {
        String longSentence = String.join(" ", MiniLm.sentences(6));
        try (SentenceEmbeddingTranslator translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(tokenizer)
                        .optMaxLength(16)
                        .build()) {
            float[][] out =
                    embed(pytorch, translator, List.of(longSentence, "Great for the jawbone."));
            assertEquals(1, translator.getTruncationCount());
            assertEquals(1.0, norm(out[0]), 1e-5);
            float[][] ort = embed(onnxRuntime, translator, List.of(longSentence));
            assertEquals(2, translator.getTruncationCount());
            assertTrue(dot(ort[0], out[0]) >= 0.9999);
        }
    }

    @Test
    void builderRefusesMissingTokenizerAndTooSmallMaxLength() {
        IllegalArgumentException noTokenizer =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> SentenceEmbeddingTranslator.builder().build());
        assertTrue(noTokenizer.getMessage().contains("tokenizer"));
        IllegalArgumentException small =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                SentenceEmbeddingTranslator.builder()
                                        .setTokenizer(tokenizer)
                                        .optMaxLength(1)
                                        .build());
        assertTrue(small.getMessage().contains("was 1"), small.getMessage());
    }

    @Test
    void emptyBatchIsRefused() throws Exception {
        try (SentenceEmbeddingTranslator translator =
                        SentenceEmbeddingTranslator.builder().setTokenizer(tokenizer).build();
                Predictor<List<String>, float[][]> predictor =
                        pytorch.newPredictor(translator.batch())) {
            TranslateException e =
                    assertThrows(TranslateException.class, () -> predictor.predict(List.of()));
            assertInstanceOf(IllegalArgumentException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("batch was empty"));
        }
    }

    private static float[][] embed(
            Model model, SentenceEmbeddingTranslator translator, List<String> sentences)
            throws Exception {
        try (Predictor<List<String>, float[][]> predictor =
                model.newPredictor(translator.batch())) {
            return predictor.predict(sentences);
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    private static double norm(float[] a) {
        return Math.sqrt(dot(a, a));
    }
}
