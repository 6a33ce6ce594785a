package org.djlquant.backend.pytorch;

import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TorchScriptArchive;

/**
 * Half-precision (FP16 / BF16) tensors and linear layers on libtorch, reached through a small
 * TorchScript module written from Java (as {@code OpLibrary} does for INT8).
 *
 * <p>Why not DJL's {@code NDArray.toType}: with DJL 0.36.0 and libtorch 2.7.1, {@code
 * toType(DataType.BFLOAT16)} (and {@code zeros}/{@code create} with BFLOAT16) abort the JVM
 * ("terminate called without an active exception"); FLOAT16 works. So the half-precision tensors
 * stay libtorch {@link IValue}s that Java never reads as NDArrays, and only FP32 tensors cross
 * back.
 *
 * <p>Module methods (serialized-code dialect, all under libtorch's inference mode): {@code cast(x,
 * dtype)}; {@code round_trip(x, dtype)} = cast to the half type and back to FP32 (the rounding a
 * half-precision store adds); {@code linear(x, w, b, dtype)} and {@code linear_no_bias(x, w,
 * dtype)} = cast {@code x} to the half type, {@code aten::linear} in that type, cast the result to
 * FP32. The module lives for the process; thread-safe.
 */
public final class HalfPrecisionOps {

    /** libtorch's ScalarType code of float16. */
    public static final long FLOAT16 = 5;

    /** libtorch's ScalarType code of bfloat16. */
    public static final long BFLOAT16 = 15;

    private static final String MODULE = "djlquant.half";
    private static final String SELF = "__torch__.djlquant.half.HalfOps";
    private static final String SOURCE =
            "class HalfOps(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  def forward(self: "
                    + SELF
                    + ",\n    x: Tensor) -> Tensor:\n"
                    + "    return x\n"
                    + "  def cast(self: "
                    + SELF
                    + ",\n    x: Tensor,\n    dtype: int) -> Tensor:\n"
                    + "    return torch.to(x, dtype, False, True, None)\n"
                    + "  def round_trip(self: "
                    + SELF
                    + ",\n    x: Tensor,\n    dtype: int) -> Tensor:\n"
                    + "    h = torch.to(x, dtype, False, False, None)\n"
                    + "    return torch.to(h, 6, False, False, None)\n"
                    + "  def linear(self: "
                    + SELF
                    + ",\n    x: Tensor,\n    w: Tensor,\n    b: Tensor,\n    dtype: int) -> Tensor:\n"
                    + "    h = torch.to(x, dtype, False, False, None)\n"
                    + "    return torch.to(torch.linear(h, w, b), 6, False, False, None)\n"
                    + "  def linear_no_bias(self: "
                    + SELF
                    + ",\n    x: Tensor,\n    w: Tensor,\n    dtype: int) -> Tensor:\n"
                    + "    h = torch.to(x, dtype, False, False, None)\n"
                    + "    return torch.to(torch.linear(h, w, None), 6, False, False, None)\n";

    private static PtSymbolBlock module;

    private HalfPrecisionOps() {}

    private static synchronized PtSymbolBlock module() throws QuantizationException {
        if (module == null) {
            PtNDManager manager = (PtNDManager) Engine.getEngine("PyTorch").newBaseManager();
            Map<String, Object> state = new LinkedHashMap<>();
            state.put("training", false);
            byte[] archive =
                    TorchScriptArchive.builder("half_ops")
                            .addCode(MODULE, SOURCE)
                            .setRoot(
                                    new Pickler.ScriptObject(
                                            "__torch__." + MODULE, "HalfOps", state))
                            .toBytes();
            try {
                module = TorchScriptArchive.load(archive, manager);
            } catch (QuantizationException | RuntimeException e) {
                manager.close();
                throw e;
            }
        }
        return module;
    }

    private static IValue run(String method, IValue... args) {
        try {
            return IValueUtils.runMethod(module(), method, args);
        } catch (EngineException e) {
            throw new IllegalStateException(
                    "libtorch failed in " + method + ": " + e.getMessage(), e);
        } catch (QuantizationException e) {
            throw new IllegalStateException("the half-precision op module did not load", e);
        }
    }

    /**
     * Rounds an FP32 array to a half type and back (the error of storing it in that type).
     *
     * @param x a PyTorch FP32 array; not closed
     * @param dtype {@link #FLOAT16} or {@link #BFLOAT16}
     * @return a new FP32 array attached to {@code x}'s manager; the caller closes it
     */
    public static NDArray roundTrip(NDArray x, long dtype) {
        checkType(dtype);
        PtNDArray px = (PtNDArray) x;
        try (IValue xv = IValue.from(px);
                IValue dv = IValue.from(dtype);
                IValue out = run("round_trip", xv, dv)) {
            return out.toTensor((PtNDManager) px.getManager());
        }
    }

    /**
     * A linear layer whose weight and bias are stored in a half type inside libtorch.
     *
     * <p>Close it exactly once (closing twice is harmless); forwards after close throw.
     */
    public static final class Layer implements AutoCloseable {
        private final IValue weight;
        private final IValue bias;
        private final IValue dtype;
        private final long in;
        private final long out;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Layer(IValue weight, IValue bias, IValue dtype, long in, long out) {
            this.weight = weight;
            this.bias = bias;
            this.dtype = dtype;
            this.in = in;
            this.out = out;
        }

        /**
         * Copies an FP32 weight {@code [out, in]} and bias into a half type.
         *
         * @param weight the FP32 weight; not closed
         * @param bias the FP32 bias, or null; not closed
         * @param dtype {@link #FLOAT16} or {@link #BFLOAT16}
         * @return the layer; the caller closes it
         */
        public static Layer of(NDArray weight, NDArray bias, long dtype) {
            checkType(dtype);
            IValue d = IValue.from(dtype);
            IValue w;
            IValue b = null;
            try (IValue wf = IValue.from((PtNDArray) weight)) {
                w = run("cast", wf, d);
            }
            if (bias != null) {
                try (IValue bf = IValue.from((PtNDArray) bias)) {
                    b = run("cast", bf, d);
                }
            }
            return new Layer(w, b, d, weight.getShape().get(1), weight.getShape().get(0));
        }

        /**
         * Runs the layer: {@code x} cast to the half type, linear in that type, result cast to
         * FP32.
         *
         * @param x a PyTorch FP32 array {@code [..., in]}; not closed
         * @return a new FP32 array {@code [..., out]} attached to {@code x}'s manager; the caller
         *     closes it. Computed under inference mode: no gradient
         * @throws IllegalStateException if closed
         * @throws IllegalArgumentException if the last dimension of {@code x} is not {@code in}
         */
        public NDArray forward(NDArray x) {
            if (closed.get()) {
                throw new IllegalStateException("half-precision linear layer is closed");
            }
            long last =
                    x.getShape().dimension() == 0
                            ? -1
                            : x.getShape().get(x.getShape().dimension() - 1);
            if (last != in) {
                throw new IllegalArgumentException(
                        "input shape was " + x.getShape() + ", must be (..., " + in + ")");
            }
            PtNDArray px = (PtNDArray) x;
            try (IValue xv = IValue.from(px);
                    IValue y =
                            bias == null
                                    ? run("linear_no_bias", xv, weight, dtype)
                                    : run("linear", xv, weight, bias, dtype)) {
                return y.toTensor((PtNDManager) px.getManager());
            }
        }

        /**
         * Returns the number of output features.
         *
         * @return out
         */
        public long outFeatures() {
            return out;
        }

        /**
         * Returns the bytes of the stored weight and bias (2 per element).
         *
         * @return the bytes
         */
        public long bytes() {
            return 2 * (in * out + (bias == null ? 0 : out));
        }

        /** Frees the half-precision tensors; idempotent. */
        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                weight.close();
                if (bias != null) {
                    bias.close();
                }
                dtype.close();
            }
        }
    }

    private static void checkType(long dtype) {
        if (dtype != FLOAT16 && dtype != BFLOAT16) {
            throw new IllegalArgumentException(
                    "dtype was " + dtype + ", must be FLOAT16 (5) or BFLOAT16 (15)");
        }
    }
}
