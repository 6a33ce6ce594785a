package org.djlquant.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the scheme and observer JMH benchmarks briefly (1 fork, 2 x 1 s warm-up, 3 x 1 s
 * measurement, 1 benchmark thread, 1 libtorch intra-op thread) and writes {@code scheme-jmh.json}
 * (JMH's JSON) and {@code scheme-jmh.md} (a readable table) into the output directory.
 *
 * <pre>
 * mvn -B -ntp -q -pl benchmarks -am package -DskipTests
 * java -Dai.djl.offline=true -jar benchmarks/target/benchmarks.jar [outputDir]
 * </pre>
 *
 * {@code outputDir} defaults to {@code benchmarks/results}. Numbers are only comparable within one
 * run on one machine.
 */
public final class SchemeBenchmarkRunner {

    private SchemeBenchmarkRunner() {}

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    /**
     * Runs the benchmarks.
     *
     * @param args optional output directory
     * @throws RunnerException if JMH fails
     */
    public static void main(String[] args) throws RunnerException {
        Path out = Paths.get(args.length > 0 ? args[0] : "benchmarks/results");
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path json = out.resolve("scheme-jmh.json");
        Options opts =
                new OptionsBuilder()
                        .include(QuantizeBenchmark.class.getName())
                        .include(ObserverBenchmark.class.getName())
                        .forks(1)
                        .threads(1)
                        .warmupIterations(2)
                        .warmupTime(TimeValue.seconds(1))
                        .measurementIterations(3)
                        .measurementTime(TimeValue.seconds(1))
                        // one libtorch intra-op thread: on a shared 2-core machine OpenMP threads
                        // that spin while another process runs made timings swing 50x
                        .jvmArgsAppend(
                                "-Dai.djl.offline=true",
                                "-Dai.djl.pytorch.num_threads=1",
                                "-Dai.djl.pytorch.num_interop_threads=1")
                        .resultFormat(ResultFormatType.JSON)
                        .result(json.toString())
                        .build();
        double loadBefore = loadAverage();
        Collection<RunResult> results = new Runner(opts).run();
        double loadAfter = loadAverage();
        List<String> lines = new ArrayList<>();
        lines.add("# djl-quant scheme benchmarks");
        lines.add("");
        lines.add(
                "JMH, 1 fork, 1 benchmark thread, 1 libtorch thread, 2 x 1 s warm-up, 3 x 1 s measurement; [256, 256] float32"
                        + " input; "
                        + Runtime.getRuntime().availableProcessors()
                        + " CPUs visible; java "
                        + System.getProperty("java.version")
                        + String.format(
                                Locale.ROOT,
                                "; system load average %.1f before, %.1f after",
                                loadBefore,
                                loadAfter)
                        + ". Error columns are JMH's 99.9% intervals over 3 iterations: with other"
                        + " processes on the machine they are wide, so compare rows of one run"
                        + " only. Raw results: scheme-jmh.json.");
        lines.add("");
        lines.add("| benchmark | ns / element | ± (99.9%) | M elements / s |");
        lines.add("|---|---:|---:|---:|");
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            name = name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1);
            double score = r.getPrimaryResult().getScore();
            double err = r.getPrimaryResult().getScoreError();
            lines.add(
                    String.format(
                            Locale.ROOT,
                            "| %s | %.3f | %.3f | %.1f |",
                            name,
                            score,
                            err,
                            1000.0 / score));
        }
        try {
            Files.write(out.resolve("scheme-jmh.md"), lines, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        lines.forEach(System.out::println);
    }
}
