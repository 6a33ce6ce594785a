package org.djlquant.examples;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.djlquant.QuantizationException;

/**
 * The outcome of one {@link MiniLmPipeline} run: how it was measured ({@link #setup}) and one
 * {@link VariantResult} per variant. Renders itself as a text table and as {@code summary.json}.
 *
 * <p>{@code summary.json} schema: {@code {"schema": "djl-quant/minilm-summary/1", "setup": {...},
 * "fields": {name: meaning}, "variants": [{one key per entry of "fields"}]}}; the meaning of every
 * variant field is {@link VariantResult#fieldDocs()}, the setup keys are self-describing.
 *
 * @param setup how the run was measured: data, threads, batch, sequence lengths, passes, machine
 * @param variants the results, in the order the variants ran
 */
public record PipelineSummary(Map<String, Object> setup, List<VariantResult> variants) {

    /** The value of the {@code "schema"} key. */
    public static final String SCHEMA = "djl-quant/minilm-summary/1";

    /** Copies the fields. */
    public PipelineSummary {
        setup = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(setup));
        variants = List.copyOf(variants);
    }

    /**
     * Finds the result of a variant.
     *
     * @param name the variant name
     * @return its result
     * @throws IllegalArgumentException listing the names present if there is none
     */
    public VariantResult variant(String name) {
        return variants.stream()
                .filter(v -> v.name().equals(name))
                .findFirst()
                .orElseThrow(
                        () ->
                                new IllegalArgumentException(
                                        "variant was '"
                                                + name
                                                + "', must be one of "
                                                + variants.stream()
                                                        .map(VariantResult::name)
                                                        .toList()));
    }

    /**
     * Renders the results as an aligned text table with a legend.
     *
     * @return the table
     */
    public String toTable() {
        List<String[]> rows = new ArrayList<>();
        rows.add(
                new String[] {
                    "variant",
                    "engine",
                    "MB",
                    "x smaller",
                    "sent/s nat",
                    "sent/s 128",
                    "ms b=1",
                    "ms b=1 idle",
                    "x djl nat",
                    "x ort nat",
                    "x djl 128",
                    "x ort 128",
                    "acc %",
                    "drop pts",
                    "cos mean",
                    "cos min"
                });
        for (VariantResult v : variants) {
            rows.add(
                    new String[] {
                        v.name() + (v.kind().equals("SIMULATED") ? " (sim)" : ""),
                        v.engine(),
                        fmt(v.sizeMb(), "%.1f"),
                        fmt(v.compression(), "%.2f"),
                        fmt(v.sentencesPerSecondNatural(), "%.1f"),
                        fmt(v.sentencesPerSecond128(), "%.1f"),
                        fmt(v.latencyMsBatch1(), "%.2f"),
                        fmt(v.latencyMsBatch1FirstCall(), "%.2f"),
                        fmt(v.speedupNaturalVsFp32Djl(), "%.2f"),
                        fmt(v.speedupNaturalVsFp32Ort(), "%.2f"),
                        fmt(v.speedup128VsFp32Djl(), "%.2f"),
                        fmt(v.speedup128VsFp32Ort(), "%.2f"),
                        fmt(100 * v.accuracy(), "%.2f"),
                        fmt(v.accuracyDropPoints(), "%+.2f"),
                        fmt(v.cosineMean(), "%.4f"),
                        fmt(v.cosineMin(), "%.4f")
                    });
        }
        int[] width = new int[rows.get(0).length];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < rows.size(); r++) {
            String[] row = rows.get(r);
            for (int i = 0; i < row.length; i++) {
                String cell =
                        i < 2
                                ? String.format(Locale.ROOT, "%-" + width[i] + "s", row[i])
                                : String.format(Locale.ROOT, "%" + width[i] + "s", row[i]);
                sb.append(i == 0 ? "" : "  ").append(cell);
            }
            sb.append('\n');
            if (r == 0) {
                int total = 0;
                for (int w : width) {
                    total += w + 2;
                }
                sb.append("-".repeat(total - 2)).append('\n');
            }
        }
        for (VariantResult v : variants) {
            if (v.note() != null) {
                sb.append("  ").append(v.name()).append(": ").append(v.note()).append('\n');
            }
        }
        return sb.toString();
    }

    private static String fmt(Double value, String format) {
        return value == null ? "-" : String.format(Locale.ROOT, format, value);
    }

    /**
     * Renders {@code summary.json}.
     *
     * @return the JSON text, pretty-printed, nulls written
     */
    public String toJson() {
        Gson gson = gson();
        JsonObject root = new JsonObject();
        root.addProperty("schema", SCHEMA);
        root.add("setup", gson.toJsonTree(setup));
        root.add("fields", gson.toJsonTree(VariantResult.fieldDocs()));
        com.google.gson.JsonArray array = new com.google.gson.JsonArray();
        for (VariantResult v : variants) {
            array.add(toJson(v));
        }
        root.add("variants", array);
        return gson.toJson(root) + "\n";
    }

    private static JsonObject toJson(VariantResult v) {
        Map<String, Function<VariantResult, Object>> getters = new LinkedHashMap<>();
        getters.put("name", VariantResult::name);
        getters.put("kind", VariantResult::kind);
        getters.put("engine", VariantResult::engine);
        getters.put("description", VariantResult::description);
        getters.put("artifact", VariantResult::artifact);
        getters.put("sizeMb", VariantResult::sizeMb);
        getters.put("compression", VariantResult::compression);
        getters.put("sentencesPerSecondNatural", VariantResult::sentencesPerSecondNatural);
        getters.put("sentencesPerSecond128", VariantResult::sentencesPerSecond128);
        getters.put("latencyMsBatch1", VariantResult::latencyMsBatch1);
        getters.put("latencyMsBatch1FirstCall", VariantResult::latencyMsBatch1FirstCall);
        getters.put("speedupNaturalVsFp32Djl", VariantResult::speedupNaturalVsFp32Djl);
        getters.put("speedupNaturalVsFp32Ort", VariantResult::speedupNaturalVsFp32Ort);
        getters.put("speedup128VsFp32Djl", VariantResult::speedup128VsFp32Djl);
        getters.put("speedup128VsFp32Ort", VariantResult::speedup128VsFp32Ort);
        getters.put("accuracy", VariantResult::accuracy);
        getters.put("accuracyDropPoints", VariantResult::accuracyDropPoints);
        getters.put("cosineMean", VariantResult::cosineMean);
        getters.put("cosineMin", VariantResult::cosineMin);
        getters.put("note", VariantResult::note);
        if (!getters.keySet().equals(VariantResult.fieldDocs().keySet())) {
            throw new IllegalStateException(
                    "JSON writer and field documentation disagree: "
                            + getters.keySet()
                            + " vs "
                            + VariantResult.fieldDocs().keySet());
        }
        Gson gson = gson();
        JsonObject o = new JsonObject();
        getters.forEach(
                (k, g) -> {
                    Object value = g.apply(v);
                    JsonElement e = gson.toJsonTree(value);
                    o.add(k, e);
                });
        return o;
    }

    private static Gson gson() {
        return new GsonBuilder()
                .serializeNulls()
                .serializeSpecialFloatingPointValues()
                .setPrettyPrinting()
                .disableHtmlEscaping()
                .create();
    }

    /**
     * Writes {@code summary.json} and {@code summary.txt} (the table) into a directory.
     *
     * @param dir the output directory, created if missing
     * @return the JSON file
     * @throws QuantizationException if a file cannot be written
     */
    public Path write(Path dir) throws QuantizationException {
        Path json = dir.resolve("summary.json");
        try {
            Files.createDirectories(dir);
            Files.writeString(json, toJson(), StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("summary.txt"), toTable(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new QuantizationException("cannot write the summary into " + dir + ": " + e, e);
        }
        return json;
    }
}
