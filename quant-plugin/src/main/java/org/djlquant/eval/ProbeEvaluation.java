package org.djlquant.eval;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;

/**
 * Stratified k-fold cross-validation of a {@link LinearProbe} trained on reference (FP32) features
 * and applied unchanged to every variant's features of the held-out fold.
 *
 * <p>Folds: the indices of each class are shuffled with {@code new Random(seed)} and dealt round
 * robin to the k folds, so every fold has the class proportions of the whole set (within one
 * example) and the same seed gives the same folds. The reported accuracy of a variant is the number
 * of correctly classified held-out examples over all folds divided by the number of examples.
 *
 * <p>Stateless; safe to use from several threads.
 */
public final class ProbeEvaluation {

    /** Probe settings used by the project's pipelines. */
    public record Settings(int folds, long seed, double lambda, int steps, String engineName) {

        /** Validates the settings. */
        public Settings {
            if (folds < 2) {
                throw new IllegalArgumentException("folds was " + folds + ", must be >= 2");
            }
            if (!(lambda >= 0)) {
                throw new IllegalArgumentException("lambda was " + lambda + ", must be >= 0");
            }
            if (steps < 1) {
                throw new IllegalArgumentException("steps was " + steps + ", must be >= 1");
            }
            Objects.requireNonNull(engineName, "engineName");
        }

        /**
         * Five folds, seed 42, {@code lambda = 1e-4}, 300 steps, PyTorch engine.
         *
         * @return the defaults
         */
        public static Settings defaults() {
            return new Settings(5, 42, 1e-4, 300, "PyTorch");
        }
    }

    private ProbeEvaluation() {}

    /**
     * Deals the example indices into stratified folds.
     *
     * @param labels one label per example
     * @param folds the number of folds
     * @param seed the shuffling seed
     * @return for each example, its fold in {@code [0, folds)}
     */
    public static int[] stratifiedFolds(int[] labels, int folds, long seed) {
        if (folds < 2 || folds > labels.length) {
            throw new IllegalArgumentException(
                    "folds was " + folds + ", must be in [2, " + labels.length + "]");
        }
        Map<Integer, List<Integer>> byClass = new LinkedHashMap<>();
        for (int i = 0; i < labels.length; i++) {
            byClass.computeIfAbsent(labels[i], k -> new ArrayList<>()).add(i);
        }
        Random random = new Random(seed);
        int[] fold = new int[labels.length];
        int next = 0;
        for (List<Integer> idx : byClass.values()) {
            Collections.shuffle(idx, random);
            for (int i : idx) {
                fold[i] = next;
                next = (next + 1) % folds;
            }
        }
        return fold;
    }

    /**
     * Cross-validates: for each fold, fits a probe on the reference features of the other folds and
     * counts correct predictions on every variant's features of this fold.
     *
     * @param reference the features the probe is trained on (FP32 embeddings), one row per example
     * @param labels one label per example
     * @param variants named feature sets to evaluate, each with one row per example (include the
     *     reference itself to get its accuracy)
     * @param settings folds, seed and probe settings
     * @return accuracy in [0, 1] per variant name, in the order given
     */
    public static Map<String, Double> crossValidate(
            float[][] reference, int[] labels, Map<String, float[][]> variants, Settings settings) {
        int n = reference.length;
        if (labels.length != n) {
            throw new IllegalArgumentException(
                    "labels has " + labels.length + " entries, reference has " + n + " rows");
        }
        variants.forEach(
                (name, rows) -> {
                    if (rows.length != n) {
                        throw new IllegalArgumentException(
                                "variant '"
                                        + name
                                        + "' has "
                                        + rows.length
                                        + " rows, reference has "
                                        + n);
                    }
                });
        int classes = 0;
        for (int l : labels) {
            classes = Math.max(classes, l + 1);
        }
        int[] fold = stratifiedFolds(labels, settings.folds(), settings.seed());
        Map<String, Integer> correct = new LinkedHashMap<>();
        variants.keySet().forEach(k -> correct.put(k, 0));
        for (int f = 0; f < settings.folds(); f++) {
            List<Integer> train = new ArrayList<>();
            List<Integer> test = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                (fold[i] == f ? test : train).add(i);
            }
            LinearProbe probe =
                    LinearProbe.fit(
                            rows(reference, train),
                            labels(labels, train),
                            Math.max(classes, 2),
                            settings.lambda(),
                            settings.steps(),
                            settings.engineName());
            int[] testLabels = labels(labels, test);
            for (Map.Entry<String, float[][]> v : variants.entrySet()) {
                int[] predicted = probe.predict(rows(v.getValue(), test));
                int ok = 0;
                for (int i = 0; i < predicted.length; i++) {
                    if (predicted[i] == testLabels[i]) {
                        ok++;
                    }
                }
                correct.merge(v.getKey(), ok, Integer::sum);
            }
        }
        Map<String, Double> accuracy = new LinkedHashMap<>();
        correct.forEach((k, c) -> accuracy.put(k, (double) c / n));
        return accuracy;
    }

    private static float[][] rows(float[][] x, List<Integer> idx) {
        float[][] out = new float[idx.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = x[idx.get(i)];
        }
        return out;
    }

    private static int[] labels(int[] y, List<Integer> idx) {
        int[] out = new int[idx.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = y[idx.get(i)];
        }
        return out;
    }
}
