package org.djlquant.backend.pytorch.internal;

import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import org.djlquant.QuantizationException;

/**
 * A TorchScript module, written by this class and loaded once per process, whose methods call
 * libtorch's quantized operators. Java calls its methods one by one through {@link
 * IValueUtils#runMethod} and keeps the results (tensors, {@code LinearPackedParamsBase} objects) as
 * {@link IValue}s.
 *
 * <p>The prepack methods copy their tensor arguments ({@code torch.clone}) before libtorch keeps
 * them: DJL creates tensors from Java arrays with {@code from_blob} over a direct {@code
 * ByteBuffer} that the Java garbage collector frees once the {@code NDArray} is closed and
 * unreachable. Packed weights that kept such a tensor (fbgemm keeps the bias and the original
 * weight, the per-channel quantizer keeps scales and zero points) read freed memory after a garbage
 * collection: wrong outputs, seen as plausible values or garbage such as 1e29.
 *
 * <p>Methods (all run under libtorch's inference mode, as DJL's {@code runMethod} does):
 *
 * <ul>
 *   <li>{@code prepack(w_int8, scales, zero_points, axis, bias)} and {@code prepack_no_bias(...)}:
 *       builds a per-channel {@code qint8} weight from int8 values ({@code
 *       torch._make_per_channel_quantized_tensor}) and packs it for the current quantized engine
 *       ({@code quantized::linear_prepack});
 *   <li>{@code linear_dynamic(x, packed, reduce_range)}: {@code quantized::linear_dynamic};
 *   <li>{@code linear_static(x, packed, in_scale, in_zp, out_scale, out_zp)} and {@code
 *       linear_relu_static(...)}: quantize the input to {@code quint8}, {@code quantized::linear}
 *       or {@code quantized::linear_relu}, dequantize;
 *   <li>{@code quantize(x, scale, zp)}, {@code dequantize(xq)}, {@code linear_q(xq, packed,
 *       out_scale, out_zp)} and {@code linear_relu_q(...)}: the same steps one by one, so a chain
 *       of static layers keeps its activations quantized ({@code quint8}) inside libtorch.
 * </ul>
 *
 * <p>The module and the manager it lives in stay open for the life of the process. Thread-safety:
 * {@link #get()} is synchronized; the module's methods are stateless and may run concurrently.
 */
public final class OpLibrary {

    /** The TorchScript module path below {@code __torch__}. */
    static final String MODULE = "djlquant.ops";

    private static final String SELF = "__torch__.djlquant.ops.QuantizedOps";
    private static final String PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase";

    /** The source of {@code __torch__.djlquant.ops}, serialized-code dialect. */
    static final String SOURCE =
            ScriptLibrary.moduleHeader("QuantizedOps", SELF)
                    + "  def prepack(self: "
                    + SELF
                    + ",\n"
                    + "    w_int8: Tensor,\n"
                    + "    scales: Tensor,\n"
                    + "    zero_points: Tensor,\n"
                    + "    axis: int,\n"
                    + "    bias: Tensor) -> "
                    + PACKED
                    + ":\n"
                    + "    w = torch._make_per_channel_quantized_tensor(torch.clone(w_int8),"
                    + " torch.clone(scales), torch.clone(zero_points), axis)\n"
                    + "    return ops.quantized.linear_prepack(w, torch.clone(bias))\n"
                    + "  def prepack_no_bias(self: "
                    + SELF
                    + ",\n"
                    + "    w_int8: Tensor,\n"
                    + "    scales: Tensor,\n"
                    + "    zero_points: Tensor,\n"
                    + "    axis: int) -> "
                    + PACKED
                    + ":\n"
                    + "    w = torch._make_per_channel_quantized_tensor(torch.clone(w_int8),"
                    + " torch.clone(scales), torch.clone(zero_points), axis)\n"
                    + "    return ops.quantized.linear_prepack(w, None)\n"
                    + "  def linear_dynamic(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    reduce_range: bool) -> Tensor:\n"
                    + "    return ops.quantized.linear_dynamic(x, packed, reduce_range)\n"
                    + "  def linear_static(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    in_scale: float,\n"
                    + "    in_zp: int,\n"
                    + "    out_scale: float,\n"
                    + "    out_zp: int) -> Tensor:\n"
                    + "    xq = torch.quantize_per_tensor(x, in_scale, in_zp, 13)\n"
                    + "    yq = ops.quantized.linear(xq, packed, out_scale, out_zp)\n"
                    + "    return torch.dequantize(yq)\n"
                    + "  def linear_relu_static(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    in_scale: float,\n"
                    + "    in_zp: int,\n"
                    + "    out_scale: float,\n"
                    + "    out_zp: int) -> Tensor:\n"
                    + "    xq = torch.quantize_per_tensor(x, in_scale, in_zp, 13)\n"
                    + "    yq = ops.quantized.linear_relu(xq, packed, out_scale, out_zp)\n"
                    + "    return torch.dequantize(yq)\n"
                    + "  def quantize(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor,\n"
                    + "    scale: float,\n"
                    + "    zp: int) -> Tensor:\n"
                    + "    return torch.quantize_per_tensor(x, scale, zp, 13)\n"
                    + "  def dequantize(self: "
                    + SELF
                    + ",\n"
                    + "    xq: Tensor) -> Tensor:\n"
                    + "    return torch.dequantize(xq)\n"
                    + "  def linear_q(self: "
                    + SELF
                    + ",\n"
                    + "    xq: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    out_scale: float,\n"
                    + "    out_zp: int) -> Tensor:\n"
                    + "    return ops.quantized.linear(xq, packed, out_scale, out_zp)\n"
                    + "  def linear_relu_q(self: "
                    + SELF
                    + ",\n"
                    + "    xq: Tensor,\n"
                    + "    packed: "
                    + PACKED
                    + ",\n"
                    + "    out_scale: float,\n"
                    + "    out_zp: int) -> Tensor:\n"
                    + "    return ops.quantized.linear_relu(xq, packed, out_scale, out_zp)\n";

    private static OpLibrary instance;

    private final ScriptLibrary library;

    private OpLibrary(ScriptLibrary library) {
        this.library = library;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized OpLibrary get() throws QuantizationException {
        if (instance == null) {
            instance = new OpLibrary(ScriptLibrary.load(archive()));
        }
        return instance;
    }

    /**
     * Returns the archive of the library.
     *
     * @return the zip bytes, equal on every call
     */
    public static byte[] archive() {
        return ScriptLibrary.archive("quantized_ops", MODULE, "QuantizedOps", SOURCE);
    }

    /**
     * Runs one method of the library.
     *
     * @param method the method name
     * @param args the arguments; the caller keeps ownership
     * @return the result; the caller closes it
     * @throws IllegalStateException if libtorch fails (the message is libtorch's)
     */
    public IValue run(String method, IValue... args) {
        return library.run(method, args);
    }
}
