package org.djlquant.eval;

/**
 * How close a variant's embeddings are to the reference ones: the cosine similarity of each pair of
 * rows, summarised by its mean and minimum.
 *
 * @param mean the mean cosine similarity over rows
 * @param min the smallest cosine similarity of any row
 * @param rows the number of rows compared
 */
public record EmbeddingAgreement(double mean, double min, int rows) {

    /**
     * Compares two sets of embeddings row by row.
     *
     * @param reference the reference embeddings
     * @param variant the variant's embeddings, same shape
     * @return the agreement
     * @throws IllegalArgumentException if the shapes differ, there are no rows, or a row is zero
     */
    public static EmbeddingAgreement of(float[][] reference, float[][] variant) {
        if (reference.length != variant.length || reference.length == 0) {
            throw new IllegalArgumentException(
                    "reference has "
                            + reference.length
                            + " rows and variant "
                            + variant.length
                            + ", must be equal and > 0");
        }
        double sum = 0;
        double min = Double.POSITIVE_INFINITY;
        for (int i = 0; i < reference.length; i++) {
            double c = cosine(reference[i], variant[i], i);
            sum += c;
            min = Math.min(min, c);
        }
        return new EmbeddingAgreement(sum / reference.length, min, reference.length);
    }

    /**
     * Cosine similarity of two vectors.
     *
     * @param a first vector
     * @param b second vector, same length
     * @return {@code a.b / (|a| |b|)}
     */
    public static double cosine(float[] a, float[] b) {
        return cosine(a, b, 0);
    }

    private static double cosine(float[] a, float[] b, int row) {
        if (a.length != b.length) {
            throw new IllegalArgumentException(
                    "row " + row + ": lengths " + a.length + " and " + b.length + " differ");
        }
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        if (na == 0 || nb == 0) {
            throw new IllegalArgumentException("row " + row + " is a zero vector");
        }
        return dot / Math.sqrt(na * nb);
    }
}
