package org.djlquant.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Comparator;
import org.djlquant.eval.SpeedMeter;

/**
 * What the end-to-end benchmark runners share: the machine state they report (load average, CPU),
 * the timing methodology fields of their JSON, and where they write results ({@code
 * benchmarks/results}, or the folder in the system property {@code results.dir}).
 */
final class Results {

    /** The order policy of {@link SpeedMeter#measureInterleaved}, as the JSON names it. */
    static final String ORDER_POLICY = "rotated-start-and-stride-per-round";

    /** The settle pause when the command line gives none, in ms (see {@link SpeedMeter}). */
    static final long DEFAULT_SETTLE_MS = 30;

    /** Untimed calls after each settle pause when the command line gives none (steady state). */
    static final int DEFAULT_LEAD_IN = 3;

    /** Timed calls back to back per turn when the command line gives none. */
    static final int DEFAULT_BURST = 5;

    private Results() {}

    /**
     * Returns the meter measuring bursts as the command line says: lead-in at {@code index}, burst
     * at {@code index + 1} (see {@link SpeedMeter#withBursts}).
     *
     * @param meter the meter to extend
     * @param args the arguments
     * @param index where the lead-in count is
     * @return the meter with {@link #DEFAULT_LEAD_IN} / {@link #DEFAULT_BURST} where the arguments
     *     end before a count
     */
    static SpeedMeter bursts(SpeedMeter meter, String[] args, int index) {
        int leadIn = args.length > index ? Integer.parseInt(args[index]) : DEFAULT_LEAD_IN;
        int burst = args.length > index + 1 ? Integer.parseInt(args[index + 1]) : DEFAULT_BURST;
        return meter.withBursts(leadIn, burst);
    }

    /**
     * Returns the settle pause given on the command line.
     *
     * @param args the arguments
     * @param index where the pause in ms is
     * @return that pause, or {@link #DEFAULT_SETTLE_MS} when the arguments end before it
     */
    static Duration settle(String[] args, int index) {
        return Duration.ofMillis(
                args.length > index ? Long.parseLong(args[index]) : DEFAULT_SETTLE_MS);
    }

    /**
     * Opens a results JSON object: benchmark name, qengine, the meter's methodology and the load
     * averages at the start and the end, without a trailing comma.
     */
    static StringBuilder jsonHead(
            String benchmark, String qengine, SpeedMeter meter, String loadStart, String loadEnd) {
        return new StringBuilder("{\n  \"benchmark\": \"")
                .append(benchmark)
                .append("\",\n  \"qengine\": \"")
                .append(qengine)
                .append('"')
                .append(methodologyJson(meter))
                .append(",\n  \"load_average_start\": \"")
                .append(loadStart)
                .append("\",\n  \"load_average_end\": \"")
                .append(loadEnd)
                .append('"');
    }

    /**
     * Returns the JSON fields that say how a meter timed: {@code rounds}, {@code warmup}, {@code
     * settle_ms}, {@code lead_in}, {@code burst}, {@code order} and {@code methodology}, each line
     * starting with {@code ",\n "}.
     *
     * @param meter the meter
     * @return the fields, to append after an earlier field
     */
    static String methodologyJson(SpeedMeter meter) {
        return ",\n  \"rounds\": "
                + meter.timedRuns()
                + ",\n  \"warmup\": "
                + meter.warmupRuns()
                + ",\n  \"settle_ms\": "
                + meter.settle().toMillis()
                + ",\n  \"lead_in\": "
                + meter.leadIn()
                + ",\n  \"burst\": "
                + meter.burst()
                + ",\n  \"order\": \""
                + ORDER_POLICY
                + "\",\n  \"methodology\": \""
                + meter.methodology()
                + "\"";
    }

    /**
     * Prints the Markdown and writes {@code <name>.json} and {@code <name>.md}.
     *
     * @param name the file name without extension
     * @param json the JSON text
     * @param md the Markdown text
     * @throws IOException if a file cannot be written
     */
    static void write(String name, CharSequence json, CharSequence md) throws IOException {
        System.out.print(md);
        Path dir = Paths.get(System.getProperty("results.dir", "benchmarks/results"));
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(name + ".json"), json, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve(name + ".md"), md, StandardCharsets.UTF_8);
        System.out.println("wrote " + dir.resolve(name + ".json") + " and .md");
    }

    /**
     * Returns the 1, 5 and 15 minute load averages.
     *
     * @return "a b c", or "unknown" off Linux
     */
    static String loadAverage() {
        try {
            String[] parts = Files.readString(Paths.get("/proc/loadavg")).trim().split(" ");
            return parts[0] + " " + parts[1] + " " + parts[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    /**
     * Returns the CPU model name.
     *
     * @return the model from {@code /proc/cpuinfo}, or {@code os.arch} off Linux
     */
    static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException e) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }

    /**
     * Deletes a folder and everything below it; a missing folder is fine.
     *
     * @param dir the folder
     * @throws IOException if something cannot be deleted
     */
    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
