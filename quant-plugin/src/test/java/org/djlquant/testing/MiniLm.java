package org.djlquant.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The all-MiniLM-L6-v2 test fixtures: model files from the test classpath, real sentences. */
public final class MiniLm {

    /** Classpath name of the FP32 ONNX model. */
    public static final String ONNX = "all-minilm-l6-v2.onnx";

    /** Classpath name of the tokenizer. */
    public static final String TOKENIZER = "all-minilm-l6-v2-tokenizer.json";

    private MiniLm() {}

    /**
     * Copies a classpath resource into a directory.
     *
     * @param resource the resource name at the classpath root
     * @param dir the target directory
     * @return the file written
     */
    public static Path extract(String resource, Path dir) {
        Path file = dir.resolve(resource);
        try (InputStream in = MiniLm.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is not on the test classpath");
            }
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Returns real sentences from the sentiment data, taken in turn from amazon, yelp and imdb;
     * skips the test if the data set is not installed.
     *
     * @param count how many
     * @return non-empty sentences
     */
    public static List<String> sentences(int count) {
        String env = System.getenv("DJLQ_DATA_DIR");
        Path dir =
                env != null
                        ? Path.of(env)
                        : Path.of(System.getProperty("user.home"), ".cache", "djl-quant", "data");
        Path sentiment = dir.resolve("sentiment");
        assumeTrue(
                Files.isDirectory(sentiment),
                "sentiment data missing at " + sentiment + " (run scripts/fetch-data.sh)");
        List<List<String>> sources = new ArrayList<>();
        for (String name : List.of("amazon", "yelp", "imdb")) {
            try (Reader r =
                    Files.newBufferedReader(
                            sentiment.resolve(name + ".json"), StandardCharsets.UTF_8)) {
                List<Map<String, Object>> rows =
                        new Gson()
                                .fromJson(
                                        r, new TypeToken<List<Map<String, Object>>>() {}.getType());
                List<String> texts = new ArrayList<>();
                for (Map<String, Object> row : rows) {
                    Object text = row.get("text");
                    if (text instanceof String s && !s.isBlank()) {
                        texts.add(s);
                    }
                }
                sources.add(texts);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; out.size() < count; i++) {
            out.add(sources.get(i % 3).get(i / 3));
        }
        return out;
    }
}
