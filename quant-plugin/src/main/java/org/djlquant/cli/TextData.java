package org.djlquant.cli;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.djlquant.QuantizationException;
import org.djlquant.calibrate.IdxReader;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.SentimentData;

/**
 * Reads the sentences of a data file given on the command line: plain text (one sentence a line),
 * JSONL (one object a line with {@code "text"} and optionally {@code "label"} or {@code "class"}),
 * a JSON array of such objects (the sentiment files, read by {@link SentimentData#loadFile}), or
 * IDX (recognised by its magic number; images, refused for text models).
 */
final class TextData {

    /** The formats recognised. */
    enum Format {
        TEXT,
        JSONL,
        JSON,
        IDX
    }

    /**
     * Sentences with labels (-1 where the file has none).
     *
     * @param format the format read
     * @param texts the sentences
     * @param labels one label per sentence, -1 if unlabelled
     */
    record Data(Format format, List<String> texts, int[] labels) {

        boolean labelled() {
            for (int l : labels) {
                if (l < 0) {
                    return false;
                }
            }
            return labels.length > 0;
        }
    }

    private TextData() {}

    /**
     * Detects the format: IDX by its magic number, JSON by a leading '[', JSONL by a leading '{'
     * (or the .jsonl suffix), text otherwise.
     */
    static Format detect(Path file) throws QuantizationException {
        byte[] head = new byte[4];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, 4);
        } catch (IOException e) {
            throw new QuantizationException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (n == 4 && head[0] == 0 && head[1] == 0 && (head[2] & 0xff) >= 0x08 && head[3] > 0) {
            return Format.IDX;
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return Format.JSONL;
        }
        String text = firstNonBlank(file);
        if (text.startsWith("[")) {
            return Format.JSON;
        }
        if (text.startsWith("{")) {
            return Format.JSONL;
        }
        return Format.TEXT;
    }

    private static String firstNonBlank(Path file) throws QuantizationException {
        try (var lines = Files.lines(file, StandardCharsets.UTF_8)) {
            return lines.map(String::strip).filter(s -> !s.isEmpty()).findFirst().orElse("");
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new QuantizationException("cannot read " + file + " as UTF-8 text", e);
        }
    }

    /**
     * Reads the sentences of a file.
     *
     * @param file the file
     * @param option the option that named it, for messages
     * @return the sentences
     * @throws QuantizationException if the file cannot be read or a line is malformed (the message
     *     names the file and the line)
     * @throws IllegalArgumentException for IDX data (images), which a text model cannot take, or a
     *     file without sentences
     */
    static Data read(Path file, String option) throws QuantizationException {
        Format format = detect(file);
        List<String> texts = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        switch (format) {
            case IDX:
                IdxReader.IdxArray idx = IdxReader.read(file);
                throw new IllegalArgumentException(
                        option
                                + " "
                                + file
                                + " is IDX data of shape "
                                + java.util.Arrays.toString(idx.shape())
                                + " (images or labels); the models djlq reads are BERT-family text"
                                + " encoders, which take sentences: give text lines, JSONL"
                                + " ({\"text\": ...} per line) or a JSON array of {text, class}");
            case JSON:
                for (LabelledText t : SentimentData.loadFile(file, file.getFileName().toString())) {
                    texts.add(t.text());
                    labels.add(t.label());
                }
                break;
            case JSONL:
                readJsonl(file, texts, labels);
                break;
            case TEXT:
                try {
                    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                        if (!line.isBlank()) {
                            texts.add(line.strip());
                            labels.add(-1);
                        }
                    }
                } catch (IOException e) {
                    throw new QuantizationException(
                            "cannot read " + file + " as UTF-8 text: " + e.getMessage(), e);
                }
                break;
            default:
                throw new AssertionError(format);
        }
        if (texts.isEmpty()) {
            throw new IllegalArgumentException(
                    option + " " + file + " holds no sentence, must hold at least one");
        }
        return new Data(format, texts, labels.stream().mapToInt(Integer::intValue).toArray());
    }

    private static void readJsonl(Path file, List<String> texts, List<Integer> labels)
            throws QuantizationException {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new QuantizationException("cannot read " + file + ": " + e.getMessage(), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            JsonObject o;
            try {
                JsonElement e = JsonParser.parseString(line);
                if (!e.isJsonObject()) {
                    throw new JsonParseException("not an object");
                }
                o = e.getAsJsonObject();
            } catch (JsonParseException e) {
                throw new QuantizationException(
                        file + " line " + (i + 1) + " is not a JSON object: " + e.getMessage(), e);
            }
            if (!o.has("text")) {
                throw new QuantizationException(
                        file
                                + " line "
                                + (i + 1)
                                + " has no \"text\" field; each line must be {\"text\": ...,"
                                + " \"label\": optional int}");
            }
            String text = o.get("text").getAsString().strip();
            if (text.isEmpty()) {
                continue;
            }
            JsonElement label = o.has("label") ? o.get("label") : o.get("class");
            texts.add(text);
            try {
                labels.add(label == null || label.isJsonNull() ? -1 : label.getAsInt());
            } catch (RuntimeException e) {
                throw new QuantizationException(
                        file + " line " + (i + 1) + ": label was " + label + ", must be an int", e);
            }
        }
    }
}
