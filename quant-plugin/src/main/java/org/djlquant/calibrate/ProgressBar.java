package org.djlquant.calibrate;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar on a stream (stderr by default, never stdout), redrawn at most every 250
 * ms. Used by the calibrator, the sensitivity runner's callers and the command line for every long
 * step. Not thread-safe.
 */
public final class ProgressBar {

    private static final long REDRAW_NANOS = 250_000_000L;

    private final PrintStream out;
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    /**
     * Creates a bar; nothing is drawn until {@link #update}.
     *
     * @param out the stream (stderr, never stdout), or null to draw nothing
     * @param label the text before the bar
     * @param total the number of steps, or a value below 1 when unknown (a counter is drawn)
     */
    public ProgressBar(PrintStream out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    /**
     * Redraws the bar if 250 ms passed since the last draw (or the last step is reached).
     *
     * @param done the steps done
     */
    public void update(long done) {
        long now = System.nanoTime();
        if (out == null || (drawn && now - lastDraw < REDRAW_NANOS && done != total)) {
            return;
        }
        lastDraw = now;
        drawn = true;
        double seconds = (now - start) / 1e9;
        if (total > 0) {
            int width = 30;
            int filled = (int) Math.min(width, width * done / total);
            out.print(
                    String.format(
                            Locale.ROOT,
                            "\r%s [%s%s] %d/%d batches %.1fs",
                            label,
                            "=".repeat(filled),
                            " ".repeat(width - filled),
                            done,
                            total,
                            seconds));
        } else {
            out.print(String.format(Locale.ROOT, "\r%s %d batches %.1fs", label, done, seconds));
        }
        out.flush();
    }

    /**
     * Draws the final state and ends the line.
     *
     * @param done the steps done
     */
    public void finish(long done) {
        if (out == null) {
            return;
        }
        drawn = false;
        update(done);
        out.println();
        out.flush();
    }
}
