package org.djlquant.examples.notebook;

import com.google.gson.FormattingStyle;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import org.djlquant.QuantizationException;

/**
 * A Jupyter notebook (nbformat 4) as JSON: its cells, their sources and outputs. Written back with
 * one-space indentation and sources split into lines, as Jupyter itself writes, so that a re-render
 * gives small diffs. Immutable: {@link NotebookRunner} returns a new notebook with outputs.
 */
public final class Notebook {

    private static final Gson GSON =
            new GsonBuilder()
                    .setFormattingStyle(FormattingStyle.PRETTY.withIndent(" "))
                    .disableHtmlEscaping()
                    .create();

    private final JsonObject json;

    private Notebook(JsonObject json) {
        this.json = json;
    }

    /**
     * Reads a {@code .ipynb} file.
     *
     * @param file the file
     * @return the notebook
     * @throws QuantizationException if the file cannot be read or is not an nbformat 4 notebook
     */
    public static Notebook read(Path file) throws QuantizationException {
        try {
            return parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new QuantizationException("cannot read notebook " + file, e);
        } catch (IllegalArgumentException e) {
            throw new QuantizationException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses notebook JSON.
     *
     * @param text the JSON text
     * @return the notebook
     * @throws IllegalArgumentException if the text is not an nbformat 4 notebook with a cells array
     */
    public static Notebook parse(String text) {
        JsonElement root;
        try {
            root = JsonParser.parseString(text);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("not JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonObject()
                || !root.getAsJsonObject().has("cells")
                || !root.getAsJsonObject().get("cells").isJsonArray()) {
            throw new IllegalArgumentException(
                    "not a notebook: expected an object with a cells array");
        }
        JsonObject o = root.getAsJsonObject();
        JsonElement format = o.get("nbformat");
        if (format != null && format.getAsInt() != 4) {
            throw new IllegalArgumentException(
                    "nbformat was " + format + ", only nbformat 4 is supported");
        }
        for (JsonElement c : o.getAsJsonArray("cells")) {
            if (!c.isJsonObject() || !c.getAsJsonObject().has("cell_type")) {
                throw new IllegalArgumentException("every cell must be an object with cell_type");
            }
        }
        return new Notebook(o);
    }

    /**
     * Returns the number of cells (markdown, code and raw).
     *
     * @return the cell count
     */
    public int cellCount() {
        return cells().size();
    }

    /**
     * Returns a cell's type: {@code code}, {@code markdown} or {@code raw}.
     *
     * @param index the 0-based cell index
     * @return the type
     */
    public String cellType(int index) {
        return cell(index).get("cell_type").getAsString();
    }

    /**
     * Returns a cell's {@code id} (nbformat 4.5: unique within the notebook, kept by {@link
     * #withOutputs} and {@link #write}).
     *
     * @param index the 0-based cell index
     * @return the id, or {@code null} for a cell without one (nbformat before 4.5)
     */
    public String cellId(int index) {
        JsonElement id = cell(index).get("id");
        return id == null || id.isJsonNull() ? null : id.getAsString();
    }

    /**
     * Returns a cell's source as one string (nbformat allows a string or a list of lines).
     *
     * @param index the 0-based cell index
     * @return the source
     */
    public String source(int index) {
        return joined(cell(index).get("source"));
    }

    /**
     * Returns a copy of a code cell's outputs (empty for other cells).
     *
     * @param index the 0-based cell index
     * @return the outputs in nbformat form
     */
    public JsonArray outputs(int index) {
        JsonElement out = cell(index).get("outputs");
        return out == null ? new JsonArray() : out.getAsJsonArray().deepCopy();
    }

    /**
     * Returns a code cell's execution count, or {@code null} if it has none.
     *
     * @param index the 0-based cell index
     * @return the execution count
     */
    public Integer executionCount(int index) {
        JsonElement c = cell(index).get("execution_count");
        return c == null || c.isJsonNull() ? null : c.getAsInt();
    }

    /**
     * Returns a copy of this notebook in which a code cell has the given outputs and count.
     *
     * @param index the 0-based cell index
     * @param outputs the outputs in nbformat form
     * @param executionCount the execution count
     * @return the new notebook
     * @throws IllegalArgumentException if the cell is not a code cell
     */
    public Notebook withOutputs(int index, JsonArray outputs, int executionCount) {
        if (!"code".equals(cellType(index))) {
            throw new IllegalArgumentException(
                    "cell " + index + " is a " + cellType(index) + " cell, must be a code cell");
        }
        JsonObject copy = json.deepCopy();
        JsonObject cell = copy.getAsJsonArray("cells").get(index).getAsJsonObject();
        cell.add("execution_count", new JsonPrimitive(executionCount));
        cell.add("outputs", outputs.deepCopy());
        return new Notebook(copy);
    }

    /**
     * Renders the notebook as nbformat JSON, sources as lists of lines.
     *
     * @return the JSON text, ending with a newline
     */
    public String toJson() {
        JsonObject copy = json.deepCopy();
        for (JsonElement c : copy.getAsJsonArray("cells")) {
            JsonObject cell = c.getAsJsonObject();
            cell.add("source", lines(joined(cell.get("source"))));
        }
        return GSON.toJson(copy) + "\n";
    }

    /**
     * Writes the notebook.
     *
     * @param file the target file
     * @throws QuantizationException if it cannot be written
     */
    public void write(Path file) throws QuantizationException {
        try {
            Files.writeString(file, toJson(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new QuantizationException("cannot write notebook " + file, e);
        }
    }

    /**
     * Splits text into nbformat's multiline form: lines keeping their newline.
     *
     * @param text the text
     * @return the lines
     */
    static JsonArray lines(String text) {
        JsonArray arr = new JsonArray();
        int start = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            int end = nl < 0 ? text.length() : nl + 1;
            arr.add(text.substring(start, end));
            start = end;
        }
        return arr;
    }

    private JsonArray cells() {
        return json.getAsJsonArray("cells");
    }

    private JsonObject cell(int index) {
        Objects.checkIndex(index, cellCount());
        return cells().get(index).getAsJsonObject();
    }

    private static String joined(JsonElement source) {
        if (source == null || source.isJsonNull()) {
            return "";
        }
        if (source.isJsonPrimitive()) {
            return source.getAsString();
        }
        StringBuilder sb = new StringBuilder();
        for (JsonElement line : source.getAsJsonArray()) {
            sb.append(line.getAsString());
        }
        return sb.toString();
    }
}
