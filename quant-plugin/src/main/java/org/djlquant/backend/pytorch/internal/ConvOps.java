package org.djlquant.backend.pytorch.internal;

import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import org.djlquant.QuantizationException;

/**
 * A TorchScript op-library module (next to {@link OpLibrary}, whose archive is a golden file) for
 * libtorch's static quantized 2-D convolution, written by this class and loaded once per process.
 * Java calls its methods through {@link IValueUtils#runMethod} and keeps the results (tensors,
 * {@code Conv2dPackedParamsBase} objects) as {@link IValue}s.
 *
 * <p>Methods (all run under libtorch's inference mode):
 *
 * <ul>
 *   <li>{@code prepack_per_tensor(w_int8, scale, zero_point, bias, stride, padding, dilation,
 *       groups)}: a per-tensor {@code qint8} weight {@code [O, I/groups, kH, kW]} from int8 values
 *       ({@code torch._make_per_tensor_quantized_tensor}) packed for the current quantized engine
 *       ({@code quantized::conv2d_prepack}, float bias);
 *   <li>{@code prepack_per_channel(w_int8, scales, zero_points, bias, stride, padding, dilation,
 *       groups)}: the same with per-output-channel parameters (axis 0, {@code
 *       torch._make_per_channel_quantized_tensor});
 *   <li>{@code conv_static(x, packed, in_scale, in_zp, in_qmax, out_scale, out_zp)} and {@code
 *       conv_relu_static(...)}: clamp the float NCHW input to the real range of the integer levels
 *       {@code [0, in_qmax]} (a 7-bit calibrated range stays 7-bit, as the simulation clamps it),
 *       quantize it to {@code quint8}, {@code quantized::conv2d} or {@code quantized::conv2d_relu},
 *       dequantize to a float tensor in the kernel's channels-last layout (its shape is NCHW; a
 *       copy to NCHW memory took most of the layer's time: 6.9 ms of a batch-8 64-channel 56x56
 *       layer's 8.7 ms; the next conv quantizes channels-last input without a copy);
 *   <li>{@code conv_q(xq, packed, out_scale, out_zp, out_qmax)} and {@code conv_relu_q(...)}: the
 *       kernel on an already quantized input, the output left quantized (clamped to {@code [0,
 *       out_qmax]} when that is below 255, as the simulation clamps a 7-bit grid);
 *   <li>{@code quantize_input(x, in_scale, in_zp, in_qmax)}: the float input clamped and quantized
 *       as {@code conv_static} does, left quantized (the first layer of an INT8 chain).
 * </ul>
 *
 * <p>The prepack methods copy every tensor argument ({@code torch.clone}) before libtorch keeps it,
 * for the reason given in {@link OpLibrary} (tensors made from Java arrays sit on direct buffers
 * the garbage collector frees).
 *
 * <p>The module and its manager stay open for the life of the process. Thread-safety: {@link
 * #get()} is synchronized; the methods are stateless and may run concurrently.
 */
public final class ConvOps {

    /** The TorchScript module path below {@code __torch__}. */
    static final String MODULE = "djlquant.conv";

    private static final String SELF = "__torch__.djlquant.conv.ConvOps";
    private static final String PACKED = "__torch__.torch.classes.quantized.Conv2dPackedParamsBase";

    private static String header(String name) {
        return "  def " + name + "(self: " + SELF + ",\n";
    }

    private static String prepack(boolean perChannel) {
        String make =
                perChannel
                        ? "    w = torch._make_per_channel_quantized_tensor(torch.clone(w_int8),"
                                + " torch.clone(scales), torch.clone(zero_points), 0)\n"
                        : "    w = torch._make_per_tensor_quantized_tensor(torch.clone(w_int8),"
                                + " scale, zero_point)\n";
        return header(perChannel ? "prepack_per_channel" : "prepack_per_tensor")
                + "    w_int8: Tensor,\n"
                + (perChannel
                        ? "    scales: Tensor,\n    zero_points: Tensor,\n"
                        : "    scale: float,\n    zero_point: int,\n")
                + "    bias: Tensor,\n"
                + "    stride: List[int],\n"
                + "    padding: List[int],\n"
                + "    dilation: List[int],\n"
                + "    groups: int) -> "
                + PACKED
                + ":\n"
                + make
                + "    return ops.quantized.conv2d_prepack(w, torch.clone(bias), stride, padding,"
                + " dilation, groups)\n";
    }

    private static String staticConv(String name, String op) {
        return header(name)
                + "    x: Tensor,\n"
                + "    packed: "
                + PACKED
                + ",\n"
                + "    in_scale: float,\n"
                + "    in_zp: int,\n"
                + "    in_qmax: int,\n"
                + "    out_scale: float,\n"
                + "    out_zp: int,\n"
                + "    out_qmax: int) -> Tensor:\n"
                + "    lo = float(0 - in_zp) * in_scale\n"
                + "    hi = float(in_qmax - in_zp) * in_scale\n"
                + "    xq = torch.quantize_per_tensor(torch.clamp(x, lo, hi), in_scale, in_zp,"
                + " 13)\n"
                + "    yq = ops.quantized."
                + op
                + "(xq, packed, out_scale, out_zp)\n"
                + "    y = torch.dequantize(yq)\n"
                + "    return torch.clamp_max(y, float(out_qmax - out_zp) * out_scale)\n";
    }

    private static String quantizedConv(String name, String op) {
        return header(name)
                + "    xq: Tensor,\n"
                + "    packed: "
                + PACKED
                + ",\n"
                + "    out_scale: float,\n"
                + "    out_zp: int,\n"
                + "    out_qmax: int) -> Tensor:\n"
                + "    yq = ops.quantized."
                + op
                + "(xq, packed, out_scale, out_zp)\n"
                + "    if out_qmax < 255:\n"
                + "      yq = torch.clamp(yq, float(0 - out_zp) * out_scale, float(out_qmax - out_zp)"
                + " * out_scale)\n"
                + "    return yq\n";
    }

    private static String quantizeInput() {
        return header("quantize_input")
                + "    x: Tensor,\n"
                + "    in_scale: float,\n"
                + "    in_zp: int,\n"
                + "    in_qmax: int) -> Tensor:\n"
                + "    lo = float(0 - in_zp) * in_scale\n"
                + "    hi = float(in_qmax - in_zp) * in_scale\n"
                + "    return torch.quantize_per_tensor(torch.clamp(x, lo, hi), in_scale, in_zp,"
                + " 13)\n";
    }

    /** The source of {@code __torch__.djlquant.conv}, serialized-code dialect. */
    static final String SOURCE =
            ScriptLibrary.moduleHeader("ConvOps", SELF)
                    + prepack(false)
                    + prepack(true)
                    + staticConv("conv_static", "conv2d")
                    + staticConv("conv_relu_static", "conv2d_relu")
                    + quantizedConv("conv_q", "conv2d")
                    + quantizedConv("conv_relu_q", "conv2d_relu")
                    + quantizeInput();

    private static ConvOps instance;

    private final ScriptLibrary library;

    private ConvOps(ScriptLibrary library) {
        this.library = library;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized ConvOps get() throws QuantizationException {
        if (instance == null) {
            instance = new ConvOps(ScriptLibrary.load(archive()));
        }
        return instance;
    }

    /**
     * Returns the archive of the library.
     *
     * @return the zip bytes, equal on every call
     */
    public static byte[] archive() {
        return ScriptLibrary.archive("conv_ops", MODULE, "ConvOps", SOURCE);
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
