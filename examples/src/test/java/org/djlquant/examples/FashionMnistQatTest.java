package org.djlquant.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.djlquant.calibrate.IdxReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the Fashion-MNIST example on a slice (2,000 training images, 1 FP32 epoch, 1 QAT epoch,
 * 1,000 test images) and checks the invariants of the JSON it writes. Needs the data
 * (scripts/fetch-data.sh); without it the test fails.
 */
class FashionMnistQatTest {

    @Test
    void sliceRunWritesConsistentTableCurvesAndCharts(@TempDir Path out) throws Exception {
        // the data is part of the test setup (scripts/fetch-data.sh): missing data fails the test
        IdxReader.fashionMnistDir();
        FashionMnistQat.main(
                new String[] {
                    "--train-images", "2000",
                    "--epochs", "1",
                    "--qat-epochs", "1",
                    "--test-images", "1000",
                    "--out", out.toString()
                });
        JsonObject root =
                JsonParser.parseString(Files.readString(out.resolve(FashionMnistQat.RESULT_FILE)))
                        .getAsJsonObject();
        JsonObject v = root.getAsJsonObject("variants");
        JsonObject fp32 = v.getAsJsonObject("fp32");
        JsonObject ptq = v.getAsJsonObject("ptq");
        JsonObject qat = v.getAsJsonObject("qat");
        assertEquals(0.0, fp32.get("drop_vs_fp32").getAsDouble());
        double accFp32 = fp32.get("accuracy").getAsDouble();
        // ten classes: chance is 0.1; one epoch on 2,000 images gets well above it
        assertTrue(accFp32 > 0.4 && accFp32 <= 1, "FP32 accuracy " + accFp32);
        for (JsonObject q : new JsonObject[] {ptq, qat}) {
            double acc = q.get("accuracy").getAsDouble();
            String name = q.get("name").getAsString();
            assertTrue(acc >= 0 && acc <= 1, name + " accuracy " + acc);
            assertEquals(accFp32 - acc, q.get("drop_vs_fp32").getAsDouble(), 1e-12, name);
            // simulated INT8 loses at most 5 points (QAT trains one more epoch and may gain)
            assertTrue(accFp32 - acc <= 0.05, name + " lost " + (accFp32 - acc));
            // four weighted layers (two convolutions, two linear), each measured
            assertEquals(4, q.getAsJsonObject("layer_errors").getAsJsonArray("layers").size());
            double minSqnr = q.get("layer_sqnr_min_db").getAsDouble();
            // 8-bit grids give ~6 dB per bit; anything under 15 dB would mean a broken simulation
            assertTrue(minSqnr > 15 && minSqnr < 80, name + " min layer SQNR " + minSqnr);
        }
        // the real INT8 models (converted in place: two INT8 convolutions, two INT8 linears) give
        // the accuracy of their simulations: the same integers, up to rare rounding ties
        for (String k : new String[] {"ptq", "qat"}) {
            JsonObject sim = v.getAsJsonObject(k);
            JsonObject real = v.getAsJsonObject(k + "_real");
            String name = real.get("name").getAsString();
            assertEquals(2, real.get("int8_convolutions").getAsInt(), name);
            assertEquals(2, real.get("int8_linears").getAsInt(), name);
            double diff = real.get("accuracy").getAsDouble() - sim.get("accuracy").getAsDouble();
            assertTrue(Math.abs(diff) <= 0.005, name + " differs from its simulation by " + diff);
        }
        assertEquals(1000, ptq.get("calibration_images").getAsInt());
        JsonArray fp32Curve = root.getAsJsonObject("curves").getAsJsonArray("fp32");
        JsonArray qatCurve = root.getAsJsonObject("curves").getAsJsonArray("qat");
        assertEquals(1, fp32Curve.size());
        assertEquals(1, qatCurve.size());
        assertEquals(
                accFp32,
                fp32Curve.get(0).getAsJsonObject().get("test_accuracy").getAsDouble(),
                1e-12);
        assertTrue(fp32Curve.get(0).getAsJsonObject().get("train_loss").getAsDouble() > 0);
        assertTrue(Files.isRegularFile(out.resolve("fashion-mnist-curves.json")));
        for (String png : new String[] {"fashion-mnist-loss.png", "fashion-mnist-accuracy.png"}) {
            BufferedImage img = ImageIO.read(out.resolve(png).toFile());
            assertTrue(img != null && img.getWidth() > 0, png);
        }
    }
}
