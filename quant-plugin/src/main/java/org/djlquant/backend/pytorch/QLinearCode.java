package org.djlquant.backend.pytorch;

/** The TorchScript class of one INT8 linear layer inside an exported model. */
final class QLinearCode {

    private QLinearCode() {}

    private static final String SELF = TorchScriptExporter.QUALIFIED + ".QLinear";
    private static final String PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase";
    static final String STATE =
            "Tuple[Tensor, Tensor, Tensor, Optional[Tensor], bool, float, int, float, float, bool,"
                    + " bool]";

    /*
     * State: (int8 weight [out, in], float32 scales [out], int8 zero points [out], bias or None,
     * training, input scale, input zero point, clamp low, clamp high, clamp input, reduce range).
     * __setstate__ packs the weight for the engine current at load; __getstate__ unpacks it.
     */
    static final String SOURCE =
            "class QLinear(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  _packed : "
                    + PACKED
                    + "\n"
                    + "  in_scale : float\n"
                    + "  in_zp : int\n"
                    + "  lo : float\n"
                    + "  hi : float\n"
                    + "  clamp_in : bool\n"
                    + "  reduce_range : bool\n"
                    + "  def __getstate__(self: "
                    + SELF
                    + ") -> "
                    + STATE
                    + ":\n"
                    + "    w, b = ops.quantized.linear_unpack(self._packed)\n"
                    + "    return (torch.int_repr(w), torch.to(torch.q_per_channel_scales(w), 6),"
                    + " torch.to(torch.q_per_channel_zero_points(w), 1), b, self.training, self.in_scale,"
                    + " self.in_zp, self.lo, self.hi, self.clamp_in, self.reduce_range)\n"
                    + "  def __setstate__(self: "
                    + SELF
                    + ",\n"
                    + "    state: "
                    + STATE
                    + ") -> NoneType:\n"
                    + "    w = torch._make_per_channel_quantized_tensor(state[0],"
                    + " torch.to(state[1], 7), torch.to(state[2], 4), 0)\n"
                    + "    self._packed = ops.quantized.linear_prepack(w, state[3])\n"
                    + "    self.training = state[4]\n"
                    + "    self.in_scale = state[5]\n"
                    + "    self.in_zp = state[6]\n"
                    + "    self.lo = state[7]\n"
                    + "    self.hi = state[8]\n"
                    + "    self.clamp_in = state[9]\n"
                    + "    self.reduce_range = state[10]\n"
                    + "    return None\n"
                    + "  def dynamic(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return ops.quantized.linear_dynamic(x, self._packed,"
                    + " self.reduce_range)\n"
                    + "  def clamped(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    if self.clamp_in:\n"
                    + "      return torch.clamp(x, self.lo, self.hi)\n"
                    + "    return x\n"
                    + "  def fp32(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32("
                    + "self.clamped(x), self.in_scale, self.in_zp, self._packed)\n"
                    + "  def quant(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    return torch.quantize_per_tensor(self.clamped(x), self.in_scale,"
                    + " self.in_zp, 13)\n"
                    + "  def q(self: "
                    + SELF
                    + ",\n"
                    + "    xq: Tensor,\n"
                    + "    relu: bool,\n"
                    + "    scale: float,\n"
                    + "    zp: int) -> Tensor:\n"
                    + "    if relu:\n"
                    + "      return ops.quantized.linear_relu(xq, self._packed, scale, zp)\n"
                    + "    return ops.quantized.linear(xq, self._packed, scale, zp)\n";
}
