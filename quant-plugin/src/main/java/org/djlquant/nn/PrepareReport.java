package org.djlquant.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import org.djlquant.config.QConfig;

/**
 * What {@link Preparer#prepare} did to every block of the tree: wrapped (with which config and
 * which rule), left float (and why), walked into (containers), or opaque (a {@code LambdaBlock},
 * whose operations cannot be seen). Also the warnings (e.g. a path pattern that matched nothing)
 * and the twins that were put in place. Immutable once returned.
 */
public final class PrepareReport {

    /** What happened to a block. */
    public enum Status {
        /** Replaced or rewired by a twin. */
        WRAPPED,
        /** Left as it is, computing in float. */
        FLOAT,
        /** A container; its children are listed separately. */
        CONTAINER,
        /** A block whose inside cannot be seen (LambdaBlock); stays float. */
        OPAQUE
    }

    /**
     * One block.
     *
     * @param path the raw path (DJL child names)
     * @param cleanPath the clean path
     * @param blockClass the original block's simple class name
     * @param status what happened
     * @param config the config it was wrapped with, or null
     * @param reason which rule decided, or why it stays float
     */
    public record Entry(
            String path,
            String cleanPath,
            String blockClass,
            Status status,
            QConfig config,
            String reason) {}

    private final List<Entry> entries;
    private final List<String> warnings;
    private final List<QuantTwin> twins;

    PrepareReport(List<Entry> entries, List<String> warnings, List<QuantTwin> twins) {
        this.entries = Collections.unmodifiableList(new ArrayList<>(entries));
        this.warnings = Collections.unmodifiableList(new ArrayList<>(warnings));
        this.twins = Collections.unmodifiableList(new ArrayList<>(twins));
    }

    /**
     * Returns every block, in tree order.
     *
     * @return the entries
     */
    public List<Entry> entries() {
        return entries;
    }

    /**
     * Returns the warnings.
     *
     * @return the warnings
     */
    public List<String> warnings() {
        return warnings;
    }

    /**
     * Returns the twins put in place, in tree order.
     *
     * @return the twins
     */
    public List<QuantTwin> twins() {
        return twins;
    }

    /**
     * Finds an entry by raw or clean path.
     *
     * @param path the path
     * @return the entry
     * @throws IllegalArgumentException listing the known paths if there is none
     */
    public Entry entry(String path) {
        for (Entry e : entries) {
            if (e.path().equals(path) || e.cleanPath().equals(path)) {
                return e;
            }
        }
        List<String> known = new ArrayList<>();
        entries.forEach(e -> known.add(e.cleanPath()));
        throw new IllegalArgumentException("path " + path + " not in the report; known: " + known);
    }

    /**
     * Finds a twin by raw or clean path.
     *
     * @param path the path
     * @return the twin
     * @throws IllegalArgumentException if no twin sits at that path
     */
    public QuantTwin twin(String path) {
        Entry e = entry(path);
        for (QuantTwin t : twins) {
            if (t.path().equals(e.path())) {
                return t;
            }
        }
        throw new IllegalArgumentException(
                "block " + path + " was not wrapped (" + e.status() + ": " + e.reason() + ")");
    }

    /**
     * Counts entries with a status.
     *
     * @param status the status
     * @return the count
     */
    public long count(Status status) {
        return entries.stream().filter(e -> e.status() == status).count();
    }

    /**
     * Renders the report as a text table.
     *
     * @return one line per block, then the warnings
     */
    public String toTable() {
        int w = 4;
        for (Entry e : entries) {
            w = Math.max(w, e.cleanPath().length());
        }
        StringBuilder sb = new StringBuilder();
        String fmt = "%-" + w + "s  %-30s  %-9s  %-11s  %s%n";
        sb.append(String.format(Locale.ROOT, fmt, "path", "block", "status", "mode", "reason"));
        for (Entry e : entries) {
            sb.append(
                    String.format(
                            Locale.ROOT,
                            fmt,
                            e.cleanPath(),
                            e.blockClass(),
                            e.status(),
                            e.config() == null ? "-" : e.config().mode(),
                            e.reason()));
        }
        for (String warning : warnings) {
            sb.append("WARNING: ").append(warning).append(System.lineSeparator());
        }
        return sb.toString();
    }

    /**
     * Renders the report as JSON: {@code {"entries":[{"path","cleanPath","block","status","mode",
     * "reason"}...],"warnings":[...]}}.
     *
     * @return the JSON text
     */
    public String toJson() {
        com.google.gson.JsonObject root = new com.google.gson.JsonObject();
        com.google.gson.JsonArray arr = new com.google.gson.JsonArray();
        for (Entry e : entries) {
            com.google.gson.JsonObject o = new com.google.gson.JsonObject();
            o.addProperty("path", e.path());
            o.addProperty("cleanPath", e.cleanPath());
            o.addProperty("block", e.blockClass());
            o.addProperty("status", e.status().name());
            o.addProperty("mode", e.config() == null ? null : e.config().mode().name());
            o.addProperty("reason", e.reason());
            arr.add(o);
        }
        root.add("entries", arr);
        com.google.gson.JsonArray w = new com.google.gson.JsonArray();
        warnings.forEach(w::add);
        root.add("warnings", w);
        return new com.google.gson.GsonBuilder().setPrettyPrinting().create().toJson(root);
    }

    /** {@inheritDoc} */
    @Override
    public String toString() {
        return toTable();
    }
}
