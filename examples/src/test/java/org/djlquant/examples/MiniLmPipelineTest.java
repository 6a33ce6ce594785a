package org.djlquant.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.SentimentData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The MiniLM pipeline on a 60-sentence stratified slice with a tiny throughput setting: the
 * invariants of its table and of {@code summary.json}.
 */
class MiniLmPipelineTest {

    @TempDir static Path out;

    private static PipelineSummary summary;

    @BeforeAll
    static void runPipelineOnASlice() throws Exception {
        Path data = SentimentData.defaultDataDir();
        // the data is part of the test setup (scripts/fetch-data.sh): missing data fails the test
        assertTrue(
                Files.isDirectory(data.resolve("sentiment")),
                "sentiment data missing at " + data + " (run scripts/fetch-data.sh)");
        System.setProperty("java.awt.headless", "true");
        MiniLmPipeline.Options options =
                new MiniLmPipeline.Options(
                        60,
                        1,
                        out,
                        false,
                        32,
                        1,
                        32,
                        data,
                        MiniLmPipeline.ALL_VARIANTS,
                        MiniLmRecipe.DEFAULT);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        summary = MiniLmPipeline.run(options, new PrintStream(log, true, StandardCharsets.UTF_8));
        System.out.print(summary.toTable());
    }

    @Test
    void referenceHasNoDropFullCosineAndNoCompression() {
        VariantResult ref = summary.variant(Fp32DjlVariant.NAME);
        assertEquals("REFERENCE", ref.kind());
        assertEquals(0.0, ref.accuracyDropPoints(), 0.0);
        assertEquals(1.0, ref.cosineMean(), 1e-6);
        assertEquals(1.0, ref.cosineMin(), 1e-6);
        assertEquals(1.0, ref.compression(), 0.0);
        assertEquals(1.0, ref.speedupNaturalVsFp32Djl(), 0.0);
        assertEquals(1.0, ref.speedup128VsFp32Djl(), 0.0);
    }

    @Test
    void onnxRuntimeFp32AgreesWithTheImportedModel() {
        VariantResult ort = summary.variant(Fp32OrtVariant.NAME);
        assertTrue(ort.cosineMin() >= 0.9999, "fp32-ort min cosine " + ort.cosineMin());
        assertEquals(1.0, ort.speedupNaturalVsFp32Ort(), 0.0);
        // same model in a different file format: within 2% of the saved DJL parameters
        assertEquals(1.0, ort.compression(), 0.02);
    }

    @Test
    void onnxRuntimeInt8TwinStaysCloseToFp32() {
        VariantResult twin = summary.variant(OrtInt8TwinVariant.NAME);
        // DESIGN.md section 5 measured a mean of 0.988 over the 3000 sentences
        assertTrue(twin.cosineMean() >= 0.95, "ort-int8-twin mean cosine " + twin.cosineMean());
        // INT8 weights: roughly a quarter of the FP32 size
        assertTrue(twin.compression() > 3.0, "compression " + twin.compression());
    }

    @Test
    void simulatedVariantsAreLabelledAndNotTimed() {
        for (String name : List.of("sim-dynamic-int8", "sim-static-int8")) {
            VariantResult v = summary.variant(name);
            assertEquals("SIMULATED", v.kind());
            assertTrue(v.description().contains("SIMULATED"), v.description());
            assertNull(v.sizeMb(), name);
            assertNull(v.sentencesPerSecond128(), name);
            assertTrue(v.note().startsWith("simulated"), v.note());
            assertTrue(v.cosineMean() < 1.0, name + " fake quantization changes the embeddings");
        }
        assertTrue(summary.variant("sim-static-int8").artifact().contains("calibrated on 32"));
        assertTrue(summary.toTable().contains("sim-static-int8 (sim)"));
    }

    @Test
    void everyVariantHasEveryFieldAndAccuraciesAreFractions() {
        assertTrue(summary.variants().size() >= 3, "variants " + summary.variants());
        for (VariantResult v : summary.variants()) {
            assertTrue(v.accuracy() >= 0 && v.accuracy() <= 1, v.name() + " " + v.accuracy());
            assertTrue(v.cosineMin() <= v.cosineMean() + 1e-12, v.name());
            assertNotNull(v.engine(), v.name());
            assertNotNull(v.description(), v.name());
            assertNotNull(v.artifact(), v.name());
            if (v.kind().equals("SIMULATED")) {
                assertNull(v.sentencesPerSecondNatural(), v.name());
                assertNotNull(v.note(), v.name());
                continue;
            }
            if (!v.name().endsWith("-inplace")) {
                assertNotNull(v.sizeMb(), v.name() + " has no size");
                assertNotNull(v.compression(), v.name() + " has no compression");
            }
            for (Double d :
                    new Double[] {
                        v.sentencesPerSecondNatural(),
                        v.sentencesPerSecond128(),
                        v.latencyMsBatch1(),
                        v.latencyMsBatch1FirstCall(),
                        v.speedupNaturalVsFp32Djl(),
                        v.speedupNaturalVsFp32Ort(),
                        v.speedup128VsFp32Djl(),
                        v.speedup128VsFp32Ort()
                    }) {
                assertNotNull(d, v.name() + " has a missing number");
                assertTrue(d > 0 && Double.isFinite(d), v.name() + " " + d);
            }
            double drop = 100 * (summary.variant(Fp32DjlVariant.NAME).accuracy() - v.accuracy());
            assertEquals(drop, v.accuracyDropPoints(), 1e-9, v.name());
        }
    }

    @Test
    void everyRealInt8RowIsPresentAndLabelledInt8() {
        for (String mode : List.of("static", "dynamic")) {
            for (String form : List.of("inplace", "ts", "onnx")) {
                VariantResult v = summary.variant("int8-" + mode + "-" + form);
                assertEquals("INT8", v.kind(), v.name());
                assertEquals(form.equals("onnx") ? "OnnxRuntime" : "PyTorch", v.engine());
                assertNull(v.note(), v.name() + " is timed and has no caveat");
                assertTrue(v.description().startsWith(mode + " INT8"), v.description());
            }
        }
        // the default static recipe quantizes every Linear (the six FFN down-projections dynamic)
        // and says so in every row
        for (String form : List.of("inplace", "ts", "onnx")) {
            String artifact = summary.variant("int8-static-" + form).artifact();
            assertTrue(artifact.contains("36 Linear INT8, none FP32"), artifact);
            assertTrue(
                    summary.variant("int8-static-" + form)
                            .description()
                            .contains("(encoder.*.output) dynamic INT8"),
                    summary.variant("int8-static-" + form).description());
            assertTrue(artifact.contains("calibrated on 32 sentences"), artifact);
        }
        assertTrue(
                summary.variant("int8-dynamic-onnx").artifact().contains("36 Linear INT8"),
                summary.variant("int8-dynamic-onnx").artifact());
    }

    @Test
    void compressionFollowsFromTheSizesAndInt8FilesAreSmallerThanFp32() {
        VariantResult ref = summary.variant(Fp32DjlVariant.NAME);
        for (VariantResult v : summary.variants()) {
            if (v.sizeMb() == null) {
                assertNull(v.compression(), v.name());
                continue;
            }
            assertEquals(ref.sizeMb() / v.sizeMb(), v.compression(), 1e-9, v.name());
            if (v.kind().equals("INT8") || v.kind().equals("PEER")) {
                assertTrue(v.sizeMb() < ref.sizeMb(), v.name() + " " + v.sizeMb() + " MB");
            }
        }
        // in place has no file of its own and says why
        for (String name : List.of("int8-static-inplace", "int8-dynamic-inplace")) {
            VariantResult v = summary.variant(name);
            assertNull(v.sizeMb(), name);
            assertTrue(v.artifact().contains("converted at load"), v.artifact());
        }
        // INT8 Linear weights and INT8 word embeddings: below half of FP32 whatever the recipe
        for (String name : List.of("int8-static-onnx", "int8-dynamic-onnx", "int8-static-ts")) {
            VariantResult v = summary.variant(name);
            assertTrue(v.compression() > 2.0, name + " compression " + v.compression());
        }
        // the TorchScript export of the all-INT8 default recipe: INT8 Linear weights, INT8 word
        // and position embeddings, deflated tensor records; at most a quarter of FP32
        VariantResult ts = summary.variant("int8-static-ts");
        assertTrue(ts.compression() >= 4.0, "int8-static-ts compression " + ts.compression());
    }

    @Test
    void cosinesAreCosines() {
        for (VariantResult v : summary.variants()) {
            assertTrue(v.cosineMin() >= -1 - 1e-6 && v.cosineMean() <= 1 + 1e-6, v.name());
            assertTrue(v.cosineMin() <= v.cosineMean() + 1e-12, v.name());
        }
    }

    @Test
    void summaryJsonParsesAndFollowsTheDocumentedSchema() throws Exception {
        JsonObject root =
                JsonParser.parseString(Files.readString(out.resolve("summary.json")))
                        .getAsJsonObject();
        assertEquals(PipelineSummary.SCHEMA, root.get("schema").getAsString());
        JsonObject setup = root.getAsJsonObject("setup");
        for (String key :
                List.of(
                        "sentences",
                        "threads",
                        "batch",
                        "throughput",
                        "probe",
                        "calibration",
                        "variants",
                        "int8Recipe")) {
            assertTrue(setup.has(key), "setup lacks " + key);
        }
        assertEquals(60, setup.get("sentences").getAsInt());
        JsonObject fields = root.getAsJsonObject("fields");
        assertEquals(VariantResult.fieldDocs().keySet(), fields.keySet());
        assertEquals(summary.variants().size(), root.getAsJsonArray("variants").size());
        for (JsonElement e : root.getAsJsonArray("variants")) {
            JsonObject v = e.getAsJsonObject();
            assertEquals(fields.keySet(), v.keySet(), "keys of " + v.get("name"));
            double acc = v.get("accuracy").getAsDouble();
            assertTrue(acc >= 0 && acc <= 1, v.get("name") + " accuracy " + acc);
        }
        assertNotNull(ImageIO.read(out.resolve("chart.png").toFile()), "chart.png is a PNG");
        assertTrue(Files.readString(out.resolve("summary.txt")).contains("ort-int8-twin"));
    }

    @Test
    void stratifiedSliceKeepsEverySourceAndLabelInProportion() throws Exception {
        List<LabelledText> all = SentimentData.load(SentimentData.defaultDataDir());
        List<LabelledText> slice = MiniLmPipeline.stratifiedSlice(all, 60);
        Map<String, Long> groups =
                slice.stream()
                        .collect(
                                Collectors.groupingBy(
                                        t -> t.source() + "/" + t.label(), Collectors.counting()));
        assertEquals(6, groups.size(), groups.toString());
        groups.values().forEach(c -> assertEquals(10L, c, groups.toString()));
        assertEquals(all.size(), MiniLmPipeline.stratifiedSlice(all, all.size()).size());
    }

    @Test
    void badFlagsAreRefusedWithTheFlagAndWhatIsAllowed() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MiniLmPipeline.Options.parse("--sentences", "five"));
        assertTrue(e.getMessage().contains("--sentences was 'five'"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MiniLmPipeline.Options.parse("--threds", "2"));
        assertTrue(e.getMessage().contains("--threds"), e.getMessage());
        assertTrue(e.getMessage().contains("--threads T"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MiniLmPipeline.Options.parse("--threads", "0"));
        assertTrue(e.getMessage().contains("--threads was 0, must be >= 1"), e.getMessage());
        MiniLmPipeline.Options o =
                MiniLmPipeline.Options.parse("--sentences", "300", "--skip-throughput");
        assertEquals(300, o.sentences());
        assertTrue(o.skipThroughput());
        assertEquals(MiniLmPipeline.DEFAULT_VARIANTS, o.variants());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MiniLmPipeline.Options.parse("--variants", "int8-static-tflite"));
        assertTrue(e.getMessage().contains("'int8-static-tflite'"), e.getMessage());
        assertTrue(e.getMessage().contains("int8-dynamic-ts"), e.getMessage());
        o = MiniLmPipeline.Options.parse("--variants", "int8-dynamic-ts,fp32-ort");
        // the reference is always run, first
        assertEquals(List.of("fp32-djl", "int8-dynamic-ts", "fp32-ort"), o.variants());
        assertEquals(
                List.of("fp32-djl", "fp32-ort", "int8-dynamic-ts"),
                MiniLmPipeline.variants(o.variants(), o.recipe()).stream()
                        .map(Variant::name)
                        .toList());
        assertEquals(
                MiniLmPipeline.ALL_VARIANTS,
                MiniLmPipeline.Options.parse("--variants", "all").variants());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> MiniLmPipeline.Options.parse("--ffn-down", "int4"));
        assertTrue(e.getMessage().contains("--ffn-down was 'int4'"), e.getMessage());
    }
}
