package org.djlquant.policy;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.function.DoubleSupplier;
import org.djlquant.QuantizationException;

/**
 * Measured layer costs stored in a JSON file per {@link CostCacheKey} (machine, backend, threads,
 * workload), so that each layer kind is measured once per machine.
 *
 * <p>Entries are keyed by the layer's role, block class, parameter count and precision. The role is
 * the block path with every all-digit segment replaced by {@code #} ({@code encoder.3.ffn.in}
 * becomes {@code encoder.#.ffn.in}), so the repeated encoder layers of MiniLM share one measurement
 * while layers of equal size but different shape ({@code ffn.in} 384→1536 and {@code ffn.out}
 * 1536→384) do not. Thread-safe: all methods synchronise on the cache. File format:
 *
 * <pre>{@code
 * {"format": "djl-quant-cost-cache/1", "machineId": "...", "backend": "...", "threads": 2,
 *  "workload": "batch=32,seq=128", "referenceMs": 1.84,
 *  "entries": [{"role": "encoder.#.ffn.in", "blockClass": "Linear", "params": 589824,
 *               "precision": "INT8_DYNAMIC", "latencyMs": 0.42, "bytes": 599040}],
 *  "wholeModel": [{"assignment": "uniform BF16", "latencyMs": 180.5}],
 *  "roundTrips": [{"role": "encoder.#.ffn.in", "blockClass": "Linear", "params": 589824,
 *                  "family": "BFLOAT16", "latencyMs": 0.05}]}
 * }</pre>
 *
 * <p>{@code roundTrips} (optional) holds {@link CostModel#roundTripMs} by layer role and family.
 *
 * <p>{@code wholeModel} (optional, absent in files written before it existed) holds whole-model
 * latencies by a caller-chosen assignment name, the input of {@link LatencyCalibration}; the
 * workload of the key then names the timed input.
 *
 * <h2>Staleness</h2>
 *
 * <p>A machine's speed drifts between days (a shared VM slowed down by neighbours made cached costs
 * optimistic: measured / predicted 0.58-0.80). {@code referenceMs} (optional) is the latency of a
 * fixed reference workload (for example {@code TorchCostModel#referenceGemmMs}, an FP32 GEMM) timed
 * when the file was first written. {@link #open(Path, CostCacheKey, DoubleSupplier, double)}
 * re-times the reference and compares: with {@code ratio = now / stored}, if {@code |ratio − 1| >
 * tolerance} every cached latency (layer costs, whole-model latencies and round trips) is
 * <b>multiplied by the ratio</b> and the reference becomes the one timed now; otherwise the cache
 * is used as stored. Rescaling, not invalidation, was chosen because it keeps the cache's promise
 * (each layer measured once per machine) and the whole-model calibration ({@link
 * LatencyCalibration}) stays consistent with the layer costs, as both are scaled alike; it assumes
 * the slowdown affects every kernel alike, which an FP32 GEMM reference can only approximate, so a
 * caller that wants exact numbers deletes the file. The outcome is {@link #referenceCheck()}. Files
 * written without a reference (before it existed, or opened without a reference timer) are used as
 * stored and get the reference timed now on the next {@link #save()}.
 */
public final class CostCache {

    /** The value of the {@code format} field this version reads and writes. */
    public static final String FORMAT = "djl-quant-cost-cache/1";

    /**
     * The default tolerance of the staleness check: 0.35, a 35 % change of the reference. This VM's
     * speed moves on its own: the reference's fastest of 21 runs was 2.00-2.79 ms over 8 repeats 2
     * s apart on an otherwise idle 2-core VM (ratios up to 1.39), so a tighter tolerance rescales
     * on noise; the day-to-day slowdowns seen were 1.25-1.7x. Measured verification ({@link
     * Verification}) is what keeps the final choice right either way.
     */
    public static final double DEFAULT_TOLERANCE = 0.35;

    /**
     * What {@link #open(Path, CostCacheKey, DoubleSupplier, double)} found when it re-timed the
     * reference workload.
     *
     * @param storedMs the reference stored in the file; empty for a new file or one written without
     *     a reference
     * @param currentMs the reference timed at opening, in ms
     * @param tolerance the largest {@code |ratio − 1|} used without rescaling
     * @param outcome what was done
     */
    public record ReferenceCheck(
            OptionalDouble storedMs, double currentMs, double tolerance, Outcome outcome) {

        /** What the staleness check did with the cached latencies. */
        public enum Outcome {
            /** No reference was stored (new file or an older one): nothing could be compared. */
            NO_REFERENCE,
            /** The ratio was within the tolerance: latencies used as stored. */
            WITHIN_TOLERANCE,
            /** The ratio was beyond the tolerance: every cached latency multiplied by it. */
            RESCALED
        }

        /**
         * Returns {@code currentMs / storedMs}.
         *
         * @return the ratio, or empty without a stored reference
         */
        public OptionalDouble ratio() {
            return storedMs.isPresent()
                    ? OptionalDouble.of(currentMs / storedMs.getAsDouble())
                    : OptionalDouble.empty();
        }
    }

    private final Path file;
    private final CostCacheKey key;
    private final Map<EntryKey, LayerCost> entries = new LinkedHashMap<>();
    private final Map<String, Double> wholeModel = new LinkedHashMap<>();

    private final Map<RoundTripKey, Double> roundTrips = new LinkedHashMap<>();
    private Double referenceMs;
    private ReferenceCheck referenceCheck;

    private record EntryKey(String role, String blockClass, long params, Precision precision) {}

    private record RoundTripKey(
            String role, String blockClass, long params, PrecisionFamily family) {}

    private CostCache(Path file, CostCacheKey key) {
        this.file = file;
        this.key = key;
    }

    /**
     * Opens the cache file for a key in a directory, reading it if it exists.
     *
     * @param directory the directory holding cache files
     * @param key the measurement conditions
     * @return the cache
     * @throws QuantizationException if the file exists but cannot be read, is malformed, or was
     *     written for another key
     */
    public static CostCache open(Path directory, CostCacheKey key) throws QuantizationException {
        Path file = directory.resolve(key.fileName());
        CostCache cache = new CostCache(file, key);
        if (Files.exists(file)) {
            cache.read();
        }
        return cache;
    }

    /**
     * Opens the cache file for a key with the {@link #DEFAULT_TOLERANCE} staleness check.
     *
     * @param directory the directory holding cache files
     * @param key the measurement conditions
     * @param reference times the reference workload once, in ms (see the class comment)
     * @return the cache, its latencies rescaled if the reference moved beyond the tolerance
     * @throws QuantizationException as {@link #open(Path, CostCacheKey)}
     * @throws IllegalArgumentException if the reference time is not finite and {@code > 0}
     */
    public static CostCache open(Path directory, CostCacheKey key, DoubleSupplier reference)
            throws QuantizationException {
        return open(directory, key, reference, DEFAULT_TOLERANCE);
    }

    /**
     * Opens the cache file for a key, re-times the reference workload and, if {@code |now / stored
     * − 1| > tolerance}, multiplies every cached latency by {@code now / stored} (see the class
     * comment); {@link #referenceCheck()} tells what was found.
     *
     * @param directory the directory holding cache files
     * @param key the measurement conditions
     * @param reference times the reference workload once, in ms; called exactly once
     * @param tolerance the largest relative change used without rescaling, finite and at least 0
     * @return the cache
     * @throws QuantizationException as {@link #open(Path, CostCacheKey)}
     * @throws IllegalArgumentException naming the value if the tolerance is negative or not finite,
     *     or the reference time is not finite and {@code > 0}
     */
    public static CostCache open(
            Path directory, CostCacheKey key, DoubleSupplier reference, double tolerance)
            throws QuantizationException {
        Objects.requireNonNull(reference, "reference");
        if (!Double.isFinite(tolerance) || tolerance < 0) {
            throw new IllegalArgumentException(
                    "tolerance was " + tolerance + ", must be finite and at least 0");
        }
        CostCache cache = open(directory, key);
        double now = reference.getAsDouble();
        if (!Double.isFinite(now) || now <= 0) {
            throw new IllegalArgumentException(
                    "reference time was " + now + " ms, must be finite and > 0");
        }
        synchronized (cache) {
            Double stored = cache.referenceMs;
            ReferenceCheck.Outcome outcome;
            if (stored == null) {
                outcome = ReferenceCheck.Outcome.NO_REFERENCE;
                cache.referenceMs = now;
            } else if (Math.abs(now / stored - 1) > tolerance) {
                outcome = ReferenceCheck.Outcome.RESCALED;
                cache.rescale(now / stored);
                cache.referenceMs = now;
            } else {
                outcome = ReferenceCheck.Outcome.WITHIN_TOLERANCE;
            }
            cache.referenceCheck =
                    new ReferenceCheck(
                            stored == null ? OptionalDouble.empty() : OptionalDouble.of(stored),
                            now,
                            tolerance,
                            outcome);
        }
        return cache;
    }

    private void rescale(double ratio) {
        entries.replaceAll((k, v) -> new LayerCost(v.latencyMs() * ratio, v.bytes()));
        wholeModel.replaceAll((k, v) -> v * ratio);
        roundTrips.replaceAll((k, v) -> v * ratio);
    }

    /**
     * Returns what the staleness check found at opening.
     *
     * @return the check, or empty if the cache was opened without a reference timer
     */
    public synchronized Optional<ReferenceCheck> referenceCheck() {
        return Optional.ofNullable(referenceCheck);
    }

    /**
     * Returns the reference latency the cached latencies are expressed against (written by {@link
     * #save()}).
     *
     * @return the reference in ms, or empty if none was stored or timed
     */
    public synchronized OptionalDouble referenceMs() {
        return referenceMs == null ? OptionalDouble.empty() : OptionalDouble.of(referenceMs);
    }

    /**
     * Returns the file this cache reads and writes.
     *
     * @return the path
     */
    public Path file() {
        return file;
    }

    /**
     * Returns the measurement conditions.
     *
     * @return the key
     */
    public CostCacheKey key() {
        return key;
    }

    /**
     * Looks up a cost.
     *
     * @param layer the layer (its class and parameter count are the key)
     * @param precision the precision
     * @return the cached cost, or empty
     */
    public synchronized Optional<LayerCost> get(LayerInfo layer, Precision precision) {
        return Optional.ofNullable(entries.get(entryKey(layer, precision)));
    }

    /**
     * Stores a cost in memory; {@link #save()} writes the file.
     *
     * @param layer the layer
     * @param precision the precision
     * @param cost the cost
     */
    public synchronized void put(LayerInfo layer, Precision precision, LayerCost cost) {
        entries.put(entryKey(layer, precision), cost);
    }

    /**
     * Looks up a whole-model latency.
     *
     * @param assignment the assignment's name, for example {@code "uniform BF16"}
     * @return the cached latency in ms, or empty
     */
    public synchronized Optional<Double> getWholeModel(String assignment) {
        return Optional.ofNullable(wholeModel.get(assignment));
    }

    /**
     * Stores a whole-model latency in memory; {@link #save()} writes the file.
     *
     * @param assignment the assignment's name, not blank
     * @param latencyMs the latency in ms, finite and {@code > 0}
     * @throws IllegalArgumentException naming the value if the name is blank or the latency is not
     *     finite and positive
     */
    public synchronized void putWholeModel(String assignment, double latencyMs) {
        if (assignment == null || assignment.isBlank()) {
            throw new IllegalArgumentException(
                    "assignment name was '" + assignment + "', must not be blank");
        }
        if (!Double.isFinite(latencyMs) || latencyMs <= 0) {
            throw new IllegalArgumentException(
                    "whole-model latency of "
                            + assignment
                            + " was "
                            + latencyMs
                            + ", must be finite and > 0");
        }
        wholeModel.put(assignment, latencyMs);
    }

    /**
     * Looks up a round trip ({@link CostModel#roundTripMs}).
     *
     * @param layer the layer (its role, class and parameter count are the key)
     * @param family the family
     * @return the cached latency in ms, or empty
     */
    public synchronized OptionalDouble getRoundTrip(LayerInfo layer, PrecisionFamily family) {
        Double v = roundTrips.get(roundTripKey(layer, family));
        return v == null ? OptionalDouble.empty() : OptionalDouble.of(v);
    }

    /**
     * Stores a round trip in memory; {@link #save()} writes the file.
     *
     * @param layer the layer
     * @param family the family
     * @param ms the latency in ms, finite and at least 0
     * @throws IllegalArgumentException naming the layer and value if it is not finite or negative
     */
    public synchronized void putRoundTrip(LayerInfo layer, PrecisionFamily family, double ms) {
        if (!Double.isFinite(ms) || ms < 0) {
            throw new IllegalArgumentException(
                    family
                            + " round trip of layer "
                            + layer.path()
                            + " was "
                            + ms
                            + " ms, must be finite and at least 0");
        }
        roundTrips.put(roundTripKey(layer, family), ms);
    }

    /**
     * Returns the number of cached costs.
     *
     * @return the count
     */
    public synchronized int size() {
        return entries.size();
    }

    /**
     * Wraps a cost model: cached costs are returned, others measured by {@code measured} and
     * stored.
     *
     * @param measured the model that really measures
     * @return the caching model
     */
    public CostModel caching(CostModel measured) {
        return new CostModel() {
            @Override
            public LayerCost measure(LayerInfo layer, Precision precision)
                    throws QuantizationException {
                Optional<LayerCost> hit = get(layer, precision);
                if (hit.isPresent()) {
                    return hit.get();
                }
                LayerCost cost = measured.measure(layer, precision);
                put(layer, precision, cost);
                return cost;
            }

            @Override
            public OptionalDouble roundTripMs(LayerInfo layer, PrecisionFamily family)
                    throws QuantizationException {
                OptionalDouble hit = getRoundTrip(layer, family);
                if (hit.isPresent()) {
                    return hit;
                }
                OptionalDouble ms = measured.roundTripMs(layer, family);
                if (ms.isPresent()) {
                    putRoundTrip(layer, family, ms.getAsDouble());
                }
                return ms;
            }
        };
    }

    /**
     * Writes the cache file (to a temporary file, then moved into place).
     *
     * @throws QuantizationException if the file cannot be written
     */
    public synchronized void save() throws QuantizationException {
        JsonObject root = new JsonObject();
        root.addProperty("format", FORMAT);
        root.addProperty("machineId", key.machineId());
        root.addProperty("backend", key.backend());
        root.addProperty("threads", key.threads());
        root.addProperty("workload", key.workload());
        if (referenceMs != null) {
            root.addProperty("referenceMs", referenceMs);
        }
        JsonArray list = new JsonArray();
        for (Map.Entry<EntryKey, LayerCost> e : entries.entrySet()) {
            JsonObject o = new JsonObject();
            o.addProperty("role", e.getKey().role());
            o.addProperty("blockClass", e.getKey().blockClass());
            o.addProperty("params", e.getKey().params());
            o.addProperty("precision", e.getKey().precision().name());
            o.addProperty("latencyMs", e.getValue().latencyMs());
            o.addProperty("bytes", e.getValue().bytes());
            list.add(o);
        }
        root.add("entries", list);
        if (!wholeModel.isEmpty()) {
            JsonArray whole = new JsonArray();
            wholeModel.forEach(
                    (k, v) -> {
                        JsonObject o = new JsonObject();
                        o.addProperty("assignment", k);
                        o.addProperty("latencyMs", v);
                        whole.add(o);
                    });
            root.add("wholeModel", whole);
        }
        if (!roundTrips.isEmpty()) {
            JsonArray rt = new JsonArray();
            roundTrips.forEach(
                    (k, v) -> {
                        JsonObject o = new JsonObject();
                        o.addProperty("role", k.role());
                        o.addProperty("blockClass", k.blockClass());
                        o.addProperty("params", k.params());
                        o.addProperty("family", k.family().name());
                        o.addProperty("latencyMs", v);
                        rt.add(o);
                    });
            root.add("roundTrips", rt);
        }
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        try {
            Path dir = file.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            Files.writeString(tmp, gson.toJson(root) + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(
                        tmp,
                        file,
                        StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new QuantizationException("cannot write cost cache " + file, e);
        }
    }

    private void read() throws QuantizationException {
        try {
            JsonObject root =
                    JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8))
                            .getAsJsonObject();
            String format = text(root, "format");
            if (!FORMAT.equals(format)) {
                throw new QuantizationException(
                        "cost cache " + file + " has format '" + format + "', expected " + FORMAT);
            }
            CostCacheKey stored =
                    new CostCacheKey(
                            text(root, "machineId"),
                            text(root, "backend"),
                            root.get("threads").getAsInt(),
                            text(root, "workload"));
            if (!stored.equals(key)) {
                throw new QuantizationException(
                        "cost cache " + file + " was measured for " + stored + ", not " + key);
            }
            for (JsonElement el : root.getAsJsonArray("entries")) {
                JsonObject o = el.getAsJsonObject();
                Precision p;
                try {
                    p = Precision.parse(text(o, "precision"));
                } catch (IllegalArgumentException e) {
                    throw new QuantizationException(
                            "cost cache " + file + ": " + e.getMessage(), e);
                }
                entries.put(
                        new EntryKey(
                                text(o, "role"),
                                text(o, "blockClass"),
                                o.get("params").getAsLong(),
                                p),
                        new LayerCost(
                                o.get("latencyMs").getAsDouble(), o.get("bytes").getAsLong()));
            }
            if (root.has("referenceMs")) {
                double ms = root.get("referenceMs").getAsDouble();
                if (!Double.isFinite(ms) || ms <= 0) {
                    throw new IllegalArgumentException(
                            "referenceMs was " + ms + ", must be finite and > 0");
                }
                referenceMs = ms;
            }
            if (root.has("wholeModel")) {
                for (JsonElement el : root.getAsJsonArray("wholeModel")) {
                    JsonObject o = el.getAsJsonObject();
                    putWholeModel(text(o, "assignment"), o.get("latencyMs").getAsDouble());
                }
            }
            if (root.has("roundTrips")) {
                for (JsonElement el : root.getAsJsonArray("roundTrips")) {
                    JsonObject o = el.getAsJsonObject();
                    double ms = o.get("latencyMs").getAsDouble();
                    if (!Double.isFinite(ms) || ms < 0) {
                        throw new IllegalArgumentException(
                                "round trip latency was " + ms + ", must be finite and >= 0");
                    }
                    roundTrips.put(
                            new RoundTripKey(
                                    text(o, "role"),
                                    text(o, "blockClass"),
                                    o.get("params").getAsLong(),
                                    PrecisionFamily.valueOf(text(o, "family"))),
                            ms);
                }
            }
        } catch (IOException e) {
            throw new QuantizationException("cannot read cost cache " + file, e);
        } catch (JsonParseException
                | IllegalStateException
                | UnsupportedOperationException
                | NullPointerException
                | IllegalArgumentException e) {
            throw new QuantizationException(
                    "cost cache "
                            + file
                            + " is malformed ("
                            + e.getMessage()
                            + "); delete it to re-measure",
                    e);
        }
    }

    private static String text(JsonObject o, String field) {
        JsonElement e = o.get(field);
        if (e == null || !e.isJsonPrimitive()) {
            throw new IllegalStateException("missing text field '" + field + "'");
        }
        return e.getAsString();
    }

    /**
     * Returns a layer's role: its path with every all-digit segment replaced by {@code #}.
     *
     * @param path the block path
     * @return the role, for example {@code encoder.#.ffn.in}
     */
    public static String role(String path) {
        return path.replaceAll("(^|\\.)\\d+(?=\\.|$)", "$1#");
    }

    private static RoundTripKey roundTripKey(LayerInfo layer, PrecisionFamily family) {
        return new RoundTripKey(role(layer.path()), layer.blockClass(), layer.params(), family);
    }

    private static EntryKey entryKey(LayerInfo layer, Precision precision) {
        return new EntryKey(role(layer.path()), layer.blockClass(), layer.params(), precision);
    }
}
