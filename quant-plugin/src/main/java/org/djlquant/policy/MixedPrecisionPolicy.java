package org.djlquant.policy;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.stream.Collectors;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.QEngine;

/**
 * The decided precision of every layer, with provenance, the budget it was made for and the metric
 * measured. Immutable and thread-safe; reads and writes a small JSON file meant to be hand-edited:
 *
 * <pre>{@code
 * {
 *   "format": "djl-quant-mixed-precision-policy/1",
 *   "strategy": "BUDGETED",
 *   "maxMetricDrop": 0.01,
 *   "baselineMetric": 0.8957,
 *   "measuredMetric": 0.8901,
 *   "layers": [
 *     {"path": "encoder.0.attention.query", "precision": "INT8_DYNAMIC", "source": "SEARCH",
 *      "detail": "budgeted"}
 *   ],
 *   "verifiedLatency": [
 *     {"order": 9, "note": "uniform BF16", "predictedMs": 41.2, "measuredMs": 40.8, "chosen": true}
 *   ],
 *   "verificationMethod": "whole-model forwards, median of the probe's times; 2 warm-up + 10 ...",
 *   "qengine": "ONEDNN"
 * }
 * }</pre>
 *
 * <p>{@code qengine} (optional, written only when present) names the libtorch quantized engine the
 * latencies behind the choice were measured on ({@code djlq policy --qengine}); like {@code
 * verifiedLatency} it records how the policy was chosen and is not used by the conversion itself;
 * {@code djlq quantize --policy} packs for that engine when no {@code --qengine} is given and the
 * backend can use it.
 *
 * <p>{@code verifiedLatency} (optional, written only when present) lists the candidates the search
 * built and timed as whole models before choosing ({@link Verification}); it is a record of how the
 * policy was chosen and is not used by the conversion; {@code verificationMethod} (optional) says
 * how they were timed ({@link Verification#methodology()}: rounds, order, settle pause).
 *
 * <p>On read, {@code source} defaults to {@code MANUAL} and {@code detail} to empty; the optional
 * numbers may be left out. Unknown fields, unknown precision / strategy / source names, repeated
 * paths and non-finite numbers are errors that list what is allowed.
 *
 * @param strategy how the policy was made
 * @param layers layer path to decision, in model order; copied, at least one
 * @param maxMetricDrop the drop budget it was made for, if any
 * @param baselineMetric the FP32 metric, if measured
 * @param measuredMetric the metric measured with this policy, if measured
 * @param verifiedLatency the candidates timed as whole models before choosing (may be empty);
 *     copied
 * @param verificationMethod how {@code verifiedLatency} was timed ({@link
 *     Verification#methodology()}); empty when not recorded
 * @param qengine the libtorch quantized engine the latencies were measured on, if any
 */
public record MixedPrecisionPolicy(
        Strategy strategy,
        Map<String, LayerDecision> layers,
        OptionalDouble maxMetricDrop,
        OptionalDouble baselineMetric,
        OptionalDouble measuredMetric,
        List<VerifiedLatency> verifiedLatency,
        String verificationMethod,
        Optional<QEngine> qengine) {

    /** The value of the {@code format} field this version reads and writes. */
    public static final String FORMAT = "djl-quant-mixed-precision-policy/1";

    private static final Set<String> TOP_FIELDS =
            Set.of(
                    "format",
                    "strategy",
                    "maxMetricDrop",
                    "baselineMetric",
                    "measuredMetric",
                    "layers",
                    "verifiedLatency",
                    "verificationMethod",
                    "qengine");
    private static final Set<String> VERIFIED_FIELDS =
            Set.of("order", "note", "predictedMs", "measuredMs", "chosen");
    private static final Set<String> LAYER_FIELDS = Set.of("path", "precision", "source", "detail");

    /**
     * Validates and copies the fields.
     *
     * @param strategy how the policy was made
     * @param layers layer path to decision, in model order; copied, at least one
     * @param maxMetricDrop the drop budget it was made for, if any
     * @param baselineMetric the FP32 metric, if measured
     * @param measuredMetric the metric measured with this policy, if measured
     * @param verifiedLatency the candidates timed as whole models before choosing (may be empty);
     *     copied
     * @param verificationMethod how {@code verifiedLatency} was timed; null or empty when not
     *     recorded
     * @param qengine the libtorch quantized engine the latencies were measured on, if any (null
     *     means empty)
     * @throws IllegalArgumentException on no layers, a blank path or a non-finite number
     */
    public MixedPrecisionPolicy {
        verifiedLatency = verifiedLatency == null ? List.of() : List.copyOf(verifiedLatency);
        verificationMethod = verificationMethod == null ? "" : verificationMethod;
        qengine = qengine == null ? Optional.empty() : qengine;
        if (strategy == null) {
            throw new IllegalArgumentException(
                    "strategy must be one of " + Arrays.toString(Strategy.values()));
        }
        if (layers == null || layers.isEmpty()) {
            throw new IllegalArgumentException("a policy needs at least one layer");
        }
        Map<String, LayerDecision> copy = new LinkedHashMap<>();
        for (Map.Entry<String, LayerDecision> e : layers.entrySet()) {
            if (e.getKey() == null || e.getKey().isBlank()) {
                throw new IllegalArgumentException(
                        "layer path was '" + e.getKey() + "', must not be blank");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("layer " + e.getKey() + " has no decision");
            }
            copy.put(e.getKey(), e.getValue());
        }
        layers = Collections.unmodifiableMap(copy);
        checkFinite("maxMetricDrop", maxMetricDrop);
        checkFinite("baselineMetric", baselineMetric);
        checkFinite("measuredMetric", measuredMetric);
        if (maxMetricDrop.isPresent() && maxMetricDrop.getAsDouble() < 0) {
            throw new IllegalArgumentException(
                    "maxMetricDrop was " + maxMetricDrop.getAsDouble() + ", must be at least 0");
        }
    }

    /**
     * A policy that records neither how its verified candidates were timed nor its engine.
     *
     * @param strategy how the policy was made
     * @param layers layer path to decision, in model order; copied, at least one
     * @param maxMetricDrop the drop budget it was made for, if any
     * @param baselineMetric the FP32 metric, if measured
     * @param measuredMetric the metric measured with this policy, if measured
     * @param verifiedLatency the candidates timed as whole models before choosing (may be empty);
     *     copied
     * @throws IllegalArgumentException on no layers, a blank path or a non-finite number
     */
    public MixedPrecisionPolicy(
            Strategy strategy,
            Map<String, LayerDecision> layers,
            OptionalDouble maxMetricDrop,
            OptionalDouble baselineMetric,
            OptionalDouble measuredMetric,
            List<VerifiedLatency> verifiedLatency) {
        this(
                strategy,
                layers,
                maxMetricDrop,
                baselineMetric,
                measuredMetric,
                verifiedLatency,
                "",
                Optional.empty());
    }

    /**
     * A policy that records how its verified candidates were timed but not its engine.
     *
     * @param strategy how the policy was made
     * @param layers layer path to decision, in model order; copied, at least one
     * @param maxMetricDrop the drop budget it was made for, if any
     * @param baselineMetric the FP32 metric, if measured
     * @param measuredMetric the metric measured with this policy, if measured
     * @param verifiedLatency the candidates timed as whole models before choosing (may be empty);
     *     copied
     * @param verificationMethod how {@code verifiedLatency} was timed; null or empty when not
     *     recorded
     * @throws IllegalArgumentException on no layers, a blank path or a non-finite number
     */
    public MixedPrecisionPolicy(
            Strategy strategy,
            Map<String, LayerDecision> layers,
            OptionalDouble maxMetricDrop,
            OptionalDouble baselineMetric,
            OptionalDouble measuredMetric,
            List<VerifiedLatency> verifiedLatency,
            String verificationMethod) {
        this(
                strategy,
                layers,
                maxMetricDrop,
                baselineMetric,
                measuredMetric,
                verifiedLatency,
                verificationMethod,
                Optional.empty());
    }

    /**
     * Returns this policy recording the quantized engine its latencies were measured on.
     *
     * @param engine the engine, not null
     * @return a copy with {@link #qengine()} set
     */
    public MixedPrecisionPolicy withQEngine(QEngine engine) {
        Objects.requireNonNull(engine, "engine");
        return new MixedPrecisionPolicy(
                strategy,
                layers,
                maxMetricDrop,
                baselineMetric,
                measuredMetric,
                verifiedLatency,
                verificationMethod,
                Optional.of(engine));
    }

    /**
     * A policy without a verification record.
     *
     * @param strategy how the policy was made
     * @param layers layer path to decision, in model order; copied, at least one
     * @param maxMetricDrop the drop budget it was made for, if any
     * @param baselineMetric the FP32 metric, if measured
     * @param measuredMetric the metric measured with this policy, if measured
     * @throws IllegalArgumentException on no layers, a blank path or a non-finite number
     */
    public MixedPrecisionPolicy(
            Strategy strategy,
            Map<String, LayerDecision> layers,
            OptionalDouble maxMetricDrop,
            OptionalDouble baselineMetric,
            OptionalDouble measuredMetric) {
        this(strategy, layers, maxMetricDrop, baselineMetric, measuredMetric, List.of());
    }

    /**
     * Makes a policy from rules that fix every layer.
     *
     * @param rules resolved rules
     * @return the policy, every layer {@link DecisionSource#RULE}
     * @throws IllegalArgumentException naming the layers the rules leave open
     */
    public static MixedPrecisionPolicy fromRules(ResolvedRules rules) {
        Map<String, LayerDecision> out = new LinkedHashMap<>();
        List<String> open = new ArrayList<>();
        for (LayerInfo layer : rules.layers()) {
            Set<Precision> allowed = rules.allowed(layer.path());
            if (allowed.size() != 1) {
                open.add(layer.path() + " " + allowed);
            } else {
                out.put(
                        layer.path(),
                        new LayerDecision(
                                allowed.iterator().next(),
                                DecisionSource.RULE,
                                rules.decidedBy().get(layer.path())));
            }
        }
        if (!open.isEmpty()) {
            throw new IllegalArgumentException(
                    "the rules leave a choice for " + open + "; pin them or run a PolicySearch");
        }
        return new MixedPrecisionPolicy(
                Strategy.RULES,
                out,
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                OptionalDouble.empty());
    }

    /**
     * Returns a layer's precision.
     *
     * @param path the layer path
     * @return the precision
     * @throws IllegalArgumentException if the policy has no such layer
     */
    public Precision precision(String path) {
        LayerDecision d = layers.get(path);
        if (d == null) {
            throw new IllegalArgumentException(
                    "the policy has no layer " + path + "; it has " + layers.keySet());
        }
        return d.precision();
    }

    /**
     * Returns layer path to precision in model order.
     *
     * @return an unmodifiable map
     */
    public Map<String, Precision> assignment() {
        Map<String, Precision> out = new LinkedHashMap<>();
        layers.forEach((k, v) -> out.put(k, v.precision()));
        return Collections.unmodifiableMap(out);
    }

    /**
     * Writes the policy as pretty-printed JSON.
     *
     * @return the JSON text, ending with a newline
     */
    public String toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("format", FORMAT);
        root.addProperty("strategy", strategy.name());
        maxMetricDrop.ifPresent(v -> root.addProperty("maxMetricDrop", v));
        baselineMetric.ifPresent(v -> root.addProperty("baselineMetric", v));
        measuredMetric.ifPresent(v -> root.addProperty("measuredMetric", v));
        JsonArray list = new JsonArray();
        layers.forEach(
                (path, d) -> {
                    JsonObject o = new JsonObject();
                    o.addProperty("path", path);
                    o.addProperty("precision", d.precision().name());
                    o.addProperty("source", d.source().name());
                    o.addProperty("detail", d.detail());
                    list.add(o);
                });
        root.add("layers", list);
        if (!verifiedLatency.isEmpty()) {
            root.add("verifiedLatency", VerifiedLatency.toJson(verifiedLatency));
        }
        if (!verificationMethod.isEmpty()) {
            root.addProperty("verificationMethod", verificationMethod);
        }
        qengine.ifPresent(e -> root.addProperty("qengine", e.name()));
        return new GsonBuilder().setPrettyPrinting().create().toJson(root) + "\n";
    }

    /**
     * Reads a policy from JSON, validating everything.
     *
     * @param json the text
     * @return the policy
     * @throws QuantizationException naming the offending field, the value and the values allowed
     */
    public static MixedPrecisionPolicy fromJson(String json) throws QuantizationException {
        try {
            JsonElement parsed = JsonParser.parseString(json);
            if (!parsed.isJsonObject()) {
                throw new QuantizationException("a policy file must hold a JSON object");
            }
            JsonObject root = parsed.getAsJsonObject();
            checkFields(root, TOP_FIELDS, "policy");
            String format = text(root, "format", "policy");
            if (!FORMAT.equals(format)) {
                throw new QuantizationException(
                        "policy format was '" + format + "', must be " + FORMAT);
            }
            Strategy strategy =
                    parseEnum(Strategy.class, text(root, "strategy", "policy"), "strategy");
            JsonElement layersEl = root.get("layers");
            if (layersEl == null
                    || !layersEl.isJsonArray()
                    || layersEl.getAsJsonArray().isEmpty()) {
                throw new QuantizationException(
                        "policy field 'layers' must be a non-empty array of"
                                + " {\"path\", \"precision\", \"source\", \"detail\"}");
            }
            Map<String, LayerDecision> layers = new LinkedHashMap<>();
            int i = 0;
            for (JsonElement el : layersEl.getAsJsonArray()) {
                String where = "layers[" + i++ + "]";
                if (!el.isJsonObject()) {
                    throw new QuantizationException(where + " must be an object");
                }
                JsonObject o = el.getAsJsonObject();
                checkFields(o, LAYER_FIELDS, where);
                String path = text(o, "path", where);
                where = where + " (" + path + ")";
                Precision p;
                try {
                    p = Precision.parse(text(o, "precision", where));
                } catch (IllegalArgumentException e) {
                    throw new QuantizationException(where + ": " + e.getMessage(), e);
                }
                DecisionSource source =
                        o.has("source")
                                ? parseEnum(
                                        DecisionSource.class,
                                        text(o, "source", where),
                                        where + " source")
                                : DecisionSource.MANUAL;
                String detail = o.has("detail") ? text(o, "detail", where) : "";
                if (layers.put(path, new LayerDecision(p, source, detail)) != null) {
                    throw new QuantizationException(
                            "layer " + path + " appears twice in the policy");
                }
            }
            return new MixedPrecisionPolicy(
                    strategy,
                    layers,
                    number(root, "maxMetricDrop"),
                    number(root, "baselineMetric"),
                    number(root, "measuredMetric"),
                    verified(root),
                    root.has("verificationMethod")
                            ? text(root, "verificationMethod", "policy")
                            : "",
                    root.has("qengine")
                            ? Optional.of(
                                    parseEnum(
                                            QEngine.class,
                                            text(root, "qengine", "policy"),
                                            "qengine"))
                            : Optional.empty());
        } catch (JsonParseException e) {
            throw new QuantizationException("policy is not valid JSON: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new QuantizationException("invalid policy: " + e.getMessage(), e);
        }
    }

    /**
     * Writes the policy to a file.
     *
     * @param file the file
     * @throws QuantizationException if it cannot be written
     */
    public void write(Path file) throws QuantizationException {
        try {
            Files.writeString(file, toJson(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new QuantizationException("cannot write policy " + file, e);
        }
    }

    /**
     * Reads a policy file.
     *
     * @param file the file
     * @return the policy
     * @throws QuantizationException if it cannot be read or is invalid (the message names the file)
     */
    public static MixedPrecisionPolicy read(Path file) throws QuantizationException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new QuantizationException("cannot read policy " + file, e);
        }
        try {
            return fromJson(text);
        } catch (QuantizationException e) {
            throw new QuantizationException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Renders a table: one row per layer (path, precision, source, detail) and a summary line.
     *
     * @return the table, lines ending with newlines
     */
    public String toTable() {
        int w = "layer".length();
        for (String p : layers.keySet()) {
            w = Math.max(w, p.length());
        }
        String row = "%-" + w + "s  %-16s  %-6s  %s%n";
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, row, "layer", "precision", "source", "detail"));
        layers.forEach(
                (p, d) ->
                        sb.append(
                                String.format(
                                        Locale.ROOT,
                                        row,
                                        p,
                                        d.precision(),
                                        d.source(),
                                        d.detail())));
        Map<Precision, Long> counts =
                layers.values().stream()
                        .collect(
                                Collectors.groupingBy(
                                        LayerDecision::precision,
                                        () -> new java.util.EnumMap<>(Precision.class),
                                        Collectors.counting()));
        sb.append("strategy ").append(strategy).append(", layers ").append(counts);
        maxMetricDrop.ifPresent(v -> sb.append(String.format(Locale.ROOT, ", max drop %.6g", v)));
        baselineMetric.ifPresent(v -> sb.append(String.format(Locale.ROOT, ", baseline %.6g", v)));
        measuredMetric.ifPresent(v -> sb.append(String.format(Locale.ROOT, ", measured %.6g", v)));
        for (VerifiedLatency v : verifiedLatency) {
            if (v.chosen()) {
                sb.append(
                        String.format(
                                Locale.ROOT,
                                ", whole model %.4g ms measured (%.4g predicted; %d candidate(s)"
                                        + " timed)",
                                v.measuredMs(),
                                v.predictedMs(),
                                verifiedLatency.size()));
            }
        }
        return sb.append(System.lineSeparator()).toString();
    }

    private static List<VerifiedLatency> verified(JsonObject root) throws QuantizationException {
        JsonElement el = root.get("verifiedLatency");
        if (el == null || el.isJsonNull()) {
            return List.of();
        }
        if (!el.isJsonArray()) {
            throw new QuantizationException(
                    "policy field 'verifiedLatency' was "
                            + el
                            + ", must be an array of {\"order\", \"note\", \"predictedMs\","
                            + " \"measuredMs\", \"chosen\"}");
        }
        List<VerifiedLatency> out = new ArrayList<>();
        int i = 0;
        for (JsonElement e : el.getAsJsonArray()) {
            String where = "verifiedLatency[" + i++ + "]";
            if (!e.isJsonObject()) {
                throw new QuantizationException(where + " must be an object");
            }
            JsonObject o = e.getAsJsonObject();
            checkFields(o, VERIFIED_FIELDS, where);
            OptionalDouble order = number(o, "order");
            OptionalDouble predicted = number(o, "predictedMs");
            OptionalDouble measured = number(o, "measuredMs");
            JsonElement chosen = o.get("chosen");
            if (order.isEmpty()
                    || predicted.isEmpty()
                    || measured.isEmpty()
                    || chosen == null
                    || !chosen.isJsonPrimitive()
                    || !chosen.getAsJsonPrimitive().isBoolean()) {
                throw new QuantizationException(
                        where
                                + " needs numbers 'order', 'predictedMs', 'measuredMs' and a"
                                + " boolean 'chosen', was "
                                + o);
            }
            out.add(
                    new VerifiedLatency(
                            (int) order.getAsDouble(),
                            text(o, "note", where),
                            predicted.getAsDouble(),
                            measured.getAsDouble(),
                            chosen.getAsBoolean()));
        }
        return out;
    }

    private static void checkFinite(String name, OptionalDouble v) {
        if (v == null) {
            throw new IllegalArgumentException(
                    name + " must not be null, use OptionalDouble.empty()");
        }
        if (v.isPresent() && !Double.isFinite(v.getAsDouble())) {
            throw new IllegalArgumentException(
                    name + " was " + v.getAsDouble() + ", must be a finite number");
        }
    }

    private static void checkFields(JsonObject o, Set<String> allowed, String where)
            throws QuantizationException {
        for (String key : o.keySet()) {
            if (!allowed.contains(key)) {
                throw new QuantizationException(
                        where
                                + " has unknown field '"
                                + key
                                + "', allowed fields are "
                                + allowed.stream().sorted().collect(Collectors.toList()));
            }
        }
    }

    private static String text(JsonObject o, String field, String where)
            throws QuantizationException {
        JsonElement e = o.get(field);
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new QuantizationException(where + " needs a text field '" + field + "'");
        }
        return e.getAsString();
    }

    private static OptionalDouble number(JsonObject o, String field) throws QuantizationException {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            return OptionalDouble.empty();
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new QuantizationException(
                    "policy field '" + field + "' was " + e + ", must be a number");
        }
        return OptionalDouble.of(e.getAsDouble());
    }

    private static <E extends Enum<E>> E parseEnum(Class<E> type, String value, String what)
            throws QuantizationException {
        for (E c : type.getEnumConstants()) {
            if (c.name().equalsIgnoreCase(value.trim())) {
                return c;
            }
        }
        throw new QuantizationException(
                what
                        + " was '"
                        + value
                        + "', must be one of "
                        + Arrays.toString(type.getEnumConstants()));
    }
}
