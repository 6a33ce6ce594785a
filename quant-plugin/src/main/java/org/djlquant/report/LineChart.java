package org.djlquant.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;

/**
 * A line chart of one or more series over an integer x axis (1, 2, 3, ...: epochs, steps); a series
 * may start later than x = 1 (a fine-tuning run that continues a first training), drawn with Java2D
 * (headless) and written as PNG; for training curves such as the loss or accuracy per epoch. Build
 * it with {@link #builder()}; immutable once built, so thread-safe.
 */
public final class LineChart {

    private static final Color[] PALETTE = {
        new Color(0x2E86C1),
        new Color(0xC0392B),
        new Color(0x27AE60),
        new Color(0x8E44AD),
        new Color(0xD68910),
        new Color(0x17202A)
    };

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final Map<String, double[]> series;
    private final Map<String, Integer> firstX;

    private LineChart(Builder b) {
        this.title = b.title;
        this.xLabel = b.xLabel;
        this.yLabel = b.yLabel;
        Map<String, double[]> copy = new LinkedHashMap<>();
        b.series.forEach((k, v) -> copy.put(k, v.clone()));
        this.series = Collections.unmodifiableMap(copy);
        this.firstX = Collections.unmodifiableMap(new LinkedHashMap<>(b.firstX));
    }

    /**
     * Returns a new builder.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the series by name, in the order added (values are copies).
     *
     * @return an unmodifiable map
     */
    public Map<String, double[]> series() {
        Map<String, double[]> out = new LinkedHashMap<>();
        series.forEach((k, v) -> out.put(k, v.clone()));
        return Collections.unmodifiableMap(out);
    }

    /**
     * Returns the x value of the first point of a series.
     *
     * @param name the series name
     * @return 1 unless the series was added with a later start
     * @throws IllegalArgumentException if there is no such series
     */
    public int firstX(String name) {
        Integer x = firstX.get(name);
        if (x == null) {
            throw new IllegalArgumentException(
                    "series '" + name + "' was asked for, known: " + series.keySet());
        }
        return x;
    }

    /**
     * Draws the chart: axes with five ticks on y, one tick per x value, a line with point markers
     * per series and a legend. The y range is that of all values, padded by 5 % (a flat series gets
     * a range of ±1 around its value).
     *
     * @return a new 720x420 RGB image
     */
    public BufferedImage render() {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        int width = 720;
        int height = 420;
        int left = 70;
        int right = 190;
        int top = 40;
        int bottom = 50;
        int plotW = width - left - right;
        int plotH = height - top - bottom;
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        int n = 0;
        for (Map.Entry<String, double[]> e : series.entrySet()) {
            double[] v = e.getValue();
            n = Math.max(n, firstX.get(e.getKey()) - 1 + v.length);
            for (double d : v) {
                lo = Math.min(lo, d);
                hi = Math.max(hi, d);
            }
        }
        if (hi - lo == 0) {
            lo -= 1;
            hi += 1;
        }
        double pad = (hi - lo) * 0.05;
        lo -= pad;
        hi += pad;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(
                    RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.drawString(title, left, 24);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            g.drawRect(left, top, plotW, plotH);
            for (int t = 0; t <= 4; t++) {
                double v = lo + (hi - lo) * t / 4;
                int y = top + plotH - (int) Math.round(plotH * (v - lo) / (hi - lo));
                g.setColor(new Color(0xE5E7E9));
                g.drawLine(left + 1, y, left + plotW - 1, y);
                g.setColor(Color.BLACK);
                g.drawString(String.format(Locale.ROOT, "%.3g", v), 8, y + 4);
            }
            for (int i = 0; i < n; i++) {
                int x = xPixel(i, n, left, plotW);
                g.drawLine(x, top + plotH, x, top + plotH + 4);
                g.drawString(Integer.toString(i + 1), x - 3, top + plotH + 17);
            }
            g.drawString(xLabel, left + plotW / 2 - 20, height - 12);
            g.drawString(yLabel, 8, top - 8);
            int s = 0;
            for (Map.Entry<String, double[]> e : series.entrySet()) {
                Color c = PALETTE[s % PALETTE.length];
                g.setColor(c);
                g.setStroke(new BasicStroke(2f));
                double[] v = e.getValue();
                int offset = firstX.get(e.getKey()) - 1;
                int px = -1;
                int py = -1;
                for (int i = 0; i < v.length; i++) {
                    int x = xPixel(offset + i, n, left, plotW);
                    int y = top + plotH - (int) Math.round(plotH * (v[i] - lo) / (hi - lo));
                    if (i > 0) {
                        g.drawLine(px, py, x, y);
                    }
                    g.fillOval(x - 3, y - 3, 7, 7);
                    px = x;
                    py = y;
                }
                int ly = top + 14 + s * 18;
                g.fillRect(left + plotW + 12, ly - 8, 14, 4);
                g.setColor(Color.BLACK);
                g.drawString(e.getKey(), left + plotW + 32, ly - 2);
                s++;
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    private static int xPixel(int i, int n, int left, int plotW) {
        if (n <= 1) {
            return left + plotW / 2;
        }
        return left + 20 + (int) Math.round((plotW - 40) * i / (double) (n - 1));
    }

    /**
     * Writes {@link #render()} as a PNG file.
     *
     * @param file the target file
     * @throws QuantizationException if it cannot be written
     */
    public void write(Path file) throws QuantizationException {
        Objects.requireNonNull(file, "file");
        try {
            if (!ImageIO.write(render(), "png", file.toFile())) {
                throw new QuantizationException("no PNG writer available for " + file);
            }
        } catch (IOException e) {
            throw new QuantizationException("cannot write chart " + file, e);
        }
    }

    /** Builds a {@link LineChart}. */
    public static final class Builder {

        private String title;
        private String xLabel = "epoch";
        private String yLabel = "";
        private final Map<String, double[]> series = new LinkedHashMap<>();
        private final Map<String, Integer> firstX = new LinkedHashMap<>();

        private Builder() {}

        /**
         * Sets the title (required).
         *
         * @param title the title
         * @return this builder
         */
        public Builder setTitle(String title) {
            this.title = title;
            return this;
        }

        /**
         * Sets the x-axis label (default "epoch").
         *
         * @param label the label
         * @return this builder
         */
        public Builder optXLabel(String label) {
            this.xLabel = Objects.requireNonNull(label, "label");
            return this;
        }

        /**
         * Sets the y-axis label (default none).
         *
         * @param label the label
         * @return this builder
         */
        public Builder optYLabel(String label) {
            this.yLabel = Objects.requireNonNull(label, "label");
            return this;
        }

        /**
         * Adds a series; its i-th value is drawn at x = i + 1.
         *
         * @param name the legend entry, unique
         * @param values at least one finite value (copied)
         * @return this builder
         * @throws IllegalArgumentException if the name is taken, or a value is missing or not
         *     finite
         */
        public Builder addSeries(String name, double[] values) {
            return addSeries(name, 1, values);
        }

        /**
         * Adds a series whose i-th value is drawn at x = firstX + i.
         *
         * @param name the legend entry, unique
         * @param firstX x of the first value, at least 1
         * @param values at least one finite value (copied)
         * @return this builder
         * @throws IllegalArgumentException if the name is taken, firstX is below 1, or a value is
         *     missing or not finite
         */
        public Builder addSeries(String name, int firstX, double[] values) {
            Objects.requireNonNull(name, "name");
            if (firstX < 1) {
                throw new IllegalArgumentException(
                        "series '" + name + "' firstX was " + firstX + ", must be >= 1");
            }
            Objects.requireNonNull(values, "values");
            if (series.containsKey(name)) {
                throw new IllegalArgumentException(
                        "series '" + name + "' was added twice, names must be unique");
            }
            if (values.length == 0) {
                throw new IllegalArgumentException(
                        "series '" + name + "' had 0 values, must have at least 1");
            }
            for (int i = 0; i < values.length; i++) {
                if (!Double.isFinite(values[i])) {
                    throw new IllegalArgumentException(
                            "series '"
                                    + name
                                    + "' value "
                                    + i
                                    + " was "
                                    + values[i]
                                    + ", must be finite");
                }
            }
            series.put(name, values.clone());
            this.firstX.put(name, firstX);
            return this;
        }

        /**
         * Adds a series from a list.
         *
         * @param name the legend entry, unique
         * @param values at least one finite value
         * @return this builder
         */
        public Builder addSeries(String name, List<Double> values) {
            Objects.requireNonNull(values, "values");
            return addSeries(
                    name,
                    new ArrayList<>(values).stream().mapToDouble(Double::doubleValue).toArray());
        }

        /**
         * Validates and builds.
         *
         * @return the chart
         * @throws IllegalArgumentException if the title is missing or there is no series
         */
        public LineChart build() {
            if (title == null || title.isBlank()) {
                throw new IllegalArgumentException("title was not set, must be set");
            }
            if (series.isEmpty()) {
                throw new IllegalArgumentException("chart had 0 series, must have at least 1");
            }
            return new LineChart(this);
        }
    }
}
