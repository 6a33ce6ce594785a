package org.djlquant.eval;

import java.util.Objects;

/**
 * One labelled sentence.
 *
 * @param text the sentence, never {@code null}
 * @param label the class index, {@code >= 0}
 * @param source where the sentence comes from (for example {@code amazon}), for reports
 */
public record LabelledText(String text, int label, String source) {

    /** Validates the fields. */
    public LabelledText {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(source, "source");
        if (label < 0) {
            throw new IllegalArgumentException("label was " + label + ", must be >= 0");
        }
    }
}
