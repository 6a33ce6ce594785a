package org.djlquant.report;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;
import org.djlquant.nn.BlockPaths;
import org.djlquant.nn.ErrorProbe;
import org.djlquant.nn.QuantTwin;
import org.djlquant.nn.Twins;

/**
 * Per-layer quantization error of a prepared, calibrated model: for every wrapped layer, the SQNR
 * in dB ({@code 10 log10(sum y^2 / sum (y_q - y)^2)}) and the maximum absolute error between its
 * float output {@code y} and its fake-quantized output {@code y_q}, each layer measured on float
 * inputs (errors do not accumulate from earlier layers); and the same numbers for the whole model's
 * output with every layer fake-quantized at once. Layers are named by their clean paths ({@link
 * BlockPaths}: {@code encoder.03.attention.query}, not DJL's {@code 01SequentialBlock}-style child
 * names, which stay available as {@link LayerError#rawPath()}). Rendered as a text table, JSON, and
 * a bar-chart PNG (Java2D, headless).
 *
 * <p>Measuring needs calibrated observers (STATIC/QAT layers refuse otherwise); the twins' switches
 * are restored afterwards. Immutable once measured.
 */
public final class ErrorReport {

    /**
     * The error of one layer.
     *
     * @param path the layer's clean path ({@link BlockPaths}, e.g. {@code
     *     encoder.03.attention.query}), as configs, policies and prepare reports name layers
     * @param blockClass the twin's class
     * @param mode the quantization mode
     * @param sqnrDb SQNR in dB (Infinity when exact)
     * @param maxAbsError largest absolute difference
     * @param mse mean squared error
     * @param rawPath the path from DJL's child names (e.g. {@code 01SequentialBlock.03Linear}), as
     *     {@link QuantTwin#path()} gives it
     */
    public record LayerError(
            String path,
            String blockClass,
            String mode,
            double sqnrDb,
            float maxAbsError,
            double mse,
            String rawPath) {}

    private final List<LayerError> layers;
    private final LayerError model;
    private final long batches;

    private ErrorReport(List<LayerError> layers, LayerError model, long batches) {
        this.layers = Collections.unmodifiableList(new ArrayList<>(layers));
        this.model = model;
        this.batches = batches;
    }

    /**
     * Measures the errors on batches (iterated twice; the batches are not closed).
     *
     * @param block the prepared, calibrated block
     * @param manager a manager under which per-batch managers are made
     * @param batches the model inputs
     * @return the report
     * @throws IllegalArgumentException if there are no batches
     * @throws IllegalStateException if the block has no twins or an observer has no data
     */
    public static ErrorReport measure(Block block, NDManager manager, Iterable<NDList> batches) {
        Objects.requireNonNull(batches, "batches");
        List<QuantTwin> twins = Twins.find(block);
        if (twins.isEmpty()) {
            throw new IllegalStateException(
                    "the block has no prepared layers; call Preparer.prepare first");
        }
        boolean[][] saved = new boolean[twins.size()][];
        for (int i = 0; i < twins.size(); i++) {
            saved[i] =
                    new boolean[] {
                        twins.get(i).control().isObserving(), twins.get(i).control().isFakeQuant()
                    };
        }
        ParameterStore ps = new ParameterStore(manager, false);
        List<ErrorProbe> probes = new ArrayList<>();
        ErrorProbe whole = new ErrorProbe();
        long count = 0;
        try {
            for (QuantTwin t : twins) {
                ErrorProbe p = new ErrorProbe();
                probes.add(p);
                t.control().setObserving(false);
                t.control().setFakeQuant(false);
                t.control().setErrorProbe(p);
            }
            for (NDList batch : batches) {
                try (NDManager sub = manager.newSubManager()) {
                    sub.tempAttachAll(batch);
                    block.forward(ps, batch, false);
                }
                count++;
            }
            if (count == 0) {
                throw new IllegalArgumentException("error report got 0 batches, must have >= 1");
            }
            for (QuantTwin t : twins) {
                t.control().setErrorProbe(null);
            }
            for (NDList batch : batches) {
                try (NDManager sub = manager.newSubManager()) {
                    sub.tempAttachAll(batch);
                    Twins.setFakeQuant(block, false);
                    NDArray ref = block.forward(ps, batch, false).head();
                    Twins.setFakeQuant(block, true);
                    NDArray q = block.forward(ps, batch, false).head();
                    whole.record(ref, q);
                }
            }
        } finally {
            for (int i = 0; i < twins.size(); i++) {
                twins.get(i).control().setErrorProbe(null);
                twins.get(i).control().setObserving(saved[i][0]);
                twins.get(i).control().setFakeQuant(saved[i][1]);
            }
        }
        Map<Block, String> clean = new IdentityHashMap<>();
        BlockPaths.byCleanPath(block).forEach((path, b) -> clean.putIfAbsent(b, path));
        List<LayerError> layers = new ArrayList<>();
        for (int i = 0; i < twins.size(); i++) {
            ErrorProbe p = probes.get(i);
            if (p.batches() == 0) {
                continue; // twins without a weighted op of their own (attention P observer)
            }
            QuantTwin t = twins.get(i);
            layers.add(
                    new LayerError(
                            clean.getOrDefault((Block) t, t.path()),
                            t.getClass().getSimpleName(),
                            t.control().config().mode().name(),
                            p.sqnrDb(),
                            p.maxAbsError(),
                            p.mse(),
                            t.path()));
        }
        LayerError m =
                new LayerError(
                        "(model output)",
                        block.getClass().getSimpleName(),
                        "all",
                        whole.sqnrDb(),
                        whole.maxAbsError(),
                        whole.mse(),
                        "(model output)");
        return new ErrorReport(layers, m, count);
    }

    /**
     * Returns the per-layer errors in tree order.
     *
     * @return the layers
     */
    public List<LayerError> layers() {
        return layers;
    }

    /**
     * Returns the whole-model output error.
     *
     * @return the model error
     */
    public LayerError model() {
        return model;
    }

    /**
     * Returns the number of batches measured.
     *
     * @return the count
     */
    public long batches() {
        return batches;
    }

    /**
     * Renders a text table, one row per layer and a last row for the model output.
     *
     * @return the table
     */
    public String toTable() {
        int w = "(model output)".length();
        for (LayerError l : layers) {
            w = Math.max(w, l.path().length());
        }
        String fmt = "%-" + w + "s  %-18s  %-11s  %9s  %12s%n";
        StringBuilder sb = new StringBuilder();
        sb.append(
                String.format(Locale.ROOT, fmt, "layer", "block", "mode", "SQNR dB", "max |err|"));
        for (LayerError l : layers) {
            sb.append(row(fmt, l));
        }
        sb.append(row(fmt, model));
        return sb.toString();
    }

    private static String row(String fmt, LayerError l) {
        return String.format(
                Locale.ROOT,
                fmt,
                l.path(),
                l.blockClass(),
                l.mode(),
                String.format(Locale.ROOT, "%.2f", l.sqnrDb()),
                String.format(Locale.ROOT, "%.6g", l.maxAbsError()));
    }

    /**
     * Renders the report as JSON: {@code {"batches":..,"layers":[..],"model":{..}}}.
     *
     * @return the JSON text
     */
    public String toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("batches", batches);
        JsonArray arr = new JsonArray();
        for (LayerError l : layers) {
            arr.add(json(l));
        }
        root.add("layers", arr);
        root.add("model", json(model));
        return new GsonBuilder()
                .setPrettyPrinting()
                .serializeSpecialFloatingPointValues()
                .create()
                .toJson(root);
    }

    private static JsonObject json(LayerError l) {
        JsonObject o = new JsonObject();
        o.addProperty("path", l.path());
        o.addProperty("rawPath", l.rawPath());
        o.addProperty("block", l.blockClass());
        o.addProperty("mode", l.mode());
        o.addProperty("sqnrDb", l.sqnrDb());
        o.addProperty("maxAbsError", l.maxAbsError());
        o.addProperty("mse", l.mse());
        return o;
    }

    /**
     * Draws a horizontal bar chart of the SQNR per layer (and the model output).
     *
     * @return the image
     */
    public BufferedImage chart() {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
        List<LayerError> rows = new ArrayList<>(layers);
        rows.add(model);
        int rowH = 22;
        int label = 260;
        int barW = 420;
        int width = label + barW + 90;
        int height = 50 + rows.size() * rowH + 20;
        double max = 1;
        for (LayerError l : rows) {
            if (Double.isFinite(l.sqnrDb())) {
                max = Math.max(max, l.sqnrDb());
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
            g.drawString("SQNR per layer (dB, higher is better)", 10, 24);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            for (int i = 0; i < rows.size(); i++) {
                LayerError l = rows.get(i);
                int y = 40 + i * rowH;
                g.setColor(Color.BLACK);
                String name = l.path();
                if (name.length() > 38) {
                    name = "…" + name.substring(name.length() - 37);
                }
                g.drawString(name, 10, y + 15);
                double v = Double.isFinite(l.sqnrDb()) ? Math.max(0, l.sqnrDb()) : max;
                int w = (int) Math.round(barW * v / max);
                g.setColor(i == rows.size() - 1 ? new Color(0xC0392B) : new Color(0x2E86C1));
                g.fillRect(label, y + 3, Math.max(1, w), rowH - 6);
                g.setColor(Color.BLACK);
                g.drawString(String.format(Locale.ROOT, "%.1f", l.sqnrDb()), label + w + 5, y + 15);
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
