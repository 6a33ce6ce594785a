package org.djlquant.backend.pytorch.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.nn.Parameter;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.djlquant.backend.pytorch.QEngine;
import org.djlquant.backend.pytorch.QuantizationManifest;
import org.djlquant.backend.pytorch.TorchScriptExporter;
import org.djlquant.config.BackendTarget;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.io.onnx.OnnxImporter;
import org.djlquant.io.text.SentenceEmbeddingTranslator;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.Twins;
import org.djlquant.observer.HistogramMethod;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.QDataType;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.testing.MiniLm;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The imported all-MiniLM-L6-v2, prepared static (FFN down-projections FP32) or dynamic INT8 with
 * per-channel weights, calibrated on 16 real sentences, exported, loaded with plain DJL and used
 * through {@link SentenceEmbeddingTranslator}.
 */
class MiniLmExportTest {

    private static QEngine initial;
    private static Path dir;
    private static Path onnx;
    private static SentenceEmbeddingTranslator translator;
    private static List<String> calibration;
    private static List<String> evaluation;
    private static float[][] fp32;

    @BeforeAll
    static void setUp() throws Exception {
        initial = QEngine.current();
        QEngine.select(QEngine.X86);
        calibration = MiniLm.sentences(16);
        evaluation = MiniLm.sentences(48).subList(16, 48);
        dir = Files.createTempDirectory("djlq-minilm-export");
        onnx = MiniLm.extract(MiniLm.ONNX, dir);
        translator =
                SentenceEmbeddingTranslator.builder()
                        .setTokenizer(MiniLm.extract(MiniLm.TOKENIZER, dir))
                        .build();
        try (Model model = OnnxImporter.importModel(onnx).newModel("fp32", "PyTorch")) {
            fp32 = embed(model, evaluation);
        }
    }

    @AfterAll
    static void tearDown() throws Exception {
        QEngine.select(initial);
        if (translator != null) {
            translator.close();
        }
    }

    /** 8-bit activations with AVX512-VNNI (no fbgemm saturation), 7-bit without. */
    private static QSpec activations() throws java.io.IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        // fbgemm's GEMM uses vpdpbusd (int32 pair sums) only with AVX512-VNNI, not AVX-VNNI
        boolean vnni = Files.exists(cpuinfo) && Files.readString(cpuinfo).contains("avx512_vnni");
        return new QSpec(QDataType.UINT8, QScheme.AFFINE, Granularity.perTensor(), !vnni);
    }

    private static QConfig staticPerChannel() throws java.io.IOException {
        return QConfig.builder()
                .setMode(QMode.STATIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                // every activation value binned (no per-batch subsample): the simulation guards
                // below were measured with these exact calibration parameters
                .optActivationObserver(
                        Observers.histogram(
                                activations(),
                                HistogramMethod.MSE,
                                Observers.DEFAULT_BINS,
                                Observers.DEFAULT_PERCENTILE,
                                Long.MAX_VALUE))
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    private static QConfig dynamicPerChannel() throws java.io.IOException {
        return QConfig.builder()
                .setMode(QMode.DYNAMIC)
                .setWeightObserver(Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                .optDynamicActivationSpec(activations())
                .optBackend(BackendTarget.FBGEMM)
                .build();
    }

    private static float[][] embed(Model model, List<String> texts) throws Exception {
        try (Predictor<List<String>, float[][]> p = model.newPredictor(translator.batch())) {
            return p.predict(texts);
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @ParameterizedTest
    @ValueSource(strings = {"FP32", "STATIC", "DYNAMIC"})
    @SuppressWarnings("unchecked")
    void exportedMiniLmAgreesWithSimulationOnMostSentencesAndStaysCloseToFp32(String mode)
            throws Exception {
        QConfig config =
                switch (mode) {
                    case "STATIC" -> staticPerChannel();
                    case "DYNAMIC" -> dynamicPerChannel();
                    default -> null;
                };
        Path out = dir.resolve(mode);
        float[][] simulated;
        QuantizationManifest manifest;
        long fp32Bytes = 0;
        try (Model model = OnnxImporter.importModel(onnx).newModel("minilm", "PyTorch")) {
            for (var p : model.getBlock().getParameters()) {
                Parameter param = p.getValue();
                fp32Bytes += 4 * param.getArray().size();
            }
            if (config != null) {
                QConfigMapping.Builder mapping = QConfigMapping.builder().optGlobal(config);
                if (mode.equals("STATIC")) {
                    // the FFN down-projections (GELU outputs with outliers) stay FP32, as in the
                    // in-place converter's MiniLM recipe
                    mapping.optPathGlob("encoder.*.output", null);
                }
                Preparer.prepare(model, mapping.build());
                embed(model, calibration); // observers see 16 real sentences
                Twins.setObserving(model.getBlock(), false);
                Twins.setFakeQuant(model.getBlock(), true);
            }
            simulated = embed(model, evaluation);
            Twins.setFakeQuant(model.getBlock(), false);
            manifest =
                    TorchScriptExporter.builder()
                            .setBlock(model.getBlock())
                            .build()
                            .export(out, "minilm");
        }
        assertEquals(
                switch (mode) {
                    case "FP32" -> 0;
                    case "STATIC" -> 30;
                    default -> 36;
                },
                manifest.layers().size());
        float[][] exported;
        Criteria<List<String>, float[][]> criteria =
                Criteria.builder()
                        .setTypes((Class<List<String>>) (Class<?>) List.class, float[][].class)
                        .optEngine("PyTorch")
                        .optModelPath(out)
                        .optModelName("minilm")
                        .optTranslator(translator.batch())
                        .build();
        try (ZooModel<List<String>, float[][]> model = criteria.loadModel();
                Predictor<List<String>, float[][]> p = model.newPredictor()) {
            exported = p.predict(evaluation);
        }
        double simVsFp32 = 1;
        for (int i = 0; i < evaluation.size(); i++) {
            simVsFp32 = Math.min(simVsFp32, dot(simulated[i], fp32[i]));
        }
        System.out.println("MiniLM " + mode + " simulation vs FP32 min cosine " + simVsFp32);
        double minSim = 1;
        int agreeing = 0;
        double minFp32 = 1;
        double meanFp32 = 0;
        for (int i = 0; i < evaluation.size(); i++) {
            minSim = Math.min(minSim, dot(simulated[i], exported[i]));
            agreeing += dot(simulated[i], exported[i]) >= 0.999 ? 1 : 0;
            double c = dot(fp32[i], exported[i]);
            minFp32 = Math.min(minFp32, c);
            meanFp32 += c / evaluation.size();
        }
        long stored = 0;
        long float32 = 0;
        for (QuantizationManifest.Layer l : manifest.layers()) {
            stored += l.storedWeightBytes();
            float32 += l.float32WeightBytes();
        }
        long archive = Files.size(out.resolve("minilm.pt"));
        System.out.printf(
                "MiniLM %s export, %d sentences: %d agree with the simulation (cosine >= 0.999), min cosine %.6f; vs FP32 min %.4f"
                        + " mean %.4f; archive %d bytes vs FP32 parameters %d bytes (%.2fx);"
                        + " Linear weights %d -> %d bytes (%.3fx)%n",
                mode,
                evaluation.size(),
                agreeing,
                minSim,
                minFp32,
                meanFp32,
                archive,
                fp32Bytes,
                (double) fp32Bytes / archive,
                float32,
                stored,
                (double) float32 / stored);
        System.out.flush();
        if (config == null) {
            assertTrue(minSim >= 0.999999, "FP32 export vs DJL " + minSim);
            return;
        }
        assertTrue((double) float32 / stored >= 3.9, "Linear weight compression");
        // vs FP32: the 0.98 target holds for every sentence (measured min 0.984 static, 0.9815
        // dynamic). vs the simulation: dynamic agrees on every sentence (min cosine 1.000000):
        // the simulation of an FBGEMM dynamic layer computes it as fbgemm does (its input
        // parameters, the zero point added before rounding, exact integer sums, the fused
        // requantization; see DynamicQuantNumericsTest). Before, it rounded the input as
        // quantize_per_tensor does and summed dequantized floats: single-step flips at rounding
        // ties, which 36 per-tensor re-quantizations amplified to min cosine 0.985 (0 of 32
        // sentences at 0.999). Static agrees on most sentences only (25 of 32, min 0.9958; its
        // simulation still sums dequantized floats, not investigated further here).
        assertTrue(minFp32 >= 0.98, "min cosine vs FP32 " + minFp32);
        if (mode.equals("STATIC")) {
            assertTrue(agreeing >= 24, agreeing + " sentences agree with the simulation");
            assertTrue(minSim >= 0.995, "min cosine vs simulation " + minSim);
        } else {
            assertEquals(evaluation.size(), agreeing, "sentences agreeing with the simulation");
            assertTrue(minSim >= 0.99999, "min cosine vs simulation " + minSim);
        }
        // the archive really holds the weights at that size: everything but the Linear weights
        // is stored as FP32, plus under 1% of code and pickle
        assertTrue(archive <= (fp32Bytes - float32 + stored) * 1.01, "archive " + archive);
    }
}
