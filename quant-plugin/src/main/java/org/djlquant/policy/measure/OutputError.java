package org.djlquant.policy.measure;

/**
 * Accumulates how far a model output is from the FP32 reference, over batches: SQNR over all
 * elements, cosine similarity per row (the last dimension) averaged over rows, and, for logits, the
 * KL divergence {@code KL(softmax(ref) || softmax(out))} per row averaged over rows. Not
 * thread-safe.
 */
final class OutputError {

    private double signal;
    private double noise;
    private double cosineSum;
    private double klSum;
    private long rows;

    void add(float[] ref, float[] out, int width, boolean logits) {
        if (ref.length != out.length || width <= 0 || ref.length % width != 0) {
            throw new IllegalArgumentException(
                    "output has "
                            + out.length
                            + " values, the FP32 reference "
                            + ref.length
                            + " (row width "
                            + width
                            + "); the model output must not change shape");
        }
        for (int r = 0; r < ref.length / width; r++) {
            int o = r * width;
            double dot = 0;
            double nr = 0;
            double no = 0;
            for (int i = 0; i < width; i++) {
                double a = ref[o + i];
                double b = out[o + i];
                signal += a * a;
                noise += (a - b) * (a - b);
                dot += a * b;
                nr += a * a;
                no += b * b;
            }
            double cos = nr == 0 && no == 0 ? 1.0 : dot / Math.sqrt(nr * no);
            cosineSum += Math.max(-1.0, Math.min(1.0, Double.isNaN(cos) ? 0.0 : cos));
            if (logits) {
                klSum += kl(ref, out, o, width);
            }
            rows++;
        }
    }

    static double kl(float[] p, float[] q, int o, int width) {
        double mp = Double.NEGATIVE_INFINITY;
        double mq = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < width; i++) {
            mp = Math.max(mp, p[o + i]);
            mq = Math.max(mq, q[o + i]);
        }
        double zp = 0;
        double zq = 0;
        for (int i = 0; i < width; i++) {
            zp += Math.exp(p[o + i] - mp);
            zq += Math.exp(q[o + i] - mq);
        }
        double lzp = Math.log(zp) + mp;
        double lzq = Math.log(zq) + mq;
        double kl = 0;
        for (int i = 0; i < width; i++) {
            double lp = p[o + i] - lzp;
            double lq = q[o + i] - lzq;
            kl += Math.exp(lp) * (lp - lq);
        }
        return Math.max(0.0, kl);
    }

    double sqnrDb() {
        if (noise == 0) {
            return Double.POSITIVE_INFINITY;
        }
        return 10 * Math.log10(signal / noise);
    }

    double cosine() {
        return rows == 0 ? Double.NaN : cosineSum / rows;
    }

    double kl() {
        return rows == 0 ? Double.NaN : klSum / rows;
    }
}
