package org.djlquant.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.djlquant.calibrate.Calibrator;
import org.djlquant.config.QConfig;
import org.djlquant.config.QConfigMapping;
import org.djlquant.config.QMode;
import org.djlquant.nn.PrepareReport;
import org.djlquant.nn.Preparer;
import org.djlquant.nn.QuantTwin;
import org.djlquant.observer.Observers;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ErrorReportTest {

    @Test
    void layerSqnrMatchesAnIndependentJavaComputationAndRendersEverywhere(@TempDir Path dir)
            throws Exception {
        Engine.getEngine("PyTorch").setRandomSeed(23);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock net = new SequentialBlock();
            net.add(Linear.builder().setUnits(8).build());
            net.add(Activation::relu);
            net.add(Linear.builder().setUnits(4).build());
            net.initialize(m, DataType.FLOAT32, new Shape(16, 6));
            QConfig cfg =
                    QConfig.builder()
                            .setMode(QMode.STATIC)
                            .setWeightObserver(
                                    Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                            .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                            .build();
            PrepareReport prep = Preparer.prepare(net, QConfigMapping.global(cfg));
            List<NDList> data = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                data.add(new NDList(m.randomNormal(new Shape(16, 6))));
            }
            Calibrator.builder().setBlock(net, m).optProgress(null).build().calibrate(data);
            // batches are consumed by calibration: make fresh ones for the report
            List<NDList> eval = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                eval.add(new NDList(m.randomNormal(new Shape(16, 6))));
            }
            ErrorReport report = ErrorReport.measure(net, m, eval);
            assertEquals(2, report.layers().size());
            assertEquals(3, report.batches());

            // independent: first layer in plain Java with QuantMath's reference fake-quant
            QuantTwin first = prep.twins().get(0);
            Map<String, QParams> p = first.control().computeParams();
            float[] w = first.getParameters().get("weight").getArray().toFloatArray();
            float[] b = first.getParameters().get("bias").getArray().toFloatArray();
            float[] wq = QuantMath.fakeQuantize(w, new long[] {8, 6}, p.get("weight"));
            double signal = 0;
            double noise = 0;
            for (NDList batch : eval) {
                float[] x = batch.head().toFloatArray();
                float[] xq = QuantMath.fakeQuantize(x, new long[] {16, 6}, p.get("input"));
                for (int r = 0; r < 16; r++) {
                    for (int o = 0; o < 8; o++) {
                        double y = b[o];
                        double yq = b[o];
                        for (int k = 0; k < 6; k++) {
                            y += (double) x[r * 6 + k] * w[o * 6 + k];
                            yq += (double) xq[r * 6 + k] * wq[o * 6 + k];
                        }
                        // static twins also fake-quantize their output
                        yq =
                                QuantMath.fakeQuantize(
                                        new float[] {(float) yq}, new long[] {1}, p.get("output"))[
                                        0];
                        signal += y * y;
                        noise += (yq - y) * (yq - y);
                    }
                }
            }
            double expectedDb = 10 * Math.log10(signal / noise);
            assertEquals(expectedDb, report.layers().get(0).sqnrDb(), 0.01);
            assertTrue(report.model().sqnrDb() > 15, report.toTable());

            // clean paths (as configs and prepare reports name layers), raw DJL names kept aside
            assertEquals("01", report.layers().get(0).path());
            assertEquals("01Linear", report.layers().get(0).rawPath());
            assertEquals("03", report.layers().get(1).path());
            assertEquals(prep.twins().get(1).path(), report.layers().get(1).rawPath());
            String table = report.toTable();
            assertTrue(!table.contains("01Linear") && table.contains("(model output)"), table);
            JsonObject json = JsonParser.parseString(report.toJson()).getAsJsonObject();
            assertEquals(2, json.getAsJsonArray("layers").size());
            JsonObject firstJson = json.getAsJsonArray("layers").get(0).getAsJsonObject();
            assertEquals("01", firstJson.get("path").getAsString());
            assertEquals("01Linear", firstJson.get("rawPath").getAsString());
            assertEquals(
                    report.layers().get(1).sqnrDb(),
                    json.getAsJsonArray("layers")
                            .get(1)
                            .getAsJsonObject()
                            .get("sqnrDb")
                            .getAsDouble(),
                    1e-9);
            Path png = dir.resolve("sqnr.png");
            report.writeChart(png);
            BufferedImage img = ImageIO.read(png.toFile());
            assertTrue(img.getWidth() > 300 && img.getHeight() > 80);
            for (NDList batch : eval) {
                for (NDArray a : batch) {
                    assertTrue(!a.isReleased(), "report must not close the caller's batches");
                }
            }
        }
    }

    @Test
    void nestedLayersAreNamedByCleanPathsNotDjlChildNames() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SequentialBlock inner = new SequentialBlock();
            inner.add(Linear.builder().setUnits(5).build());
            inner.add(Linear.builder().setUnits(3).build());
            SequentialBlock net = new SequentialBlock();
            net.add(inner);
            net.initialize(m, DataType.FLOAT32, new Shape(4, 6));
            QConfig cfg =
                    QConfig.builder()
                            .setMode(QMode.STATIC)
                            .setWeightObserver(
                                    Observers.perChannelMinMax(QSpec.int8SymmetricPerChannel(0)))
                            .optActivationObserver(Observers.minMax(QSpec.uint8AffinePerTensor()))
                            .build();
            PrepareReport prep = Preparer.prepare(net, QConfigMapping.global(cfg));
            List<NDList> data = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                data.add(new NDList(m.randomNormal(new Shape(4, 6))));
            }
            Calibrator.builder().setBlock(net, m).optProgress(null).build().calibrate(data);
            List<NDList> eval = List.of(new NDList(m.randomNormal(new Shape(4, 6))));
            ErrorReport report = ErrorReport.measure(net, m, eval);
            assertEquals(
                    List.of("01.01", "01.02"),
                    report.layers().stream().map(ErrorReport.LayerError::path).toList());
            assertEquals(
                    List.of("01SequentialBlock.01Linear", "01SequentialBlock.02Linear"),
                    report.layers().stream().map(ErrorReport.LayerError::rawPath).toList());
            // the names a prepare report gives the same layers
            assertEquals("01.01", prep.entry("01SequentialBlock.01Linear").cleanPath());
        }
    }
}
