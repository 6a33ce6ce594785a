package org.djlquant.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LineChartTest {

    @Test
    void writesAPngWithTheSeriesColoursInsideThePlot(@TempDir Path dir) throws Exception {
        LineChart chart =
                LineChart.builder()
                        .setTitle("loss")
                        .addSeries("fp32", new double[] {1.0, 0.5, 0.25})
                        .addSeries("qat", List.of(0.9, 0.6))
                        .build();
        Path file = dir.resolve("c.png");
        chart.write(file);
        BufferedImage img = ImageIO.read(file.toFile());
        assertEquals(720, img.getWidth());
        assertEquals(420, img.getHeight());
        // the first series' colour (0x2E86C1) and the second's (0xC0392B) appear in the image
        boolean blue = false;
        boolean red = false;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y) & 0xFFFFFF;
                blue |= rgb == 0x2E86C1;
                red |= rgb == 0xC0392B;
            }
        }
        assertTrue(blue && red, "series colours drawn: blue " + blue + ", red " + red);
        assertTrue(Files.size(file) > 0);
    }

    @Test
    void aSeriesStartingLaterIsDrawnRightOfTheFirstPoints() {
        // one series at x = 1, 2 and one at x = 3 only: with 3 x positions the late point sits at
        // the right end of the plot (x pixel 70 + 20 + 420 = 510), the early ones at 90 and 300
        LineChart chart =
                LineChart.builder()
                        .setTitle("t")
                        .addSeries("first", new double[] {0, 0})
                        .addSeries("later", 3, new double[] {1})
                        .build();
        assertEquals(3, chart.firstX("later"));
        assertEquals(1, chart.firstX("first"));
        BufferedImage img = chart.render();
        int red = 0xC0392B;
        int blue = 0x2E86C1;
        // y of value 1 on a [-0.05, 1.05] range in a 330-pixel plot starting at 40: 40 + 15 = 55
        assertEquals(red, img.getRGB(510, 55) & 0xFFFFFF);
        assertEquals(blue, img.getRGB(90, 355) & 0xFFFFFF);
        assertEquals(blue, img.getRGB(300, 355) & 0xFFFFFF);
        assertThrows(
                IllegalArgumentException.class,
                () -> LineChart.builder().setTitle("t").addSeries("a", 0, new double[] {1}));
    }

    @Test
    void seriesAreCopiedAtAdd() {
        double[] v = {1, 2};
        LineChart chart = LineChart.builder().setTitle("t").addSeries("a", v).build();
        v[0] = 99;
        assertArrayEquals(new double[] {1, 2}, chart.series().get("a"));
    }

    @Test
    void refusesNonFiniteValuesDuplicateNamesAndEmptyCharts() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                LineChart.builder()
                                        .setTitle("t")
                                        .addSeries("acc", new double[] {0.5, Double.NaN}));
        assertTrue(e.getMessage().contains("'acc' value 1 was NaN"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        LineChart.builder()
                                .setTitle("t")
                                .addSeries("a", new double[] {1})
                                .addSeries("a", new double[] {2}));
        assertThrows(
                IllegalArgumentException.class, () -> LineChart.builder().setTitle("t").build());
        assertThrows(
                IllegalArgumentException.class,
                () -> LineChart.builder().addSeries("a", new double[] {1}).build());
    }
}
