package org.djlquant.backend.pytorch.internal;

import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import org.djlquant.QuantizationException;

/**
 * A third TorchScript op-library module (next to {@link OpLibrary}, whose archive is a golden file,
 * and {@link WeightOnlyOps}) with one method, {@code linear_relu_dynamic(x, packed, reduce_range)}:
 * {@code quantized::linear_relu_dynamic}, the dynamic INT8 linear with the ReLU applied in fbgemm's
 * requantization (no separate pass over the float output). {@code packed} is a {@code
 * LinearPackedParamsBase} made by {@link OpLibrary}'s {@code prepack}. Written by this class and
 * loaded once per process; Java calls the method through {@link IValueUtils#runMethod}.
 *
 * <p>The module stays open for the life of the process. Thread-safety: {@link #get()} is
 * synchronized; the method is stateless and may run concurrently.
 */
public final class DynamicReluOps {

    /** The TorchScript module path below {@code __torch__}. */
    static final String MODULE = "djlquant.dynamicrelu";

    private static final String SELF = "__torch__.djlquant.dynamicrelu.DynamicReluOps";
    private static final String PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase";

    /** The source of {@code __torch__.djlquant.dynamicrelu}, serialized-code dialect. */
    static final String SOURCE =
            ScriptLibrary.moduleHeader("DynamicReluOps", SELF)
                    + "  def linear_relu_dynamic(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    reduce_range: bool) -> Tensor:\n"
                    + "    return ops.quantized.linear_relu_dynamic(x, packed, reduce_range)\n";

    private static DynamicReluOps instance;

    private final ScriptLibrary library;

    private DynamicReluOps(ScriptLibrary library) {
        this.library = library;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized DynamicReluOps get() throws QuantizationException {
        if (instance == null) {
            instance =
                    new DynamicReluOps(
                            ScriptLibrary.load(
                                    ScriptLibrary.archive(
                                            "dynamic_relu_ops", MODULE, "DynamicReluOps", SOURCE)));
        }
        return instance;
    }

    /**
     * Runs {@code quantized::linear_relu_dynamic}.
     *
     * @param x the float input
     * @param packed the packed weights
     * @param reduceRange the 7-bit activation flag
     * @return the float output; the caller closes it
     * @throws IllegalStateException if libtorch fails (the message is libtorch's)
     */
    public IValue linearReluDynamic(IValue x, IValue packed, IValue reduceRange) {
        return library.run("linear_relu_dynamic", x, packed, reduceRange);
    }
}
