package org.djlquant.policy.measure;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A 3-layer MLP 32 -> 32 -> ReLU -> 32 -> ReLU -> 4 with known weights, and a plain-Java forward to
 * check the engine against. Layer paths: 01, 03, 05.
 */
final class Mlp {

    static final int IN = 32;
    static final int HIDDEN = 32;
    static final int OUT = 4;

    final SequentialBlock block;
    final float[][][] w = new float[3][][];
    final float[][] b = new float[3][];

    /**
     * Builds the MLP. With {@code outlier}, layer 03 has weight 100 in input column 0 of every row,
     * and layer 01's row 0 is zero with bias -1, so that column always sees ReLU(-1) = 0: the
     * outlier never changes the FP32 output, but with symmetric per-row INT8 (scale 100/127 =
     * 0.787) every other weight of layer 03 (all within +-0.3) rounds to 0.
     */
    Mlp(NDManager m, long seed, boolean outlier) {
        block =
                new SequentialBlock()
                        .add(Linear.builder().setUnits(HIDDEN).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(HIDDEN).build())
                        .add(Activation::relu)
                        .add(Linear.builder().setUnits(OUT).build());
        block.initialize(m, DataType.FLOAT32, new Shape(1, IN));
        Random r = new Random(seed);
        int[][] dims = {{HIDDEN, IN}, {HIDDEN, HIDDEN}, {OUT, HIDDEN}};
        int[] idx = {0, 2, 4};
        for (int l = 0; l < 3; l++) {
            w[l] = new float[dims[l][0]][dims[l][1]];
            b[l] = new float[dims[l][0]];
            for (int o = 0; o < dims[l][0]; o++) {
                for (int i = 0; i < dims[l][1]; i++) {
                    w[l][o][i] = (float) (r.nextDouble() * 0.6 - 0.3);
                }
                b[l][o] = (float) (r.nextDouble() * 0.2 - 0.1);
            }
        }
        if (outlier) {
            java.util.Arrays.fill(w[0][0], 0f);
            b[0][0] = -1f;
            for (int o = 0; o < HIDDEN; o++) {
                w[1][o][0] = 100f;
            }
        }
        for (int l = 0; l < 3; l++) {
            Linear lin = (Linear) block.getChildren().get(idx[l]).getValue();
            float[] flat = new float[w[l].length * w[l][0].length];
            for (int o = 0; o < w[l].length; o++) {
                System.arraycopy(w[l][o], 0, flat, o * w[l][0].length, w[l][0].length);
            }
            lin.getParameters().get("weight").getArray().set(flat);
            lin.getParameters().get("bias").getArray().set(b[l]);
        }
    }

    /** Plain-Java forward of one row, with layer {@code zeroLayer}'s weights replaced by 0. */
    float[] forward(float[] x, int zeroLayer) {
        float[] h = x;
        for (int l = 0; l < 3; l++) {
            float[] y = new float[w[l].length];
            for (int o = 0; o < y.length; o++) {
                double s = b[l][o];
                if (l != zeroLayer) {
                    for (int i = 0; i < h.length; i++) {
                        s += (double) w[l][o][i] * h[i];
                    }
                }
                y[o] = (float) (l < 2 ? Math.max(0, s) : s);
            }
            h = y;
        }
        return h;
    }

    static List<NDList> batches(NDManager m, long seed, int count, int rows) {
        Random r = new Random(seed);
        List<NDList> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            float[] x = new float[rows * IN];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            NDArray a = m.create(x, new Shape(rows, IN));
            out.add(new NDList(a));
        }
        return out;
    }
}
