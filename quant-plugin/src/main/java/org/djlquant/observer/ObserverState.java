package org.djlquant.observer;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The saved state of an observer: its kind (e.g. {@code "MinMaxObserver"}) and named float arrays.
 * Immutable: arrays are copied in and out; {@code equals}, {@code hashCode} and {@code toString}
 * use the contents. Serialises to and from JSON ({@link #toJson()}, {@link #fromJson(String)}).
 *
 * @param kind the observer kind that wrote the state
 * @param values named arrays (sorted by name)
 */
public record ObserverState(String kind, Map<String, float[]> values) {

    private static final Gson GSON = new GsonBuilder().create();

    /**
     * Validates and deep-copies the fields.
     *
     * @param kind the observer kind
     * @param values named arrays
     * @throws IllegalArgumentException if kind is null or empty or values is null
     */
    public ObserverState {
        if (kind == null || kind.isEmpty()) {
            throw new IllegalArgumentException("kind was '" + kind + "', must be non-empty");
        }
        if (values == null) {
            throw new IllegalArgumentException("values must be non-null");
        }
        TreeMap<String, float[]> copy = new TreeMap<>();
        for (Map.Entry<String, float[]> e : values.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new IllegalArgumentException("values must not hold null names or arrays");
            }
            copy.put(e.getKey(), e.getValue().clone());
        }
        values = Collections.unmodifiableMap(copy);
    }

    /**
     * Returns a deep copy of the values.
     *
     * @return the named arrays (a new sorted map with new arrays)
     */
    @Override
    public Map<String, float[]> values() {
        TreeMap<String, float[]> copy = new TreeMap<>();
        values.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    /**
     * Returns a copy of one named array.
     *
     * @param name the name
     * @return the array, or null if absent
     */
    public float[] get(String name) {
        float[] v = values.get(name);
        return v == null ? null : v.clone();
    }

    /**
     * Writes the state as JSON: {@code {"kind": "...", "values": {"name": [..], ...}}}.
     *
     * @return the JSON text
     */
    public String toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("kind", kind);
        JsonObject v = new JsonObject();
        values.forEach((k, a) -> v.add(k, GSON.toJsonTree(a)));
        o.add("values", v);
        return GSON.toJson(o);
    }

    /**
     * Reads a state written by {@link #toJson()}.
     *
     * @param json the JSON text
     * @return the state
     * @throws IllegalArgumentException if the text is not such a state
     */
    public static ObserverState fromJson(String json) {
        try {
            JsonObject o = GSON.fromJson(json, JsonObject.class);
            if (o == null || !o.has("kind") || !o.has("values")) {
                throw new IllegalArgumentException(
                        "observer state JSON must have 'kind' and 'values', was: " + abbrev(json));
            }
            TreeMap<String, float[]> values = new TreeMap<>();
            for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("values").entrySet()) {
                values.put(e.getKey(), GSON.fromJson(e.getValue(), float[].class));
            }
            return new ObserverState(o.get("kind").getAsString(), values);
        } catch (JsonParseException | IllegalStateException | ClassCastException e) {
            throw new IllegalArgumentException(
                    "observer state JSON could not be read: " + abbrev(json), e);
        }
    }

    private static String abbrev(String s) {
        return s == null ? "null" : s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof ObserverState)) {
            return false;
        }
        ObserverState other = (ObserverState) o;
        if (!kind.equals(other.kind) || !values.keySet().equals(other.values.keySet())) {
            return false;
        }
        for (Map.Entry<String, float[]> e : values.entrySet()) {
            if (!Arrays.equals(e.getValue(), other.values.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = kind.hashCode();
        for (Map.Entry<String, float[]> e : values.entrySet()) {
            h = 31 * h + e.getKey().hashCode();
            h = 31 * h + Arrays.hashCode(e.getValue());
        }
        return h;
    }

    @Override
    public String toString() {
        StringBuilder sb =
                new StringBuilder("ObserverState[kind=").append(kind).append(", values={");
        boolean first = true;
        for (Map.Entry<String, float[]> e : values.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            float[] v = e.getValue();
            sb.append(e.getKey()).append('=');
            if (v.length <= 8) {
                sb.append(Arrays.toString(v));
            } else {
                sb.append("float[").append(v.length).append(']');
            }
        }
        return sb.append("}]").toString();
    }
}
