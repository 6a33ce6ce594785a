package org.djlquant.observer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.Map;
import java.util.TreeMap;
import org.djlquant.scheme.Granularity;
import org.djlquant.scheme.NDQuant;
import org.djlquant.scheme.NonFiniteValueException;
import org.djlquant.scheme.QParams;
import org.djlquant.scheme.QScheme;
import org.djlquant.scheme.QSpec;
import org.djlquant.scheme.QuantMath;

/**
 * Per-tensor histogram observer with a fixed number of bins.
 *
 * <p><b>Collection.</b> The histogram spans the observed {@code [min, max]} with {@code bins} equal
 * bins. When a batch falls outside, the histogram is re-binned into the wider range (each old bin's
 * count is split between the new bins it overlaps, in proportion to the overlap, i.e. mass is
 * assumed uniform inside a bin) and the batch is added. Memory is {@code O(bins)} whatever the
 * number of batches. Counts are kept as doubles (saved as float32 in {@link ObserverState}).
 *
 * <p><b>Cost per batch.</b> The batch's minimum and maximum are reduced natively over the whole
 * tensor (they set the histogram range, so the range is exact, and they catch NaN and infinities).
 * A batch of at most {@code maxSamples} elements is then binned whole. A larger batch is binned
 * from a deterministic strided subsample: the elements {@code 0, k, 2k, ...} of its row-major
 * flattening, {@code k} the smallest integer {@code >= ceil(n / maxSamples)} that is coprime with
 * the element count {@code n} (so with every dimension: the samples visit every channel of the last
 * axis rather than the same few), each sample counting {@code n / samples} times so that batches
 * keep their weight. Only the samples are copied to the Java heap; with the default {@value
 * Observers#DEFAULT_MAX_SAMPLES} (PERCENTILE and MSE; ENTROPY bins everything by default) the copy
 * is a fixed small cost whatever the activation size (a BERT-base FFN activation [8, 128, 3072] is
 * binned from 64,199 of its 3.1 million values, stride 49). The subsample changes the counts by
 * sampling noise only; give {@code Long.MAX_VALUE} to bin every element, as PyTorch's {@code
 * HistogramObserver} does.
 *
 * <p><b>Range selection</b> (the chosen {@code [lo, hi]} then goes through {@link
 * QuantMath#paramsFromMinMax}, which widens it to include 0):
 *
 * <ul>
 *   <li>PERCENTILE (as ONNX Runtime's {@code PercentileCalibrater}): symmetric specs fold the
 *       histogram onto {@code |x|} and take the smallest bin edge {@code t} whose cumulative mass
 *       reaches {@code percentile / 100} (right edge of the bin holding the percentile, so 100
 *       keeps everything), range {@code [-t, t]}; affine specs cut {@code (100 - percentile) / 2}
 *       percent from each side.
 *   <li>ENTROPY (TensorRT / ONNX Runtime {@code EntropyCalibrater}): the histogram is re-binned
 *       onto {@code [-M, M]}, {@code M = max|x|}; for every window of {@code 2i + 1} bins around
 *       the zero bin ({@code i >= Q/2}, {@code Q = 2^(bits-1)} quantized bins, 128 for 8 bits as
 *       ONNX Runtime's default), the reference distribution {@code p} (window plus outliers folded
 *       into its end bins) is compared with {@code q} (the window merged into {@code Q} bins and
 *       spread back over each merged segment, as ORT's {@code get_entropy_threshold}); both are
 *       smoothed (zeros get {@code 1e-4}, taken from the non-zeros, ORT's {@code
 *       smooth_distribution}) and the window with the smallest {@code KL(p || q)} wins. Unlike ORT,
 *       counts stay fractional (re-binning splits them), so q is not truncated to integers.
 *       Symmetric: {@code [-t, t]}; affine: the window clipped to the observed min/max (as ORT).
 *   <li>MSE: the expected squared error of fake quantization (clipping plus rounding) is integrated
 *       exactly over each bin under a uniform-within-bin assumption, for candidate ranges:
 *       symmetric {@code t = M k / K}, {@code k = 1..K}, {@code K = min(bins, 512)}; affine {@code
 *       [min i / 64, max j / 64]}, {@code i, j = 0..64}. The smallest error wins. PyTorch's
 *       HistogramObserver uses a different (greedy L2) search, so results agree only within a
 *       tolerance (see the tests).
 * </ul>
 */
final class HistogramObserver implements Observer {

    private static final String KIND = "HistogramObserver";

    private final QSpec spec;
    private final HistogramMethod method;
    private final int bins;
    private final double percentile;
    private final long maxSamples;

    private double[] counts;
    private float lo; // histogram range
    private float hi;
    private float min; // observed extremes
    private float max;
    private boolean hasData;
    private long batches; // successful observe calls since creation / reset, for messages

    HistogramObserver(
            QSpec spec, HistogramMethod method, int bins, double percentile, long maxSamples) {
        this.spec = spec;
        this.method = method;
        this.bins = bins;
        this.percentile = percentile;
        this.maxSamples = maxSamples;
    }

    @Override
    public QSpec spec() {
        return spec;
    }

    @Override
    public void observe(NDArray x) {
        if (x.size() == 0) {
            throw new IllegalArgumentException(
                    this
                            + ": tensor of shape "
                            + x.getShape()
                            + " had 0 elements, must have at least 1");
        }
        // the extremes come from the whole tensor, reduced natively (NaN and infinities show up in
        // them); only the values that are binned cross to Java, at most about maxSamples of them
        float[][] mm;
        try {
            mm = NDQuant.minMax(x, Granularity.perTensor());
        } catch (NonFiniteValueException e) {
            throw new NonFiniteValueException(
                    this + " batch " + batches,
                    e.getMessage().replace(", must be finite (no NaN or Inf)", ""));
        }
        float bmin = mm[0][0];
        float bmax = mm[1][0];
        long n = x.size();
        float[] v = sample(x, n, maxSamples);
        if (!hasData) {
            counts = new double[bins];
            lo = bmin;
            hi = bmax;
            min = bmin;
            max = bmax;
            hasData = true;
        } else {
            min = Math.min(min, bmin);
            max = Math.max(max, bmax);
            if (bmin < lo || bmax > hi) {
                rebin(Math.min(lo, bmin), Math.max(hi, bmax));
            }
        }
        add(v, (double) n / v.length);
        batches++;
    }

    /**
     * The values that are binned: all of {@code x} when it has at most {@code cap} elements, else
     * the elements {@code 0, k, 2k, ...} of its row-major flattening, {@code k = stride(n, cap)}.
     */
    static float[] sample(NDArray x, long n, long cap) {
        if (n <= cap) {
            return floats(x);
        }
        long k = stride(n, cap);
        try (NDArray flat = x.reshape(-1);
                NDArray picked = flat.get(new NDIndex("::" + k))) {
            return floats(picked);
        }
    }

    /**
     * The sampling stride for {@code n} elements and at most {@code cap} samples: the smallest
     * {@code k >= ceil(n / cap)} with {@code gcd(k, n) = 1}. Coprime with {@code n}, {@code k} is
     * coprime with every dimension of the tensor, so the samples walk through every index of the
     * last (channel) axis instead of hitting the same few channels in every row.
     */
    static long stride(long n, long cap) {
        long k = (n + cap - 1) / cap;
        while (gcd(k, n) != 1) {
            k++;
        }
        return k;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    private static float[] floats(NDArray a) {
        if (a.getDataType() == DataType.FLOAT32) {
            return a.toFloatArray();
        }
        try (NDArray f = a.toType(DataType.FLOAT32, false)) {
            return f.toFloatArray();
        }
    }

    private void add(float[] v, double weight) {
        double width = (double) hi - lo;
        if (width <= 0) {
            counts[0] += v.length * weight;
            return;
        }
        double scale = bins / width;
        for (float f : v) {
            int b = (int) ((f - (double) lo) * scale);
            counts[b < 0 ? 0 : b >= bins ? bins - 1 : b] += weight;
        }
    }

    /** Re-bins the histogram into the wider range [nlo, nhi]. */
    private void rebin(float nlo, float nhi) {
        double[] n = new double[bins];
        double nw = ((double) nhi - nlo) / bins;
        double ow = ((double) hi - lo) / bins;
        for (int i = 0; i < bins; i++) {
            double c = counts[i];
            if (c == 0) {
                continue;
            }
            double o0 = lo + i * ow;
            double o1 = o0 + ow;
            if (ow <= 0) {
                n[clampBin((int) ((o0 - nlo) / nw))] += c;
                continue;
            }
            int j0 = clampBin((int) Math.floor((o0 - nlo) / nw));
            int j1 = clampBin((int) Math.floor((o1 - nlo) / nw));
            for (int j = j0; j <= j1; j++) {
                double b0 = nlo + j * nw;
                double b1 = b0 + nw;
                if (j == 0) {
                    b0 = Double.NEGATIVE_INFINITY;
                }
                if (j == bins - 1) {
                    b1 = Double.POSITIVE_INFINITY;
                }
                double overlap = Math.min(o1, b1) - Math.max(o0, b0);
                if (overlap > 0) {
                    n[j] += c * overlap / ow;
                }
            }
        }
        counts = n;
        lo = nlo;
        hi = nhi;
    }

    private int clampBin(int b) {
        return b < 0 ? 0 : b >= bins ? bins - 1 : b;
    }

    @Override
    public boolean hasData() {
        return hasData;
    }

    @Override
    public QParams computeParams() {
        requireData();
        if (!(hi > lo)) {
            return QuantMath.paramsFromMinMax(spec, min, max);
        }
        float[] r;
        switch (method) {
            case PERCENTILE:
                r = percentileRange();
                break;
            case ENTROPY:
                r = entropyRange();
                break;
            default:
                r = mseRange();
                break;
        }
        return QuantMath.paramsFromMinMax(spec, r[0], r[1]);
    }

    private boolean symmetric() {
        return spec.scheme() == QScheme.SYMMETRIC;
    }

    private double total() {
        double t = 0;
        for (double c : counts) {
            t += c;
        }
        return t;
    }

    private double binWidth() {
        return ((double) hi - lo) / bins;
    }

    /** Mass of the histogram in [a, b] (uniform within bins). */
    private double massIn(double a, double b) {
        double w = binWidth();
        double m = 0;
        for (int i = 0; i < bins; i++) {
            double e0 = lo + i * w;
            double e1 = e0 + w;
            double ov = Math.min(b, e1) - Math.max(a, e0);
            if (ov > 0) {
                m += counts[i] * ov / w;
            }
        }
        return m;
    }

    /** Histogram re-binned onto [a, b] with n bins (mass outside goes to the end bins). */
    private double[] resample(double a, double b, int n) {
        double[] out = new double[n];
        double w = binWidth();
        double nw = (b - a) / n;
        for (int i = 0; i < bins; i++) {
            double c = counts[i];
            if (c == 0) {
                continue;
            }
            double o0 = lo + i * w;
            double o1 = o0 + w;
            int j0 = Math.max(0, Math.min(n - 1, (int) Math.floor((o0 - a) / nw)));
            int j1 = Math.max(0, Math.min(n - 1, (int) Math.floor((o1 - a) / nw)));
            for (int j = j0; j <= j1; j++) {
                double b0 = j == 0 ? Double.NEGATIVE_INFINITY : a + j * nw;
                double b1 = j == n - 1 ? Double.POSITIVE_INFINITY : a + (j + 1) * nw;
                double ov = Math.min(o1, b1) - Math.max(o0, b0);
                if (ov > 0) {
                    out[j] += c * ov / w;
                }
            }
        }
        return out;
    }

    private float[] percentileRange() {
        double total = total();
        double p = percentile / 100.0;
        if (symmetric()) {
            double m = Math.max(-(double) lo, hi);
            // |x| histogram on [0, m]: fold
            double step = m / bins;
            double[] abs = new double[bins];
            for (int k = 0; k < bins; k++) {
                double t0 = k * step;
                double t1 = t0 + step;
                abs[k] = massIn(t0, t1) + massIn(-t1, -t0);
            }
            double cum = 0;
            for (int k = 0; k < bins; k++) {
                cum += abs[k];
                if (cum >= p * total * (1 - 1e-12)) {
                    float t = (float) ((k + 1) * step);
                    return new float[] {-t, t};
                }
            }
            return new float[] {(float) -m, (float) m};
        }
        double cut = (1 - p) / 2 * total;
        double w = binWidth();
        double cum = 0;
        double left = lo;
        for (int i = 0; i < bins; i++) {
            if (cum + counts[i] > cut) {
                left = lo + i * w;
                break;
            }
            cum += counts[i];
        }
        cum = 0;
        double right = hi;
        for (int i = bins - 1; i >= 0; i--) {
            if (cum + counts[i] > cut) {
                right = lo + (i + 1) * w;
                break;
            }
            cum += counts[i];
        }
        return new float[] {(float) Math.max(left, min), (float) Math.min(right, max)};
    }

    private float[] entropyRange() {
        double m = Math.max(-(double) lo, hi);
        int n = bins % 2 == 0 ? bins : bins + 1;
        double[] h = resample(-m, m, n);
        double w = 2 * m / n;
        int zero = n / 2;
        int q = Math.max(2, 1 << Math.min(30, spec.dtype().bits() - 1));
        int half = Math.max(1, q / 2);
        double[] prefix = new double[n + 1];
        for (int i = 0; i < n; i++) {
            prefix[i + 1] = prefix[i] + h[i];
        }
        double bestKl = Double.POSITIVE_INFINITY;
        int bestI = zero;
        for (int i = half; i <= zero; i++) {
            int start = zero - i;
            int end = Math.min(zero + i + 1, n);
            int len = end - start;
            if (len < q) {
                continue;
            }
            double[] p = new double[len];
            System.arraycopy(h, start, p, 0, len);
            p[0] += prefix[start];
            p[len - 1] += prefix[n] - prefix[end];
            // as ONNX Runtime: merge the window (without outliers) into q bins, the remainder
            // going to the last one; spread each merged count evenly over the bins of its
            // segment [k m, (k + 1) m) when the segment has non-empty reference bins (ORT fills
            // the whole segment, empty bins included, and leaves the remainder bins at 0)
            int merged = len / q;
            double[] qq = new double[len];
            for (int k = 0; k < q; k++) {
                int s0 = k * merged;
                int s1 = s0 + merged;
                int sumEnd = k == q - 1 ? len : s1;
                double sum = 0;
                for (int j = s0; j < sumEnd; j++) {
                    sum += h[start + j];
                }
                int nonzero = 0;
                for (int j = s0; j < s1; j++) {
                    if (p[j] != 0) {
                        nonzero++;
                    }
                }
                if (nonzero > 0) {
                    double v = sum / nonzero;
                    for (int j = s0; j < s1; j++) {
                        qq[j] = v;
                    }
                }
            }
            double kl = kl(smooth(p), smooth(qq));
            if (kl < bestKl) {
                bestKl = kl;
                bestI = i;
            }
        }
        int start = zero - bestI;
        int end = Math.min(zero + bestI + 1, n);
        double a = -m + start * w;
        double b = -m + end * w;
        if (symmetric()) {
            float t = (float) Math.max(-a, b);
            return new float[] {-t, t};
        }
        return new float[] {(float) Math.max(a, min), (float) Math.min(b, max)};
    }

    /** ORT's smooth_distribution: zeros get eps, taken evenly from the non-zeros. */
    private static double[] smooth(double[] p) {
        final double eps = 1e-4;
        int zeros = 0;
        for (double v : p) {
            if (v == 0) {
                zeros++;
            }
        }
        int nonzeros = p.length - zeros;
        if (nonzeros == 0) {
            return null;
        }
        double eps1 = eps * zeros / nonzeros;
        double[] r = new double[p.length];
        for (int i = 0; i < p.length; i++) {
            r[i] = p[i] == 0 ? eps : p[i] - eps1;
            if (r[i] <= 0) {
                return null;
            }
        }
        return r;
    }

    /** KL(p || q) of the normalised distributions (scipy.stats.entropy). */
    private static double kl(double[] p, double[] q) {
        if (p == null || q == null) {
            return Double.POSITIVE_INFINITY;
        }
        double sp = 0;
        double sq = 0;
        for (int i = 0; i < p.length; i++) {
            sp += p[i];
            sq += q[i];
        }
        double d = 0;
        for (int i = 0; i < p.length; i++) {
            double pi = p[i] / sp;
            d += pi * Math.log(pi / (q[i] / sq));
        }
        return d;
    }

    private float[] mseRange() {
        float[] best = {min, max};
        double bestErr = Double.POSITIVE_INFINITY;
        if (symmetric()) {
            double m = Math.max(-(double) min, max);
            int k = Math.min(bins, 512);
            for (int j = 1; j <= k; j++) {
                float t = (float) (m * j / k);
                double e = expectedError(-t, t);
                if (e < bestErr) {
                    bestErr = e;
                    best = new float[] {-t, t};
                }
            }
            return best;
        }
        int k = 64;
        float mn = Math.min(min, 0f);
        float mx = Math.max(max, 0f);
        for (int i = 0; i <= k; i++) {
            for (int j = 0; j <= k; j++) {
                float a = (float) ((double) mn * i / k);
                float b = (float) ((double) mx * j / k);
                if (a == b) {
                    continue;
                }
                double e = expectedError(a, b);
                if (e < bestErr) {
                    bestErr = e;
                    best = new float[] {a, b};
                }
            }
        }
        return best;
    }

    /** Expected squared fake-quantization error of the histogram with params for [a, b]. */
    double expectedError(float a, float b) {
        QParams p = QuantMath.paramsFromMinMax(spec, a, b);
        double s = p.scale();
        long z = p.zeroPoint();
        double ga = s * (spec.qmin() - z);
        double gb = s * (spec.qmax() - z);
        double w = binWidth();
        double err = 0;
        for (int i = 0; i < bins; i++) {
            double c = counts[i];
            if (c == 0) {
                continue;
            }
            double e0 = lo + i * w;
            double e1 = e0 + w;
            err += c * (phi(e1, ga, gb, s) - phi(e0, ga, gb, s)) / w;
        }
        return err;
    }

    /** Antiderivative of the squared distance to the clamped grid {ga + k s} in [ga, gb]. */
    private static double phi(double x, double ga, double gb, double s) {
        if (x <= ga) {
            double d = ga - x;
            return -d * d * d / 3;
        }
        if (x >= gb) {
            double d = x - gb;
            return saw(gb - ga, s) + d * d * d / 3;
        }
        return saw(x - ga, s);
    }

    /** Integral over [0, u] of the squared distance to the nearest multiple of s. */
    private static double saw(double u, double s) {
        double k = Math.floor(u / s);
        double r = u - k * s;
        double s3 = s * s * s;
        double h = r <= s / 2 ? r * r * r / 3 : s3 / 12 - (s - r) * (s - r) * (s - r) / 3;
        return k * s3 / 12 + h;
    }

    @Override
    public void reset() {
        counts = null;
        hasData = false;
        batches = 0;
    }

    @Override
    public float[][] observedRange() {
        requireData();
        return new float[][] {{min}, {max}};
    }

    @Override
    public ObserverState saveState() {
        Map<String, float[]> v = new TreeMap<>();
        v.put("bins", new float[] {bins});
        if (hasData) {
            float[] c = new float[bins];
            for (int i = 0; i < bins; i++) {
                c[i] = (float) counts[i];
            }
            v.put("histogram", c);
            v.put("histogramRange", new float[] {lo, hi});
            v.put("observedRange", new float[] {min, max});
        }
        return new ObserverState(KIND, v);
    }

    @Override
    public void loadState(ObserverState state) {
        if (state == null || !KIND.equals(state.kind())) {
            throw new IllegalArgumentException(
                    "state kind was "
                            + (state == null ? "null" : state.kind())
                            + ", must be "
                            + KIND
                            + " for "
                            + this);
        }
        float[] b = state.get("bins");
        if (b == null || b.length != 1 || (int) b[0] != bins) {
            throw new IllegalArgumentException(
                    "state bins was "
                            + (b == null || b.length == 0 ? "absent" : String.valueOf(b[0]))
                            + ", must be "
                            + bins
                            + " for "
                            + this);
        }
        float[] c = state.get("histogram");
        if (c == null) {
            reset();
            return;
        }
        float[] r = state.get("histogramRange");
        float[] o = state.get("observedRange");
        if (c.length != bins || r == null || r.length != 2 || o == null || o.length != 2) {
            throw new IllegalArgumentException(
                    "state "
                            + state
                            + " must hold histogram["
                            + bins
                            + "], histogramRange[2] and observedRange[2]");
        }
        for (float f : new float[] {r[0], r[1], o[0], o[1]}) {
            if (!Float.isFinite(f)) {
                throw new NonFiniteValueException(toString(), "loaded range value was " + f);
            }
        }
        double[] d = new double[bins];
        for (int i = 0; i < bins; i++) {
            if (!(c[i] >= 0) || Float.isInfinite(c[i])) {
                throw new IllegalArgumentException(
                        "state histogram count "
                                + i
                                + " was "
                                + c[i]
                                + ", must be finite and >= 0");
            }
            d[i] = c[i];
        }
        counts = d;
        lo = r[0];
        hi = r[1];
        min = o[0];
        max = o[1];
        hasData = true;
    }

    private void requireData() {
        if (!hasData) {
            throw new IllegalStateException(
                    this + " has observed no data; call observe(x) with calibration data first");
        }
    }

    @Override
    public String toString() {
        return KIND
                + "("
                + spec
                + ", "
                + method
                + ", bins="
                + bins
                + (method == HistogramMethod.PERCENTILE ? ", percentile=" + percentile : "")
                + (maxSamples == Long.MAX_VALUE ? "" : ", maxSamples=" + maxSamples)
                + ")";
    }
}
