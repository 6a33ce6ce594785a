package org.djlquant.eval;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Objects;

/**
 * A multinomial logistic-regression probe: {@code p(y | x) = softmax(x W + b)}, fitted by
 * minimising the mean cross-entropy plus {@code (lambda / 2) ||W||^2} (the bias is not penalised)
 * with full-batch gradient descent with Nesterov momentum, all in DJL {@code NDArray} operations on
 * the given engine.
 *
 * <p>The objective is convex, weights start at zero and every step is a deterministic full-batch
 * step, so the same data gives the same probe. The gradient is the closed form {@code dW = X^T (P -
 * Y) / n + lambda W}, {@code db = mean(P - Y)}.
 *
 * <p>With {@code lambda = 1 / (C n)} this is scikit-learn's default {@code LogisticRegression(C)}
 * objective up to a constant factor, the usual reference for "a logistic regression on frozen
 * embeddings".
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class LinearProbe {

    private final float[] weights; // [features * classes], row-major
    private final float[] bias; // [classes]
    private final int features;
    private final int classes;
    private final String engineName;

    private LinearProbe(
            float[] weights, float[] bias, int features, int classes, String engineName) {
        this.weights = weights;
        this.bias = bias;
        this.features = features;
        this.classes = classes;
        this.engineName = engineName;
    }

    /**
     * Fits a probe.
     *
     * @param x the features, one row per example, all rows of the same length
     * @param y the labels, in {@code [0, classes)}
     * @param classes the number of classes, {@code >= 2}
     * @param lambda the L2 penalty on the weights, {@code >= 0}
     * @param steps gradient steps, {@code >= 1}
     * @param engineName the DJL engine that computes (for example {@code PyTorch})
     * @return the fitted probe
     * @throws IllegalArgumentException if the shapes or labels are inconsistent
     */
    public static LinearProbe fit(
            float[][] x, int[] y, int classes, double lambda, int steps, String engineName) {
        int n = checkRows(x, "x");
        if (y.length != n) {
            throw new IllegalArgumentException(
                    "y has " + y.length + " labels, must have one per row of x (" + n + ")");
        }
        if (classes < 2) {
            throw new IllegalArgumentException("classes was " + classes + ", must be >= 2");
        }
        if (!(lambda >= 0) || Double.isInfinite(lambda)) {
            throw new IllegalArgumentException("lambda was " + lambda + ", must be finite >= 0");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("steps was " + steps + ", must be >= 1");
        }
        for (int i = 0; i < n; i++) {
            if (y[i] < 0 || y[i] >= classes) {
                throw new IllegalArgumentException(
                        "label y[" + i + "] was " + y[i] + ", must be in [0, " + classes + ")");
            }
        }
        int d = x[0].length;
        try (NDManager m = Engine.getEngine(engineName).newBaseManager()) {
            NDArray xs = m.create(flatten(x, d), new Shape(n, d));
            NDArray onehot =
                    m.create(Arrays.stream(y).asLongStream().toArray())
                            .oneHot(classes)
                            .toType(DataType.FLOAT32, false);
            NDArray w = m.zeros(new Shape(d, classes));
            NDArray b = m.zeros(new Shape(classes));
            NDArray vw = m.zeros(new Shape(d, classes));
            NDArray vb = m.zeros(new Shape(classes));
            // step size 1/L for the smooth part: L <= max ||x||^2 / 2 + lambda
            float lipschitz = xs.square().sum(new int[] {1}).max().getFloat() / 2f + (float) lambda;
            float lr = 1f / lipschitz;
            float mu = 0.9f;
            for (int step = 0; step < steps; step++) {
                try (NDManager s = m.newSubManager()) {
                    NDArray wl = w.add(vw.mul(mu));
                    NDArray bl = b.add(vb.mul(mu));
                    wl.attach(s);
                    bl.attach(s);
                    NDArray p = xs.matMul(wl).add(bl).softmax(1);
                    NDArray diff = p.sub(onehot);
                    NDArray gw = xs.transpose().matMul(diff).div(n).add(wl.mul(lambda));
                    NDArray gb = diff.mean(new int[] {0});
                    NDArray nvw = vw.mul(mu).sub(gw.mul(lr));
                    NDArray nvb = vb.mul(mu).sub(gb.mul(lr));
                    NDArray nw = w.add(nvw);
                    NDArray nb = b.add(nvb);
                    for (NDArray a : new NDArray[] {p, diff, gw, gb}) {
                        a.attach(s);
                    }
                    for (NDArray a : new NDArray[] {nvw, nvb, nw, nb}) {
                        a.attach(m);
                    }
                    w.close();
                    b.close();
                    vw.close();
                    vb.close();
                    w = nw;
                    b = nb;
                    vw = nvw;
                    vb = nvb;
                }
            }
            return new LinearProbe(w.toFloatArray(), b.toFloatArray(), d, classes, engineName);
        }
    }

    /**
     * Predicts the most probable class of each row.
     *
     * @param x the features, rows of the length the probe was fitted on
     * @return one class index per row
     */
    public int[] predict(float[][] x) {
        int n = checkRows(x, "x");
        if (x[0].length != features) {
            throw new IllegalArgumentException(
                    "x has " + x[0].length + " features, the probe was fitted on " + features);
        }
        try (NDManager m = Engine.getEngine(engineName).newBaseManager()) {
            NDArray logits =
                    m.create(flatten(x, features), new Shape(n, features))
                            .matMul(m.create(weights, new Shape(features, classes)))
                            .add(m.create(bias));
            long[] argmax = logits.argMax(1).toLongArray();
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = (int) argmax[i];
            }
            return out;
        }
    }

    /**
     * The fraction of rows whose predicted class equals the label.
     *
     * @param x the features
     * @param y the labels
     * @return accuracy in [0, 1]
     */
    public double accuracy(float[][] x, int[] y) {
        int[] p = predict(x);
        if (p.length != y.length) {
            throw new IllegalArgumentException(
                    "y has " + y.length + " labels, must have one per row of x (" + p.length + ")");
        }
        int ok = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == y[i]) {
                ok++;
            }
        }
        return (double) ok / p.length;
    }

    /**
     * The number of features the probe was fitted on.
     *
     * @return the feature count
     */
    public int features() {
        return features;
    }

    /**
     * One fitted weight.
     *
     * @param feature the feature index
     * @param cls the class index
     * @return {@code W[feature][cls]}
     */
    public float weight(int feature, int cls) {
        return weights[feature * classes + cls];
    }

    /**
     * One fitted bias.
     *
     * @param cls the class index
     * @return {@code b[cls]}
     */
    public float bias(int cls) {
        return bias[cls];
    }

    private static int checkRows(float[][] x, String name) {
        Objects.requireNonNull(x, name);
        if (x.length == 0) {
            throw new IllegalArgumentException(name + " has 0 rows, must have at least 1");
        }
        int d = x[0].length;
        for (int i = 0; i < x.length; i++) {
            if (x[i].length != d) {
                throw new IllegalArgumentException(
                        name + "[" + i + "] has " + x[i].length + " values, row 0 has " + d);
            }
            for (float v : x[i]) {
                if (!Float.isFinite(v)) {
                    throw new IllegalArgumentException(name + "[" + i + "] holds " + v);
                }
            }
        }
        return x.length;
    }

    private static float[] flatten(float[][] x, int d) {
        float[] flat = new float[x.length * d];
        for (int i = 0; i < x.length; i++) {
            System.arraycopy(x[i], 0, flat, i * d, d);
        }
        return flat;
    }
}
