package org.djlquant.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.djlquant.QuantizationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalTest {

    @Test
    void probeSeparatesLinearlySeparableData() {
        // class 1 iff x0 + x1 > 0, with a margin of 0.5 around the boundary
        Random r = new Random(1);
        float[][] x = new float[200][];
        int[] y = new int[200];
        for (int i = 0; i < x.length; i++) {
            float a = r.nextFloat() * 4 - 2;
            float side = i % 2 == 0 ? 1 : -1;
            float b = -a + side * (0.5f + r.nextFloat());
            x[i] = new float[] {a, b};
            y[i] = side > 0 ? 1 : 0;
        }
        LinearProbe probe = LinearProbe.fit(x, y, 2, 0, 300, "PyTorch");
        assertEquals(1.0, probe.accuracy(x, y));
    }

    @Test
    void probeCannotLearnXorBeyondThreeQuarters() {
        float[][] x = {{0, 0}, {1, 1}, {0, 1}, {1, 0}};
        int[] y = {0, 0, 1, 1};
        LinearProbe probe = LinearProbe.fit(x, y, 2, 1e-3, 500, "PyTorch");
        assertTrue(probe.accuracy(x, y) <= 0.75);
    }

    @Test
    void fittedProbeSatisfiesTheOptimalityCondition() {
        // at the optimum the gradient X^T (P - Y) / n + lambda W is zero; check it in plain Java
        Random r = new Random(7);
        int n = 300;
        int d = 5;
        int k = 3;
        float[][] x = new float[n][d];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % k;
            for (int j = 0; j < d; j++) {
                x[i][j] = (float) (r.nextGaussian() + (j == y[i] ? 1.0 : 0.0));
            }
        }
        double lambda = 0.05;
        LinearProbe probe = LinearProbe.fit(x, y, k, lambda, 600, "PyTorch");
        double[][] w = recoverWeights(probe, d, k);
        double[][] grad = new double[d][k];
        for (int i = 0; i < n; i++) {
            double[] logits = new double[k];
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < k; c++) {
                for (int j = 0; j < d; j++) {
                    logits[c] += x[i][j] * w[j][c];
                }
                logits[c] += w[d][c];
                max = Math.max(max, logits[c]);
            }
            double z = 0;
            for (int c = 0; c < k; c++) {
                z += Math.exp(logits[c] - max);
            }
            for (int c = 0; c < k; c++) {
                double p = Math.exp(logits[c] - max) / z - (y[i] == c ? 1 : 0);
                for (int j = 0; j < d; j++) {
                    grad[j][c] += x[i][j] * p / n;
                }
            }
        }
        for (int j = 0; j < d; j++) {
            for (int c = 0; c < k; c++) {
                double g = grad[j][c] + lambda * w[j][c];
                assertEquals(0, g, 1e-3, "gradient at w[" + j + "][" + c + "]");
            }
        }
    }

    private static double[][] recoverWeights(LinearProbe probe, int d, int k) {
        double[][] out = new double[d + 1][k];
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                out[j][c] = probe.weight(j, c);
            }
            out[d][c] = probe.bias(c);
        }
        return out;
    }

    @Test
    void stratifiedFoldsKeepClassProportionsAndAreDeterministic() {
        int[] labels = new int[103];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i < 61 ? 0 : 1;
        }
        int[] folds = ProbeEvaluation.stratifiedFolds(labels, 5, 3);
        assertArrayEquals(folds, ProbeEvaluation.stratifiedFolds(labels, 5, 3));
        int[][] count = new int[5][2];
        for (int i = 0; i < labels.length; i++) {
            count[folds[i]][labels[i]]++;
        }
        for (int c = 0; c < 2; c++) {
            int min = Integer.MAX_VALUE;
            int max = 0;
            for (int f = 0; f < 5; f++) {
                min = Math.min(min, count[f][c]);
                max = Math.max(max, count[f][c]);
            }
            assertTrue(max - min <= 1, "class " + c + " spread over folds " + min + ".." + max);
        }
    }

    @Test
    void crossValidationGivesTheReferenceAccuracyToAnIdenticalVariantAndChanceToNoise() {
        Random r = new Random(11);
        int n = 400;
        float[][] ref = new float[n][4];
        float[][] noise = new float[n][4];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 2;
            for (int j = 0; j < 4; j++) {
                ref[i][j] = (float) (r.nextGaussian() + (y[i] == 1 ? 1.5 : -1.5));
                noise[i][j] = (float) r.nextGaussian();
            }
        }
        Map<String, float[][]> variants = new LinkedHashMap<>();
        variants.put("fp32", ref);
        variants.put("copy", ref.clone());
        variants.put("noise", noise);
        Map<String, Double> acc =
                ProbeEvaluation.crossValidate(
                        ref, y, variants, ProbeEvaluation.Settings.defaults());
        assertTrue(acc.get("fp32") > 0.95, "fp32 " + acc);
        assertEquals(acc.get("fp32"), acc.get("copy"));
        assertTrue(Math.abs(acc.get("noise") - 0.5) < 0.1, "noise " + acc);
    }

    @Test
    void cosineAgreementMatchesHandComputedValues() {
        float[][] a = {{1, 0}, {1, 1}, {3, 4}};
        float[][] b = {{0, 1}, {2, 2}, {4, 3}};
        EmbeddingAgreement agreement = EmbeddingAgreement.of(a, b);
        // cosines 0, 1, 24/25
        assertEquals((0 + 1 + 0.96) / 3, agreement.mean(), 1e-9);
        assertEquals(0, agreement.min(), 1e-12);
        assertThrows(
                IllegalArgumentException.class,
                () -> EmbeddingAgreement.of(a, new float[][] {{1, 0}}));
        assertThrows(
                IllegalArgumentException.class,
                () -> EmbeddingAgreement.of(new float[][] {{0, 0}}, new float[][] {{1, 0}}));
    }

    @Test
    void badProbeInputIsRefusedWithTheValueAndWhatIsAllowed() {
        float[][] x = {{1}, {2}};
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LinearProbe.fit(x, new int[] {0, 2}, 2, 0, 10, "PyTorch"));
        assertTrue(e.getMessage().contains("y[1] was 2, must be in [0, 2)"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> LinearProbe.fit(x, new int[] {0, 1}, 2, -1, 10, "PyTorch"));
        assertTrue(e.getMessage().contains("lambda was -1.0"), e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () ->
                                LinearProbe.fit(
                                        new float[][] {{1}, {Float.NaN}},
                                        new int[] {0, 1},
                                        2,
                                        0,
                                        10,
                                        "PyTorch"));
        assertTrue(e.getMessage().contains("x[1] holds NaN"), e.getMessage());
    }

    @Test
    void sentimentDataHasThreeThousandBalancedSentences() throws QuantizationException {
        List<LabelledText> all = SentimentData.load(SentimentData.defaultDataDir());
        assertEquals(3000, all.size());
        assertEquals(1500, all.stream().filter(t -> t.label() == 1).count());
        for (String source : SentimentData.SOURCES) {
            assertEquals(1000, all.stream().filter(t -> t.source().equals(source)).count());
        }
    }

    @Test
    void missingOrMalformedSentimentFileIsACheckedErrorThatSaysWhatToDo(@TempDir Path dir)
            throws Exception {
        QuantizationException e =
                assertThrows(QuantizationException.class, () -> SentimentData.load(dir));
        assertTrue(e.getMessage().contains("fetch-data.sh"), e.getMessage());
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"text\": 1}");
        assertThrows(QuantizationException.class, () -> SentimentData.loadFile(bad, "x"));
    }
}
