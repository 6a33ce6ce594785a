package org.djlquant.backend.pytorch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.pooling.Pool;
import java.util.ArrayList;
import java.util.List;

/**
 * Factories for parameter-free blocks that an export recognises. DJL makes activations, pooling,
 * flatten and parallel joins as {@link LambdaBlock}s / {@link ParallelBlock}s around Java lambdas,
 * which no exporter can read back; the blocks made here compute the same thing in DJL and are of
 * small final classes that {@link Lowerings} knows, carrying their settings. Use them in models you
 * mean to export (a {@code LambdaBlock} from DJL's own factories is refused at export, naming its
 * path).
 */
public final class ExportableBlocks {

    private ExportableBlocks() {}

    /** A recognisable single-input lambda block. */
    static final class Op extends LambdaBlock {
        final String kind;
        final long[] settings;

        Op(String kind, long[] settings, java.util.function.Function<NDArray, NDArray> f) {
            super(list -> new NDList(f.apply(list.singletonOrThrow())), kind);
            this.kind = kind;
            this.settings = settings.clone();
        }
    }

    /** A recognisable parallel block: branches on the same inputs, joined by concat or sum. */
    static final class Join extends ParallelBlock {
        final boolean concat;
        final int axis;

        Join(boolean concat, int axis, List<Block> branches) {
            super(lists -> join(concat, axis, lists), new ArrayList<>(branches));
            this.concat = concat;
            this.axis = axis;
        }

        private static NDList join(boolean concat, int axis, List<NDList> lists) {
            NDArray[] heads = new NDArray[lists.size()];
            for (int i = 0; i < heads.length; i++) {
                heads[i] = lists.get(i).head();
            }
            if (concat) {
                return new NDList(NDArrays.concat(new NDList(heads), axis));
            }
            NDArray sum = heads[0];
            for (int i = 1; i < heads.length; i++) {
                sum = sum.add(heads[i]);
            }
            return new NDList(sum);
        }
    }

    /**
     * ReLU, {@code max(x, 0)}.
     *
     * @return the block
     */
    public static Block relu() {
        return new Op("relu", new long[0], Activation::relu);
    }

    /**
     * GELU with the exact (erf) form, as BERT uses.
     *
     * @return the block
     */
    public static Block gelu() {
        return new Op("gelu", new long[0], Activation::gelu);
    }

    /**
     * Flattens {@code [N, ...]} to {@code [N, -1]}.
     *
     * @return the block
     */
    public static Block flatten() {
        return new Op("flatten", new long[0], x -> x.reshape(x.getShape().get(0), -1));
    }

    /**
     * 2-D max pooling over {@code [N, C, H, W]}, square window, no ceil mode.
     *
     * @param kernel the window side
     * @param stride the stride
     * @param padding the zero padding on each side
     * @return the block
     */
    public static Block maxPool2d(int kernel, int stride, int padding) {
        checkPool(kernel, stride, padding);
        return new Op(
                "maxPool2d",
                new long[] {kernel, stride, padding},
                x ->
                        Pool.maxPool2d(
                                x,
                                new Shape(kernel, kernel),
                                new Shape(stride, stride),
                                new Shape(padding, padding),
                                false));
    }

    /**
     * 2-D average pooling over {@code [N, C, H, W]}, square window, padding counted, no ceil mode.
     *
     * @param kernel the window side
     * @param stride the stride
     * @param padding the zero padding on each side
     * @return the block
     */
    public static Block avgPool2d(int kernel, int stride, int padding) {
        checkPool(kernel, stride, padding);
        return new Op(
                "avgPool2d",
                new long[] {kernel, stride, padding},
                x ->
                        Pool.avgPool2d(
                                x,
                                new Shape(kernel, kernel),
                                new Shape(stride, stride),
                                new Shape(padding, padding),
                                false,
                                true));
    }

    /**
     * Global average pooling {@code [N, C, H, W] -> [N, C]} (the mean over H and W).
     *
     * @return the block
     */
    public static Block globalAvgPool2d() {
        // DJL's PyTorch engine reduces over one axis at a time: the mean of the [N, C, H * W] view
        return new Op(
                "globalAvgPool2d",
                new long[0],
                x -> x.reshape(x.getShape().get(0), x.getShape().get(1), -1).mean(new int[] {2}));
    }

    /**
     * Runs branches on the same inputs and concatenates their first outputs along an axis.
     *
     * @param axis the axis
     * @param branches the branches, at least one
     * @return the block
     */
    public static Block concat(int axis, List<Block> branches) {
        checkBranches(branches);
        return new Join(true, axis, branches);
    }

    /**
     * Runs branches on the same inputs and adds their first outputs (a residual connection is
     * {@code add(List.of(body, identity()))}).
     *
     * @param branches the branches, at least one
     * @return the block
     */
    public static Block add(List<Block> branches) {
        checkBranches(branches);
        return new Join(false, 0, branches);
    }

    /**
     * The identity.
     *
     * @return the block
     */
    public static Block identity() {
        return new Op("identity", new long[0], x -> x);
    }

    private static void checkBranches(List<Block> branches) {
        if (branches == null || branches.isEmpty()) {
            throw new IllegalArgumentException(
                    "branches was " + branches + ", must hold at least one block");
        }
    }

    private static void checkPool(int kernel, int stride, int padding) {
        if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2) {
            throw new IllegalArgumentException(
                    "pooling was kernel "
                            + kernel
                            + ", stride "
                            + stride
                            + ", padding "
                            + padding
                            + "; must be kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2");
        }
    }
}
