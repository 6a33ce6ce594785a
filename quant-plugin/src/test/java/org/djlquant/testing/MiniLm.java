package org.djlquant.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.djlquant.QuantizationException;
import org.djlquant.eval.LabelledText;
import org.djlquant.eval.SentimentData;

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
     * Returns real sentences from the sentiment data, taken in turn from amazon, yelp and imdb. The
     * data is part of the test setup ({@code scripts/fetch-data.sh}); without it the test fails, it
     * is not skipped.
     *
     * @param count how many
     * @return non-empty sentences
     */
    public static List<String> sentences(int count) {
        List<LabelledText> all;
        try {
            all = SentimentData.load(SentimentData.defaultDataDir());
        } catch (QuantizationException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
        List<List<String>> sources = new ArrayList<>();
        for (String source : SentimentData.SOURCES) {
            sources.add(
                    all.stream()
                            .filter(t -> t.source().equals(source))
                            .map(LabelledText::text)
                            .toList());
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; out.size() < count; i++) {
            out.add(sources.get(i % 3).get(i / 3));
        }
        return out;
    }
}
