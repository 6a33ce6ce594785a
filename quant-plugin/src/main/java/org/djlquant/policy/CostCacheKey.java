package org.djlquant.policy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Identifies the conditions under which costs were measured: one cost-cache file per key.
 *
 * @param machineId the machine, see {@link #currentMachineId()}
 * @param backend the backend's name, for example {@code pytorch-fbgemm}
 * @param threads the number of inference threads, at least 1
 * @param workload the input shape the costs were measured with, for example {@code
 *     "batch=32,seq=128"}; costs at other shapes differ
 */
public record CostCacheKey(String machineId, String backend, int threads, String workload) {

    /**
     * Validates the fields.
     *
     * @param machineId the machine, see {@link #currentMachineId()}
     * @param backend the backend's name, for example {@code pytorch-fbgemm}
     * @param threads the number of inference threads, at least 1
     * @param workload the input shape the costs were measured with, for example {@code
     *     "batch=32,seq=128"}; costs at other shapes differ
     * @throws IllegalArgumentException on blank text or fewer than one thread
     */
    public CostCacheKey {
        for (String[] f :
                new String[][] {
                    {"machineId", machineId}, {"backend", backend}, {"workload", workload}
                }) {
            if (f[1] == null || f[1].isBlank()) {
                throw new IllegalArgumentException(f[0] + " was '" + f[1] + "', must not be blank");
            }
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads was " + threads + ", must be at least 1");
        }
    }

    /**
     * Describes this machine: CPU architecture, CPU model name (from {@code /proc/cpuinfo} where
     * readable) and the number of logical processors.
     *
     * @return an identifier made of {@code [a-z0-9-]}
     */
    public static String currentMachineId() {
        String model = "unknown-cpu";
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (Files.isReadable(cpuinfo)) {
            try {
                List<String> lines = Files.readAllLines(cpuinfo, StandardCharsets.UTF_8);
                for (String line : lines) {
                    if (line.startsWith("model name") && line.indexOf(':') > 0) {
                        model = line.substring(line.indexOf(':') + 1);
                        break;
                    }
                }
            } catch (IOException e) {
                model = "unreadable-cpuinfo";
            }
        }
        return slug(
                System.getProperty("os.arch")
                        + "-"
                        + model
                        + "-"
                        + Runtime.getRuntime().availableProcessors()
                        + "cpu");
    }

    /**
     * Returns the cache file name for this key.
     *
     * @return {@code cost-<machine>-<backend>-t<threads>-<workload>.json}, safe as a file name
     */
    public String fileName() {
        return "cost-"
                + slug(machineId)
                + "-"
                + slug(backend)
                + "-t"
                + threads
                + "-"
                + slug(workload)
                + ".json";
    }

    private static String slug(String s) {
        String out =
                s.toLowerCase(Locale.ROOT)
                        .replaceAll("[^a-z0-9]+", "-")
                        .replaceAll("(^-+|-+$)", "");
        return out.isEmpty() ? "x" : out;
    }
}
