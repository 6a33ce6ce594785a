package org.djlquant.backend.pytorch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.djlquant.QuantizationException;
import org.djlquant.backend.pytorch.internal.Pickler;
import org.djlquant.backend.pytorch.internal.TensorData;
import org.djlquant.backend.pytorch.internal.TorchScriptArchive;

/**
 * Writes one INT8 linear layer as a standalone TorchScript model ({@code .pt}) that plain DJL loads
 * with the PyTorch engine ({@code Model.load}, {@code Criteria}); the deployment needs neither this
 * library nor Python.
 *
 * <p>The archive stores the weights already quantized in Java (int8 values, per-channel scales and
 * zero points, float bias). The module's TorchScript {@code __setstate__} builds the {@code qint8}
 * weight and packs it ({@code quantized::linear_prepack}) while libtorch loads the model, so the
 * weights are packed for the quantized engine current at load time: select it with {@link
 * QEngine#select} before loading. {@code __getstate__} unpacks them again, so libtorch can save the
 * module. Its {@code forward(x)} takes a float tensor {@code [..., in]} and returns a float tensor
 * {@code [..., out]}.
 *
 * <p>Weight quantization is the one of {@link PackedLinear}. Stateless and thread-safe.
 */
public final class Int8LinearArchive {

    private static final String PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase";
    private static final String STATE = "Tuple[Tensor, Tensor, Tensor, Optional[Tensor], bool]";

    private Int8LinearArchive() {}

    /**
     * Writes a dynamic INT8 linear layer: each call quantizes its input from the input's range.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales, finite and {@code > 0}
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]}
     * @param axis must be {@code 0}
     * @param bias {@code out} float biases, or {@code null}
     * @param reduceRange whether inputs use 7 bits: {@code true} for fbgemm/x86 deployments (as
     *     PyTorch does), {@code false} for qnnpack (which ignores it with a warning)
     * @return the archive bytes
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     */
    public static byte[] dynamicInt8(
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            boolean reduceRange) {
        String cls = "DynamicInt8Linear";
        String self = "__torch__.djlquant.linear." + cls;
        String source =
                header(cls, self)
                        + "  reduce_range : bool\n"
                        + "  def forward(self: "
                        + self
                        + ",\n"
                        + "    x: Tensor) -> Tensor:\n"
                        + "    return ops.quantized.linear_dynamic(x, self._packed,"
                        + " self.reduce_range)\n";
        return write(
                cls,
                source,
                weight,
                shape,
                scales,
                zeroPoints,
                axis,
                bias,
                new Object[] {"reduce_range", reduceRange});
    }

    /**
     * Writes a static INT8 linear layer: quantize the input with calibrated parameters, run {@code
     * quantized::linear} (or {@code linear_relu}), dequantize the output.
     *
     * @param weight the float weights, row-major {@code [out, in]}
     * @param shape {@code {out, in}}
     * @param scales per-output-channel weight scales, finite and {@code > 0}
     * @param zeroPoints per-output-channel weight zero points in {@code [-128, 127]}
     * @param axis must be {@code 0}
     * @param bias {@code out} float biases, or {@code null}
     * @param inputScale the {@code quint8} input scale, finite and {@code > 0}
     * @param inputZeroPoint the input zero point in {@code [0, 255]}
     * @param outputScale the {@code quint8} output scale, finite and {@code > 0}
     * @param outputZeroPoint the output zero point in {@code [0, 255]}
     * @param fuseRelu whether ReLU is fused into the requantization
     * @return the archive bytes
     * @throws IllegalArgumentException if an argument is invalid; the message names it
     */
    public static byte[] staticInt8(
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            float inputScale,
            long inputZeroPoint,
            float outputScale,
            long outputZeroPoint,
            boolean fuseRelu) {
        PackedLinear.checkScale("inputScale", inputScale);
        PackedLinear.checkZeroPoint("inputZeroPoint", inputZeroPoint, 0, 255);
        PackedLinear.checkScale("outputScale", outputScale);
        PackedLinear.checkZeroPoint("outputZeroPoint", outputZeroPoint, 0, 255);
        String cls = fuseRelu ? "StaticInt8LinearReLU" : "StaticInt8Linear";
        String self = "__torch__.djlquant.linear." + cls;
        String op = fuseRelu ? "linear_relu" : "linear";
        String source =
                header(cls, self)
                        + "  in_scale : float\n"
                        + "  in_zero_point : int\n"
                        + "  out_scale : float\n"
                        + "  out_zero_point : int\n"
                        + "  def forward(self: "
                        + self
                        + ",\n"
                        + "    x: Tensor) -> Tensor:\n"
                        + "    xq = torch.quantize_per_tensor(x, self.in_scale,"
                        + " self.in_zero_point, 13)\n"
                        + "    yq = ops.quantized."
                        + op
                        + "(xq, self._packed, self.out_scale, self.out_zero_point)\n"
                        + "    return torch.dequantize(yq)\n";
        return write(
                cls,
                source,
                weight,
                shape,
                scales,
                zeroPoints,
                axis,
                bias,
                new Object[] {
                    "in_scale",
                    (double) inputScale,
                    "in_zero_point",
                    inputZeroPoint,
                    "out_scale",
                    (double) outputScale,
                    "out_zero_point",
                    outputZeroPoint
                });
    }

    /**
     * Saves an archive as {@code <dir>/<modelName>.pt}, the file DJL's {@code Model.load(dir)}
     * looks for in a model named {@code modelName}.
     *
     * @param archive the archive bytes
     * @param dir the model folder, created if missing
     * @param modelName the model name, a Python identifier
     * @return the written file
     * @throws QuantizationException if the file cannot be written
     */
    public static Path save(byte[] archive, Path dir, String modelName)
            throws QuantizationException {
        if (modelName == null || !modelName.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException(
                    "modelName was '" + modelName + "', must match [A-Za-z_][A-Za-z0-9_]*");
        }
        Path file = dir.resolve(modelName + ".pt");
        try {
            Files.createDirectories(dir);
            Files.write(file, archive);
            return file;
        } catch (IOException e) {
            throw new QuantizationException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static String header(String cls, String self) {
        return "class "
                + cls
                + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + "  _packed : "
                + PACKED
                + "\n";
    }

    /*
     * The weight travels through the archive as a tuple (int8 values, float64 scales, int64 zero
     * points, optional float bias, training) handed to __setstate__; the other attributes (reduce
     * range, activation parameters) follow as trailing tuple items and __setstate__ assigns them.
     */
    private static byte[] write(
            String cls,
            String source,
            float[] weight,
            long[] shape,
            float[] scales,
            long[] zeroPoints,
            int axis,
            float[] bias,
            Object[] extra) {
        byte[] q = PackedLinear.quantizeWeight(weight, shape, scales, zeroPoints, axis);
        int out = (int) shape[0];
        if (bias != null && bias.length != out) {
            throw new IllegalArgumentException(
                    "bias length was " + bias.length + ", must be out = " + out + " or null");
        }
        String self = "__torch__.djlquant.linear." + cls;
        StringBuilder types = new StringBuilder(STATE.substring(0, STATE.length() - 1));
        StringBuilder assign = new StringBuilder();
        Object[] state = new Object[5 + extra.length / 2];
        double[] scalesD = new double[out];
        for (int o = 0; o < out; o++) {
            scalesD[o] = scales[o];
        }
        state[0] = TensorData.ofInt8(q, shape);
        state[1] = TensorData.ofDoubles(scalesD, out);
        state[2] = TensorData.ofLongs(zeroPoints.clone(), out);
        state[3] = bias == null ? null : TensorData.ofFloats(bias.clone(), out);
        state[4] = false;
        StringBuilder getters = new StringBuilder();
        for (int i = 0; i < extra.length / 2; i++) {
            String name = (String) extra[2 * i];
            Object value = extra[2 * i + 1];
            String type =
                    value instanceof Boolean ? "bool" : value instanceof Double ? "float" : "int";
            types.append(", ").append(type);
            assign.append("    self.").append(name).append(" = state[").append(5 + i).append("]\n");
            getters.append(", self.").append(name);
            state[5 + i] = value;
        }
        types.append("]");
        String stateCode =
                "  def __getstate__(self: "
                        + self
                        + ") -> "
                        + types
                        + ":\n"
                        + "    w, b = ops.quantized.linear_unpack(self._packed)\n"
                        + "    return (torch.int_repr(w), torch.q_per_channel_scales(w),"
                        + " torch.q_per_channel_zero_points(w), b, self.training"
                        + getters
                        + ")\n"
                        + "  def __setstate__(self: "
                        + self
                        + ",\n"
                        + "    state: "
                        + types
                        + ") -> NoneType:\n"
                        + "    w = torch._make_per_channel_quantized_tensor(state[0], state[1],"
                        + " state[2], 0)\n"
                        + "    self._packed = ops.quantized.linear_prepack(w, state[3])\n"
                        + "    self.training = state[4]\n"
                        + assign
                        + "    return None\n";
        return TorchScriptArchive.builder("int8_linear")
                .addCode("djlquant.linear", source + stateCode)
                .setRoot(
                        new Pickler.ScriptObject(
                                "__torch__.djlquant.linear",
                                cls,
                                new Pickler.Tuple(Arrays.asList(state))))
                .toBytes();
    }
}
