package org.djlquant.backend.pytorch.internal;

import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import java.util.LinkedHashMap;
import java.util.Map;
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
 *   <li>{@code int8_linear(x, w, scales, bias)} and {@code int8_linear_no_bias(x, w, scales)}:
 *       {@code aten::_weight_int8pack_mm} on {@code x} flattened to {@code [M, K]} (int8 {@code w
 *       [N, K]}, float {@code scales [N]}: {@code y[m][n] = Σ_k x[m][k] · (w[n][k] · scales[n])}),
 *       bias added, reshaped to {@code [..., N]};
 *   <li>{@code int4_linear(x, packed, group, scales_zeros, bias)} and {@code
 *       int4_linear_no_bias(...)}: {@code aten::_weight_int4pack_mm_for_cpu} ({@code w[n][k] =
 *       (q[n][k] - 8) · sz[k / group][n][0] + sz[k / group][n][1]}), likewise.
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

    /** The source of {@code __torch__.djlquant.weightonly}, serialized-code dialect. */
    static final String SOURCE =
            "class WeightOnlyOps(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + header("forward")
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return x\n"
                    + header("keep")
                    + "    t: Tensor) -> Tensor:\n"
                    + "    return torch.clone(t)\n"
                    + header("pack_int4")
                    + "    w: Tensor) -> Tensor:\n"
                    + "    return torch._convert_weight_to_int4pack_for_cpu(w.contiguous(), 1)\n"
                    + header("int8_linear_no_bias")
                    + "    x: Tensor,\n"
                    + "    w: Tensor,\n"
                    + "    scales: Tensor) -> Tensor:\n"
                    + "    lead = x.size()[:-1]\n"
                    + "    x2 = x.reshape([-1, w.size(1)]).contiguous()\n"
                    + "    y = torch._weight_int8pack_mm(x2, w, scales)\n"
                    + "    return y.reshape(lead + [w.size(0)])\n"
                    + header("int8_linear")
                    + "    x: Tensor,\n"
                    + "    w: Tensor,\n"
                    + "    scales: Tensor,\n"
                    + "    bias: Tensor) -> Tensor:\n"
                    + "    lead = x.size()[:-1]\n"
                    + "    x2 = x.reshape([-1, w.size(1)]).contiguous()\n"
                    + "    y = torch._weight_int8pack_mm(x2, w, scales) + bias\n"
                    + "    return y.reshape(lead + [w.size(0)])\n"
                    + header("int4_linear_no_bias")
                    + "    x: Tensor,\n"
                    + "    packed: Tensor,\n"
                    + "    group: int,\n"
                    + "    scales_zeros: Tensor) -> Tensor:\n"
                    + "    lead = x.size()[:-1]\n"
                    + "    x2 = x.reshape([-1, x.size(-1)]).contiguous()\n"
                    + "    y = torch._weight_int4pack_mm_for_cpu(x2, packed, group, scales_zeros)\n"
                    + "    return y.reshape(lead + [packed.size(0)])\n"
                    + header("int4_linear")
                    + "    x: Tensor,\n"
                    + "    packed: Tensor,\n"
                    + "    group: int,\n"
                    + "    scales_zeros: Tensor,\n"
                    + "    bias: Tensor) -> Tensor:\n"
                    + "    lead = x.size()[:-1]\n"
                    + "    x2 = x.reshape([-1, x.size(-1)]).contiguous()\n"
                    + "    y = torch._weight_int4pack_mm_for_cpu(x2, packed, group, scales_zeros)\n"
                    + "    y = y + bias\n"
                    + "    return y.reshape(lead + [packed.size(0)])\n";

    private static WeightOnlyOps instance;

    private final PtNDManager manager;
    private final PtSymbolBlock module;

    private WeightOnlyOps(PtNDManager manager, PtSymbolBlock module) {
        this.manager = manager;
        this.module = module;
    }

    /**
     * Returns the library, writing and loading it on first use.
     *
     * @return the library
     * @throws QuantizationException if libtorch refuses the module
     */
    public static synchronized WeightOnlyOps get() throws QuantizationException {
        if (instance == null) {
            PtNDManager manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager();
            try {
                PtSymbolBlock module = TorchScriptArchive.load(archive(), manager);
                instance = new WeightOnlyOps(manager, module);
            } catch (QuantizationException | RuntimeException e) {
                manager.close();
                throw e;
            }
        }
        return instance;
    }

    /**
     * Returns the archive of the library.
     *
     * @return the zip bytes, equal on every call
     */
    public static byte[] archive() {
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("training", false);
        return TorchScriptArchive.builder("weight_only_ops")
                .addCode(MODULE, SOURCE)
                .setRoot(new Pickler.ScriptObject("__torch__." + MODULE, "WeightOnlyOps", state))
                .toBytes();
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
        try {
            return IValueUtils.runMethod(module, method, args);
        } catch (EngineException e) {
            throw new IllegalStateException(
                    "libtorch failed in " + method + ": " + e.getMessage(), e);
        }
    }
}
