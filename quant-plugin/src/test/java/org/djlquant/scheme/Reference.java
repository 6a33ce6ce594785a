package org.djlquant.scheme;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Loads the PyTorch reference values written by {@code scripts/reference/make_scheme_references.py}
 * (committed JSON, no Python at test time).
 */
public final class Reference {

    private static JsonObject doc;

    private Reference() {}

    /**
     * Returns the parsed reference document.
     *
     * @return the root object
     */
    public static synchronized JsonObject doc() {
        if (doc == null) {
            try (InputStream in =
                            Reference.class.getResourceAsStream(
                                    "/reference/scheme_references.json");
                    Reader r = new InputStreamReader(in, StandardCharsets.UTF_8)) {
                doc = JsonParser.parseReader(r).getAsJsonObject();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return doc;
    }

    /**
     * Reads a JSON array of numbers as float32 values (exact: the JSON holds float32 decimals).
     *
     * @param a the array
     * @return the values
     */
    public static float[] floats(JsonArray a) {
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = (float) a.get(i).getAsDouble();
        }
        return r;
    }

    /**
     * Reads a JSON array of integers.
     *
     * @param a the array
     * @return the values
     */
    public static long[] longs(JsonArray a) {
        long[] r = new long[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).getAsLong();
        }
        return r;
    }

    /**
     * Returns the input batches of a named data set.
     *
     * @param name the data set name
     * @return the batches, each row-major over {@link #shape(String)}
     */
    public static float[][] batches(String name) {
        JsonArray b =
                doc().getAsJsonObject("inputs").getAsJsonObject(name).getAsJsonArray("batches");
        float[][] r = new float[b.size()][];
        for (int i = 0; i < r.length; i++) {
            r[i] = floats(b.get(i).getAsJsonArray());
        }
        return r;
    }

    /**
     * Returns the shape of a named data set's batches.
     *
     * @param name the data set name
     * @return the shape
     */
    public static long[] shape(String name) {
        return longs(doc().getAsJsonObject("inputs").getAsJsonObject(name).getAsJsonArray("shape"));
    }

    /**
     * Returns the probe tensor used for fake-quant outputs: the last batch with element 0 set to
     * {@code 2 min - 1}, element 1 to {@code 2 max + 1}, element 2 to 0 (as the script does).
     *
     * @param name the data set name
     * @return the probe
     */
    public static float[] probe(String name) {
        float[][] b = batches(name);
        float[] p = b[b.length - 1].clone();
        float mn = Float.POSITIVE_INFINITY;
        float mx = Float.NEGATIVE_INFINITY;
        for (float v : p) {
            mn = Math.min(mn, v);
            mx = Math.max(mx, v);
        }
        // python: float(last.min()) * 2.0 - 1.0 in double, stored into a float32 tensor
        p[0] = (float) ((double) mn * 2.0 - 1.0);
        p[1] = (float) ((double) mx * 2.0 + 1.0);
        p[2] = 0f;
        return p;
    }

    /**
     * Returns a JSON member as a string, or null if it is JSON null / absent.
     *
     * @param o the object
     * @param k the key
     * @return the string
     */
    public static String str(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }
}
