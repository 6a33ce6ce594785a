package org.djlquant.calibrate;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar on a stream (stderr by default, never stdout), redrawn at most every 250
 * ms. Not thread-safe.
 */
final class ProgressBar {

    private static final long REDRAW_NANOS = 250_000_000L;

    private final PrintStream out;
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    ProgressBar(PrintStream out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    void update(long done) {
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

    void finish(long done) {
        if (out == null) {
            return;
        }
        drawn = false;
        update(done);
        out.println();
        out.flush();
    }
}
