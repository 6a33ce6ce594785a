package org.djlquant.policy.measure;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
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
import java.util.Comparator;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;
import org.djlquant.policy.LayerInfo;
import org.djlquant.policy.Precision;
import org.djlquant.policy.ProxyMetric;
import org.djlquant.policy.SensitivityTable;

/**
 * What {@link SensitivityRunner} measured: per layer and precision, the model output's error
 * against FP32 with only that layer in that precision, and optionally with every layer but that one
 * in a given precision. Immutable and thread-safe.
 */
public final class SensitivityReport {

    /**
     * One measurement of the model output against FP32.
     *
     * @param path the layer path
     * @param precision the layer's precision (only-this), or the precision of all other layers
     *     (all-but-this, the layer itself FP32)
     * @param sqnrDb signal-to-noise ratio in dB, +infinity if the output is identical
     * @param cosine mean cosine similarity of output rows
     * @param kl mean KL divergence of softmax rows, NaN when the output is not logits
     */
    public record Measurement(
            String path, Precision precision, double sqnrDb, double cosine, double kl) {

        /**
         * Returns the value of a proxy metric.
         *
         * @param metric SQNR_DB, COSINE or KL
         * @return the value
         * @throws IllegalArgumentException for a metric this report does not hold
         */
        public double value(ProxyMetric metric) {
            switch (metric) {
                case SQNR_DB:
                    return sqnrDb;
                case COSINE:
                    return cosine;
                case KL:
                    if (Double.isNaN(kl)) {
                        throw new IllegalArgumentException(
                                "KL of layer "
                                        + path
                                        + " was not measured: the runner was not told the output"
                                        + " is logits (optLogits(true))");
                    }
                    return kl;
                default:
                    throw new IllegalArgumentException(
                            "metric was " + metric + ", must be one of [SQNR_DB, COSINE, KL]");
            }
        }
    }

    /**
     * The task metric with only one layer in a precision (all others FP32).
     *
     * @param path the layer path
     * @param precision the layer's precision
     * @param metric the task metric measured (higher is better)
     * @param drop the FP32 task metric minus {@code metric}
     */
    public record TaskMeasurement(String path, Precision precision, double metric, double drop) {}

    private final List<LayerInfo> layers;
    private final Map<String, Map<Precision, Measurement>> onlyThis;
    private final double taskFp32;
    private final Map<String, TaskMeasurement> taskOnlyThis;
    private final Map<String, Measurement> allButThis;
    private final Precision othersPrecision;
    private final boolean logits;
    private final long batches;

    SensitivityReport(
            List<LayerInfo> layers,
            Map<String, Map<Precision, Measurement>> onlyThis,
            Map<String, Measurement> allButThis,
            Precision othersPrecision,
            boolean logits,
            long batches,
            double taskFp32,
            Map<String, TaskMeasurement> taskOnlyThis) {
        this.layers = List.copyOf(layers);
        this.taskFp32 = taskFp32;
        this.taskOnlyThis = Collections.unmodifiableMap(new LinkedHashMap<>(taskOnlyThis));
        Map<String, Map<Precision, Measurement>> copy = new LinkedHashMap<>();
        onlyThis.forEach(
                (k, v) -> copy.put(k, Collections.unmodifiableMap(new LinkedHashMap<>(v))));
        this.onlyThis = Collections.unmodifiableMap(copy);
        this.allButThis = Collections.unmodifiableMap(new LinkedHashMap<>(allButThis));
        this.othersPrecision = othersPrecision;
        this.logits = logits;
        this.batches = batches;
    }

    /**
     * Returns the measured layers.
     *
     * @return the layers in model order
     */
    public List<LayerInfo> layers() {
        return layers;
    }

    /**
     * Returns the precisions measured.
     *
     * @return the precisions, in enum order
     */
    public Set<Precision> precisions() {
        Set<Precision> out = EnumSet.noneOf(Precision.class);
        onlyThis.values().forEach(m -> out.addAll(m.keySet()));
        return out;
    }

    /**
     * Returns the measurement with only one layer in a precision.
     *
     * @param path the layer path
     * @param precision the precision
     * @return the measurement
     * @throws IllegalArgumentException naming what was measured if absent
     */
    public Measurement onlyThis(String path, Precision precision) {
        Map<Precision, Measurement> row = onlyThis.get(path);
        if (row == null || !row.containsKey(precision)) {
            throw new IllegalArgumentException(
                    "no measurement for layer "
                            + path
                            + " at "
                            + precision
                            + "; measured: "
                            + (row == null ? "layers " + onlyThis.keySet() : row.keySet()));
        }
        return row.get(precision);
    }

    /**
     * Returns the measurements with every layer but one in {@link #othersPrecision()}.
     *
     * @return by the path of the layer kept FP32; empty if not measured
     */
    public Map<String, Measurement> allButThis() {
        return allButThis;
    }

    /**
     * Returns the precision of the other layers in the all-but-this measurements.
     *
     * @return the precision, or null if not measured
     */
    public Precision othersPrecision() {
        return othersPrecision;
    }

    /**
     * Returns the FP32 task metric, if a task metric was given to the runner.
     *
     * @return the metric, or NaN if none was measured
     */
    public double taskMetricFp32() {
        return taskFp32;
    }

    /**
     * Returns the task-metric measurements: only the layers the proxies ranked most sensitive, each
     * at its most damaging candidate precision (see {@link
     * SensitivityRunner.Builder#optTaskMetric}).
     *
     * @return by layer path, most proxy-sensitive first; empty if no task metric was given
     */
    public Map<String, TaskMeasurement> taskOnlyThis() {
        return taskOnlyThis;
    }

    /**
     * Returns the number of batches every measurement ran.
     *
     * @return the batch count
     */
    public long batches() {
        return batches;
    }

    /**
     * Ranks layers by how much a precision hurts when only that layer uses it.
     *
     * @param precision the precision
     * @param metric the proxy (its damage orders the layers)
     * @return paths, most damaged first
     */
    public List<String> ranking(Precision precision, ProxyMetric metric) {
        List<String> out = new ArrayList<>();
        for (LayerInfo l : layers) {
            out.add(l.path());
        }
        out.sort(
                Comparator.comparingDouble(
                                (String p) ->
                                        metric.damage(
                                                onlyThis(p, precision).value(metric),
                                                p + " at " + precision))
                        .reversed());
        return out;
    }

    /**
     * Builds the policy engine's table in one proxy metric.
     *
     * @param metric SQNR_DB, COSINE, or KL (if the output was logits)
     * @return the table, with all-but-this values if measured
     */
    public SensitivityTable table(ProxyMetric metric) {
        SensitivityTable.Builder b = SensitivityTable.builder(metric);
        onlyThis.forEach((path, row) -> row.forEach((p, m) -> b.put(path, p, m.value(metric))));
        allButThis.forEach((path, m) -> b.putAllButThis(path, m.value(metric)));
        return b.build();
    }

    /**
     * Formats the SQNR (dB) per layer and precision as a Markdown table.
     *
     * @return the table
     */
    public String toTable() {
        List<Precision> ps = new ArrayList<>(precisions());
        StringBuilder sb = new StringBuilder("| layer |");
        for (Precision p : ps) {
            sb.append(' ').append(p).append(" SQNR dB / cos |");
        }
        if (othersPrecision != null) {
            sb.append(" all but this (others ").append(othersPrecision).append(") SQNR dB |");
        }
        boolean task = !taskOnlyThis.isEmpty();
        if (task) {
            sb.append(" task drop (only this, at) |");
        }
        sb.append("\n|---|");
        sb.append("---|".repeat(ps.size() + (othersPrecision != null ? 1 : 0) + (task ? 1 : 0)));
        sb.append('\n');
        for (LayerInfo l : layers) {
            sb.append("| ").append(l.path()).append(" |");
            for (Precision p : ps) {
                Measurement m = onlyThis.get(l.path()).get(p);
                sb.append(
                        m == null
                                ? " - |"
                                : String.format(
                                        Locale.ROOT, " %.1f / %.5f |", m.sqnrDb(), m.cosine()));
            }
            if (othersPrecision != null) {
                Measurement m = allButThis.get(l.path());
                sb.append(m == null ? " - |" : String.format(Locale.ROOT, " %.1f |", m.sqnrDb()));
            }
            if (task) {
                TaskMeasurement t = taskOnlyThis.get(l.path());
                sb.append(
                        t == null
                                ? " - |"
                                : String.format(
                                        Locale.ROOT, " %.3f (%s) |", t.drop(), t.precision()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /**
     * Writes the report as JSON (infinite SQNR and unmeasured KL as null).
     *
     * @return the JSON text
     */
    public String toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("batches", batches);
        root.addProperty("logits", logits);
        root.addProperty(
                "othersPrecision", othersPrecision == null ? null : othersPrecision.name());
        root.addProperty("taskMetricFp32", Double.isFinite(taskFp32) ? taskFp32 : null);
        JsonArray arr = new JsonArray();
        for (LayerInfo l : layers) {
            JsonObject o = new JsonObject();
            o.addProperty("path", l.path());
            o.addProperty("params", l.params());
            JsonObject only = new JsonObject();
            onlyThis.get(l.path()).forEach((p, m) -> only.add(p.name(), json(m)));
            o.add("onlyThis", only);
            Measurement abt = allButThis.get(l.path());
            if (abt != null) {
                o.add("allButThis", json(abt));
            }
            TaskMeasurement t = taskOnlyThis.get(l.path());
            if (t != null) {
                JsonObject tj = new JsonObject();
                tj.addProperty("precision", t.precision().name());
                tj.addProperty("metric", t.metric());
                tj.addProperty("drop", t.drop());
                o.add("taskOnlyThis", tj);
            }
            arr.add(o);
        }
        root.add("layers", arr);
        return new GsonBuilder().setPrettyPrinting().create().toJson(root);
    }

    private static JsonObject json(Measurement m) {
        JsonObject o = new JsonObject();
        o.addProperty("sqnrDb", Double.isFinite(m.sqnrDb()) ? m.sqnrDb() : null);
        o.addProperty("cosine", m.cosine());
        o.addProperty("kl", Double.isFinite(m.kl()) ? m.kl() : null);
        return o;
    }

    /**
     * Draws the per-layer SQNR (dB) of each precision as grouped horizontal bars.
     *
     * @return the image
     */
    public BufferedImage chart() {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        List<Precision> ps = new ArrayList<>(precisions());
        Color[] colors = {
            new Color(0x2E86C1),
            new Color(0x28B463),
            new Color(0xF39C12),
            new Color(0x8E44AD),
            new Color(0xC0392B),
            new Color(0x7F8C8D),
            new Color(0x17202A)
        };
        int barH = 5;
        int rowH = barH * ps.size() + 6;
        int label = 250;
        int barW = 500;
        int width = label + barW + (taskOnlyThis.isEmpty() ? 60 : 280);
        int top = 60;
        int height = top + layers.size() * rowH + 30;
        double max = 1;
        for (Map<Precision, Measurement> row : onlyThis.values()) {
            for (Measurement m : row.values()) {
                if (Double.isFinite(m.sqnrDb())) {
                    max = Math.max(max, m.sqnrDb());
                }
            }
        }
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(
                    RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
            g.drawString(
                    "Output SQNR with only this layer quantized (dB, higher = less sensitive)",
                    10,
                    20);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            int lx = 10;
            for (int i = 0; i < ps.size(); i++) {
                g.setColor(colors[i % colors.length]);
                g.fillRect(lx, 32, 12, 10);
                g.setColor(Color.BLACK);
                g.drawString(ps.get(i).name(), lx + 16, 42);
                lx += 30 + g.getFontMetrics().stringWidth(ps.get(i).name());
            }
            for (int r = 0; r < layers.size(); r++) {
                String path = layers.get(r).path();
                int y = top + r * rowH;
                g.setColor(Color.BLACK);
                g.drawString(path, 10, y + rowH / 2 + 4);
                TaskMeasurement t = taskOnlyThis.get(path);
                if (t != null) {
                    g.setColor(new Color(0xC0392B));
                    g.drawString(
                            String.format(
                                    Locale.ROOT,
                                    "task drop %.2f at %s",
                                    t.drop(),
                                    t.precision().name()),
                            label + barW + 10,
                            y + rowH / 2 + 4);
                }
                for (int i = 0; i < ps.size(); i++) {
                    Measurement m = onlyThis.get(path).get(ps.get(i));
                    if (m == null) {
                        continue;
                    }
                    double v = Double.isFinite(m.sqnrDb()) ? Math.max(0, m.sqnrDb()) : max;
                    int w = (int) Math.round(barW * v / max);
                    g.setColor(colors[i % colors.length]);
                    g.fillRect(label, y + 3 + i * barH, Math.max(1, w), barH - 1);
                }
            }
            g.setColor(Color.GRAY);
            g.setStroke(new BasicStroke(1));
            g.drawLine(label, top, label, height - 25);
            g.drawString(String.format(Locale.ROOT, "0 dB ... %.0f dB", max), label, height - 10);
            if (!taskOnlyThis.isEmpty()) {
                g.setColor(new Color(0xC0392B));
                g.drawString(
                        "red: task-metric drop measured on the layers the proxies rank first",
                        label + 130,
                        height - 10);
            }
        } finally {
            g.dispose();
        }
        return img;
    }

    /**
     * Writes {@link #chart()} as a PNG file.
     *
     * @param file the target file
     * @throws QuantizationException if it cannot be written
     */
    public void writeChart(Path file) throws QuantizationException {
        try {
            if (!ImageIO.write(chart(), "png", file.toFile())) {
                throw new QuantizationException("no PNG writer available for " + file);
            }
        } catch (IOException e) {
            throw new QuantizationException("cannot write chart " + file, e);
        }
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return toTable();
    }
}
