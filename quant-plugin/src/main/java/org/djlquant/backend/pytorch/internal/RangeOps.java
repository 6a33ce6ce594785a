package org.djlquant.backend.pytorch.internal;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import java.util.Arrays;
import org.djlquant.QuantizationException;

/**
 * A third TorchScript op-library module (next to {@link OpLibrary} and {@link WeightOnlyOps}) for
 * the range reductions of the observers: libtorch's {@code aminmax} (minimum and maximum in one
 * pass) and {@code amin} / {@code amax} over several dimensions, which DJL does not expose (DJL's
 * {@code min(axes)} / {@code max(axes)} call {@code torch.min(dim)} / {@code torch.max(dim)}, which
 * also compute the arg-min / arg-max, one dimension at a time). Written by this class and loaded
 * once per process; methods run under libtorch's inference mode (no autograd), which the observers
 * need anyway.
 *
 * <p>Methods: {@code aminmax(x)} returns {@code [min, max]} of all elements (shape {@code [2]});
 * {@code aminmax_dims(x, dims)} returns {@code stack([amin(x, dims), amax(x, dims)])} (shape {@code
 * [2, ...]} with the reduced dimensions removed). Values are the engine's own minimum and maximum,
 * equal to DJL's {@code min()} / {@code max()}; NaN propagates as there.
 *
 * <p>The module and its manager stay open for the life of the process. Thread-safety: {@link
 * #get()} is synchronized; the methods are stateless and may run concurrently.
 */
public final class RangeOps {

    /** The TorchScript module path below {@code __torch__}. */
    static final String MODULE = "djlquant.ranges";

    private static final String SELF = "__torch__.djlquant.ranges.RangeOps";

    /** The source of {@code __torch__.djlquant.ranges}, serialized-code dialect. */
    static final String SOURCE =
            ScriptLibrary.moduleHeader("RangeOps", SELF)
                    + "  def aminmax(self: "
                    + SELF
                    + ",\n    x: Tensor) -> Tensor:\n"
                    + "    mn, mx = torch.aminmax(x)\n"
                    + "    return torch.stack([mn, mx])\n"
                    + "  def aminmax_dims(self: "
                    + SELF
                    + ",\n    x: Tensor,\n    dims: List[int]) -> Tensor:\n"
                    + "    return torch.stack([torch.amin(x, dims), torch.amax(x, dims)])\n";

    private static RangeOps instance;

    private final ScriptLibrary library;

    private RangeOps(ScriptLibrary library) {
        this.library = library;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized RangeOps get() throws QuantizationException {
        if (instance == null) {
            instance = new RangeOps(ScriptLibrary.load(archive()));
        }
        return instance;
    }

    /**
     * Returns the archive of the library.
     *
     * @return the zip bytes, equal on every call
     */
    public static byte[] archive() {
        return ScriptLibrary.archive("range_ops", MODULE, "RangeOps", SOURCE);
    }

    /**
     * Computes the minimum and the maximum of a PyTorch tensor, over all elements or over some
     * dimensions.
     *
     * @param x a PyTorch array (not closed, not modified; its gradient is not tracked)
     * @param dims the dimensions to reduce, or {@code null} for all elements
     * @return a new array {@code [2, ...]} (minima, then maxima), same data type as {@code x},
     *     attached to {@code x}'s manager; the caller closes it
     * @throws IllegalArgumentException if {@code x} is not a PyTorch array
     * @throws IllegalStateException if libtorch fails (the message is libtorch's)
     */
    public NDArray minMax(NDArray x, int[] dims) {
        if (!(x instanceof PtNDArray)) {
            throw new IllegalArgumentException(
                    "range reductions need a PyTorch array, got " + x.getClass().getName());
        }
        PtNDArray px = (PtNDArray) x;
        if (dims == null) {
            try (IValue xv = IValue.from(px);
                    IValue out = library.run("aminmax", xv)) {
                return out.toTensor((PtNDManager) px.getManager());
            }
        }
        long[] d = Arrays.stream(dims).asLongStream().toArray();
        try (IValue xv = IValue.from(px);
                IValue dv = IValue.listFrom(d);
                IValue out = library.run("aminmax_dims", xv, dv)) {
            return out.toTensor((PtNDManager) px.getManager());
        }
    }
}
