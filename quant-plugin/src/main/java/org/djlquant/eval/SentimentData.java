package org.djlquant.eval;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.djlquant.QuantizationException;

/**
 * The UCI "Sentiment Labelled Sentences" set (Kotzias et al., KDD 2015): 1000 sentences each from
 * Amazon, Yelp and IMDb reviews, 500 positive and 500 negative, as shipped by the npm package
 * {@code sentiment@5.0.2} in {@code test/fixtures/{amazon,yelp,imdb}.json} and copied by {@code
 * scripts/fetch-data.sh} into {@code <data dir>/sentiment/}.
 */
public final class SentimentData {

    /** The three source files, in the order sentences are returned. */
    public static final List<String> SOURCES = List.of("amazon", "yelp", "imdb");

    private SentimentData() {}

    /**
     * The data folder: {@code $DJLQ_DATA_DIR}, or {@code ~/.cache/djl-quant/data}, as written by
     * {@code scripts/fetch-data.sh}.
     *
     * @return the data folder (it may not exist)
     */
    public static Path defaultDataDir() {
        String env = System.getenv("DJLQ_DATA_DIR");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "djl-quant", "data");
    }

    /**
     * Loads every labelled sentence from {@code dataDir/sentiment/}, skipping entries whose text is
     * empty (each file has one).
     *
     * @param dataDir the data folder
     * @return the sentences, in the order of {@link #SOURCES} and of each file
     * @throws QuantizationException if a file is missing or is not the expected JSON
     */
    public static List<LabelledText> load(Path dataDir) throws QuantizationException {
        List<LabelledText> all = new ArrayList<>();
        for (String source : SOURCES) {
            all.addAll(loadFile(dataDir.resolve("sentiment").resolve(source + ".json"), source));
        }
        return Collections.unmodifiableList(all);
    }

    /**
     * Loads one file of the form {@code [{"text": "...", "class": 0|1}, ...]}.
     *
     * @param file the JSON file
     * @param source the name recorded in every {@link LabelledText#source()}
     * @return the non-empty sentences of the file
     * @throws QuantizationException if the file is missing or malformed
     */
    public static List<LabelledText> loadFile(Path file, String source)
            throws QuantizationException {
        if (!Files.isRegularFile(file)) {
            throw new QuantizationException(
                    "sentiment data file "
                            + file
                            + " does not exist; run scripts/fetch-data.sh (or set DJLQ_DATA_DIR)");
        }
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            JsonElement root = JsonParser.parseReader(reader);
            if (!root.isJsonArray()) {
                throw new QuantizationException(file + ": expected a JSON array of {text, class}");
            }
            JsonArray array = root.getAsJsonArray();
            List<LabelledText> out = new ArrayList<>(array.size());
            for (int i = 0; i < array.size(); i++) {
                JsonObject o = array.get(i).getAsJsonObject();
                if (!o.has("text") || !o.has("class")) {
                    throw new QuantizationException(
                            file + ": entry " + i + " has no 'text' or no 'class': " + o);
                }
                String text = o.get("text").getAsString().strip();
                if (text.isEmpty()) {
                    continue;
                }
                out.add(new LabelledText(text, o.get("class").getAsInt(), source));
            }
            return out;
        } catch (IOException | JsonParseException | IllegalStateException e) {
            throw new QuantizationException(file + ": cannot read sentiment data: " + e, e);
        }
    }
}
