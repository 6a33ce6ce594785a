package org.djlquant.examples;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.djlquant.QuantizationException;

/**
 * Draws the pipeline results as a PNG (Java2D, headless): for each variant, grouped horizontal bars
 * of sentences/s at batch 32 (natural lengths and 128 tokens) on the left and probe accuracy on the
 * right, so speed and accuracy read side by side. Variants that were not timed are marked.
 */
final class ResultsChart {

    private static final int ROW = 46;
    private static final int LABEL = 190;
    private static final int PANEL = 420;
    private static final int GAP = 60;
    private static final int TOP = 70;
    private static final Color NATURAL = new Color(0x4C78A8);
    private static final Color FIXED = new Color(0xF58518);
    private static final Color ACCURACY = new Color(0x54A24B);
    private static final Color SIMULATED = new Color(0xB0B0B0);

    private ResultsChart() {}

    static BufferedImage render(PipelineSummary summary) {
        List<VariantResult> vs = summary.variants();
        int width = LABEL + PANEL + GAP + PANEL + 40;
        int height = TOP + ROW * vs.size() + 70;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(
                    RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            g.drawString(
                    "all-MiniLM-L6-v2: speed and accuracy per variant ("
                            + summary.setup().getOrDefault("sentences", "?")
                            + " sentences, "
                            + summary.setup().getOrDefault("threads", "?")
                            + " threads)",
                    10,
                    22);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            int speedX = LABEL;
            int accX = LABEL + PANEL + GAP;
            g.drawString(
                    "sentences/s, batch 32 (blue: natural lengths, orange: 128 tokens)",
                    speedX,
                    50);
            g.drawString("probe accuracy % (5-fold CV, probe trained on fp32-djl)", accX, 50);

            double maxSpeed = 1;
            double minAcc = 100;
            double maxAcc = 0;
            for (VariantResult v : vs) {
                maxSpeed = Math.max(maxSpeed, orZero(v.sentencesPerSecondNatural()));
                maxSpeed = Math.max(maxSpeed, orZero(v.sentencesPerSecond128()));
                minAcc = Math.min(minAcc, 100 * v.accuracy());
                maxAcc = Math.max(maxAcc, 100 * v.accuracy());
            }
            double accLo = Math.max(0, Math.floor(minAcc - 2));
            double accHi = Math.min(100, Math.ceil(maxAcc + 1));
            for (int i = 0; i < vs.size(); i++) {
                VariantResult v = vs.get(i);
                int y = TOP + i * ROW;
                g.setColor(Color.BLACK);
                String label = v.name() + (v.kind().equals("SIMULATED") ? " (simulated)" : "");
                g.drawString(label, 10, y + 22);
                if (v.sentencesPerSecondNatural() == null) {
                    g.setColor(SIMULATED);
                    g.drawString("not timed", speedX + 4, y + 22);
                } else {
                    bar(g, speedX, y + 4, v.sentencesPerSecondNatural(), maxSpeed, NATURAL, "%.0f");
                    bar(
                            g,
                            speedX,
                            y + 20,
                            orZero(v.sentencesPerSecond128()),
                            maxSpeed,
                            FIXED,
                            "%.0f");
                }
                double acc = 100 * v.accuracy();
                int len = (int) Math.round(PANEL * (acc - accLo) / (accHi - accLo));
                g.setColor(v.kind().equals("SIMULATED") ? SIMULATED : ACCURACY);
                g.fillRect(accX, y + 8, Math.max(len, 1), 22);
                g.setColor(Color.BLACK);
                g.drawString(
                        String.format(Locale.ROOT, "%.2f", acc),
                        accX + Math.max(len, 1) + 4,
                        y + 24);
            }
            int bottom = TOP + ROW * vs.size();
            g.setColor(Color.DARK_GRAY);
            g.setStroke(new BasicStroke(1));
            g.drawLine(speedX, bottom, speedX + PANEL, bottom);
            g.drawLine(accX, bottom, accX + PANEL, bottom);
            g.drawString("0", speedX, bottom + 16);
            g.drawString(
                    String.format(Locale.ROOT, "%.0f", maxSpeed), speedX + PANEL - 30, bottom + 16);
            g.drawString(String.format(Locale.ROOT, "%.0f", accLo), accX, bottom + 16);
            g.drawString(String.format(Locale.ROOT, "%.0f", accHi), accX + PANEL - 20, bottom + 16);
            g.drawString(
                    "accuracy axis starts at "
                            + String.format(Locale.ROOT, "%.0f", accLo)
                            + " %; grey = simulated (fake quantization), speed not meaningful",
                    10,
                    bottom + 40);
        } finally {
            g.dispose();
        }
        return image;
    }

    private static void bar(
            Graphics2D g, int x, int y, double value, double max, Color c, String f) {
        int len = (int) Math.round(PANEL * value / max);
        g.setColor(c);
        g.fillRect(x, y, Math.max(len, 1), 14);
        g.setColor(Color.BLACK);
        g.drawString(String.format(Locale.ROOT, f, value), x + Math.max(len, 1) + 4, y + 12);
    }

    private static double orZero(Double d) {
        return d == null ? 0 : d;
    }

    static void write(PipelineSummary summary, Path file) throws QuantizationException {
        try {
            if (!ImageIO.write(render(summary), "png", file.toFile())) {
                throw new QuantizationException("no PNG writer available for " + file);
            }
        } catch (IOException e) {
            throw new QuantizationException("cannot write chart " + file + ": " + e, e);
        }
    }
}
