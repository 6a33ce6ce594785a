package org.djlquant.backend.pytorch.internal;

import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import org.djlquant.QuantizationException;

/**
 * A second TorchScript op-library module (next to {@link OpLibrary}, whose archive is a golden
 * file) for libtorch's weight-only linear kernels on CPU, written by this class and loaded once per
 * process. Java calls its methods through {@link IValueUtils#runMethod} and keeps the results as
 * {@link IValue}s.
 *
 * <p>Methods (all run under libtorch's inference mode):
 *
 * <ul>
 *   <li>{@code keep(t)}: {@code torch.clone(t)}, a tensor owned by libtorch (DJL's tensors made
 *       from Java arrays sit on direct buffers the garbage collector frees; see {@link OpLibrary});
 *   <li>{@code pack_int4(w)}: {@code aten::_convert_weight_to_int4pack_for_cpu(w, 1)} on an int32
 *       {@code [N, K]} tensor of values in {@code [0, 15]}; returns uint8 {@code [N, K / 2]};
 *   <li>{@code keep_bf16(t)}: a bfloat16 copy of {@code t} (scales for the bfloat16 methods);
 *   <li>{@code int8_linear[_bf16][_bias](x, w, scales[, bias])} (names from {@link #method}):
 *       {@code aten::_weight_int8pack_mm} on {@code x} flattened to {@code [M, K]} (int8 {@code w
 *       [N, K]}, {@code scales [N]} of the activation dtype: {@code y[m][n] = Σ_k x[m][k] ·
 *       (w[n][k] · scales[n])}), bias added in float32, reshaped to {@code [..., N]}. The {@code
 *       _bf16} forms cast {@code x} to bfloat16 for the kernel (its vectorized path) and the result
 *       back to float32;
 *   <li>{@code int4_linear[_bf16][_bias](x, packed, group, scales_zeros[, bias])}: {@code
 *       aten::_weight_int4pack_mm_for_cpu} ({@code w[n][k] = (q[n][k] - 8) · sz[k / group][n][0] +
 *       sz[k / group][n][1]}), likewise.
 * </ul>
 *
 * <p>The module and its manager stay open for the life of the process. Thread-safety: {@link
 * #get()} is synchronized; the methods are stateless and may run concurrently.
 */
public final class WeightOnlyOps {

    /** The TorchScript module path below {@code __torch__}. */
    static final String MODULE = "djlquant.weightonly";

    private static final String SELF = "__torch__.djlquant.weightonly.WeightOnlyOps";

    private static String header(String name) {
        return "  def " + name + "(self: " + SELF + ",\n";
    }

    /**
     * One linear method: {@code x} flattened to {@code [M, K]}, optionally cast to bfloat16, the
     * kernel call, the result cast back to float32, bias added, reshaped to {@code [..., N]}.
     */
    private static String linear(String name, boolean int4, boolean bf16, boolean bias) {
        StringBuilder sb = new StringBuilder(header(name)).append("    x: Tensor,\n");
        sb.append(
                int4
                        ? "    packed: Tensor,\n    group: int,\n    scales_zeros: Tensor"
                        : "    w: Tensor,\n    scales: Tensor");
        sb.append(bias ? ",\n    bias: Tensor) -> Tensor:\n" : ") -> Tensor:\n");
        String w = int4 ? "packed" : "w";
        sb.append("    lead = x.size()[:-1]\n");
        sb.append("    x2 = x.reshape([-1, x.size(-1)]).contiguous()\n");
        if (bf16) {
            sb.append("    x2 = torch.to(x2, 15, False, False, None)\n");
        }
        sb.append(
                int4
                        ? "    y = torch._weight_int4pack_mm_for_cpu(x2, packed, group,"
                                + " scales_zeros)\n"
                        : "    y = torch._weight_int8pack_mm(x2, w, scales)\n");
        if (bf16) {
            sb.append("    y = torch.to(y, 6, False, False, None)\n");
        }
        if (bias) {
            sb.append("    y = y + bias\n");
        }
        sb.append("    return y.reshape(lead + [").append(w).append(".size(0)])\n");
        return sb.toString();
    }

    private static String linears() {
        StringBuilder sb = new StringBuilder();
        for (boolean int4 : new boolean[] {false, true}) {
            for (boolean bf16 : new boolean[] {false, true}) {
                for (boolean bias : new boolean[] {false, true}) {
                    sb.append(linear(method(int4, bf16, bias), int4, bf16, bias));
                }
            }
        }
        return sb.toString();
    }

    /**
     * Returns the name of a linear method.
     *
     * @param int4 INT4 (else INT8)
     * @param bf16 activations cast to bfloat16 for the kernel (else float32)
     * @param bias with a bias argument
     * @return e.g. {@code int4_linear_bf16_bias}
     */
    public static String method(boolean int4, boolean bf16, boolean bias) {
        return (int4 ? "int4" : "int8") + "_linear" + (bf16 ? "_bf16" : "") + (bias ? "_bias" : "");
    }

    /** The source of {@code __torch__.djlquant.weightonly}, serialized-code dialect. */
    static final String SOURCE =
            ScriptLibrary.moduleHeader("WeightOnlyOps", SELF)
                    + header("keep")
                    + "    t: Tensor) -> Tensor:\n"
                    + "    return torch.clone(t)\n"
                    + header("keep_bf16")
                    + "    t: Tensor) -> Tensor:\n"
                    + "    return torch.to(t, 15, False, True, None)\n"
                    + header("pack_int4")
                    + "    w: Tensor) -> Tensor:\n"
                    + "    return torch._convert_weight_to_int4pack_for_cpu(w.contiguous(), 1)\n"
                    + linears();

    private static WeightOnlyOps instance;

    private final ScriptLibrary library;

    private WeightOnlyOps(ScriptLibrary library) {
        this.library = library;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized WeightOnlyOps get() throws QuantizationException {
        if (instance == null) {
            instance = new WeightOnlyOps(ScriptLibrary.load(archive()));
        }
        return instance;
    }

    /**
     * Returns the archive of the library.
     *
     * @return the zip bytes, equal on every call
     */
    public static byte[] archive() {
        return ScriptLibrary.archive("weight_only_ops", MODULE, "WeightOnlyOps", SOURCE);
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
