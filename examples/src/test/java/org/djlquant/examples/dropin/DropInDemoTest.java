package org.djlquant.examples.dropin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.modality.Classifications;
import ai.djl.modality.cv.Image;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.repository.zoo.Criteria;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.backend.pytorch.CorruptArtifactException;
import org.djlquant.backend.pytorch.QuantizedRepositoryFactory;
import org.djlquant.calibrate.IdxReader;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.QuantizedLinear;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the drop-in app on a slice (an MLP trained on 3,000 images for 2 epochs, 300 calibration
 * requests, 1,000 test images): the INT8 app (in place, and exported then loaded with a plain
 * {@code Criteria}) must agree with the FP32 app within stated bounds, through the same predictor
 * and translator types. Needs the data (scripts/fetch-data.sh); without it the test fails.
 */
class DropInDemoTest {

    @TempDir static Path dir;

    private static DropInDemo.Result result;
    private static String printed;

    @BeforeAll
    static void runTheAppOnASlice() throws Exception {
        IdxReader.fashionMnistDir(); // the data is part of the setup: missing data fails
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        result =
                DropInDemo.run(
                        DropInDemo.Options.parse(
                                "--train-images", "3000",
                                "--epochs", "2",
                                "--traffic", "300",
                                "--eval", "1000",
                                "--out", dir.toString()),
                        new PrintStream(bytes, true, StandardCharsets.UTF_8));
        printed = bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void quantizedAppAgreesWithFp32WithinStatedBounds() {
        List<Classifications> fp32 = result.fp32().results();
        List<Classifications> int8 = result.inPlace().results();
        assertEquals(1000, int8.size());
        // ten classes, chance 10%: the FP32 model learned something
        assertTrue(result.fp32().accuracy() > 0.6, "FP32 accuracy " + result.fp32().accuracy());
        // bounds for three INT8 layers (per-tensor 7-bit activations of the fbgemm preset):
        // a class probability moves by at most 0.25, at most 5% of the top-1 answers change,
        // accuracy moves by at most 2 points
        double dp = DropInDemo.maxProbabilityDifference(fp32, int8);
        assertTrue(dp > 0, "INT8 outputs identical to FP32: the model was not quantized");
        assertTrue(dp <= 0.25, "max probability difference " + dp);
        double agree = DropInDemo.top1Agreement(fp32, int8);
        assertTrue(agree >= 0.95, "top-1 agreement " + agree);
        double drop = result.fp32().accuracy() - result.inPlace().accuracy();
        assertTrue(Math.abs(drop) <= 0.02, "accuracy change " + drop);
        assertTrue(printed.contains("static INT8 in place"), printed);
    }

    @Test
    void quantizedAppServesThroughTheSamePredictorAndTranslatorTypes() throws Exception {
        List<Image> traffic = FashionData.load().trainImages(50_000, 50_100);
        Path model = dir.resolve("model");
        try (FashionService before = new FashionService(model);
                QuantizedFashionService after = new QuantizedFashionService(model, traffic)) {
            assertSame(before.predictor().getClass(), after.predictor().getClass());
            assertSame(Predictor.class, after.predictor().getClass());
            assertInstanceOf(FashionTranslator.class, before.model().getTranslator());
            assertInstanceOf(FashionTranslator.class, after.model().getTranslator());
            assertEquals(3, count(before.model().getBlock(), Linear.class));
            assertEquals(0, count(before.model().getBlock(), QuantizedLinear.class));
            // after: every Linear is an INT8 block, no twin is left behind
            assertEquals(3, count(after.model().getBlock(), QuantizedLinear.class));
            assertEquals(0, count(after.model().getBlock(), QuantTwin.class));
            assertEquals(0, countExact(after.model().getBlock(), Linear.class));
        }
    }

    @Test
    void exportedArchiveLoadsWithPlainCriteriaAndMatchesTheInPlaceModel() {
        assertTrue(Files.isRegularFile(result.exportDir().resolve(FashionModel.NAME + ".pt")));
        assertEquals("PyTorch", result.manifest().backend());
        for (DropInDemo.Served s : List.of(result.exportedByPath(), result.exportedByUrl())) {
            // the archive runs the same calibration through INT8 kernels, but requantizes each
            // hidden layer straight to the next layer's input parameters where the in-place
            // model uses the layer's own output parameters (fused ReLU): one output step apart
            // per layer (seen: 0.055), so a looser bound than bit-identity, tighter than vs FP32
            double dp =
                    DropInDemo.maxProbabilityDifference(result.inPlace().results(), s.results());
            assertTrue(dp <= 0.1, s.name() + " vs in place: max probability difference " + dp);
            double agree = DropInDemo.top1Agreement(result.inPlace().results(), s.results());
            assertTrue(agree >= 0.98, s.name() + " top-1 agreement with in place " + agree);
            assertTrue(
                    DropInDemo.maxProbabilityDifference(result.fp32().results(), s.results())
                            <= 0.25,
                    s.name());
        }
        // loading by path and through the checked URL is the same archive: identical outputs
        assertEquals(
                0.0,
                DropInDemo.maxProbabilityDifference(
                        result.exportedByPath().results(), result.exportedByUrl().results()));
    }

    @Test
    void damagedArchiveIsRefusedByTheDjlqUrlBeforeLibtorchReadsIt() throws IOException {
        Path bad = dir.resolve("damaged");
        Files.createDirectories(bad);
        byte[] archive = Files.readAllBytes(result.exportDir().resolve(FashionModel.NAME + ".pt"));
        Files.write(
                bad.resolve(FashionModel.NAME + ".pt"),
                java.util.Arrays.copyOf(archive, archive.length / 2));
        Criteria<Image, Classifications> criteria =
                Criteria.builder()
                        .setTypes(Image.class, Classifications.class)
                        .optModelUrls(QuantizedRepositoryFactory.url(bad))
                        .optModelName(FashionModel.NAME)
                        .optEngine("PyTorch")
                        .optTranslator(new FashionTranslator())
                        .build();
        IOException e = assertThrows(IOException.class, criteria::loadModel);
        assertInstanceOf(CorruptArtifactException.class, e.getCause());
        assertTrue(e.getMessage().contains("fashion-mlp.pt"), e.getMessage());
        assertFalse(e.getMessage().isBlank());
    }

    private static int count(Block block, Class<?> type) {
        int n = type.isInstance(block) ? 1 : 0;
        for (Block child : block.getChildren().values()) {
            n += count(child, type);
        }
        return n;
    }

    private static int countExact(Block block, Class<?> type) {
        List<Block> all = new ArrayList<>();
        collect(block, all);
        return (int) all.stream().filter(b -> b.getClass() == type).count();
    }

    private static void collect(Block block, List<Block> all) {
        all.add(block);
        for (Block child : block.getChildren().values()) {
            collect(child, all);
        }
    }
}
