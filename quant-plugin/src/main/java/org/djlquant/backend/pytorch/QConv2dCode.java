package org.djlquant.backend.pytorch;

/** The TorchScript class of one INT8 2-D convolution inside an exported model. */
final class QConv2dCode {

    private QConv2dCode() {}

    private static final String SELF = TorchScriptExporter.QUALIFIED + ".QConv2d";
    private static final String PACKED = "__torch__.torch.classes.quantized.Conv2dPackedParamsBase";
    static final String STATE =
            "Tuple[Tensor, Tensor, Tensor, Optional[Tensor], bool, int, int, int, int, int, int,"
                    + " int, float, int, float, float, bool]";

    /*
     * State: (int8 weight [out, in / groups, kh, kw], float32 scales [out], int8 zero points
     * [out], bias or None, training, stride h, stride w, padding h, padding w, dilation h,
     * dilation w, groups, input scale, input zero point, clamp low, clamp high, clamp input).
     * Integers rather than int lists, so the state needs no typed-list tags. __setstate__ packs
     * the weight with quantized::conv2d_prepack for the engine current at load; __getstate__
     * unpacks it.
     */
    static final String SOURCE =
            "class QConv2d(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  _packed : "
                    + PACKED
                    + "\n"
                    + "  sh : int\n"
                    + "  sw : int\n"
                    + "  ph : int\n"
                    + "  pw : int\n"
                    + "  dh : int\n"
                    + "  dw : int\n"
                    + "  groups : int\n"
                    + "  in_scale : float\n"
                    + "  in_zp : int\n"
                    + "  lo : float\n"
                    + "  hi : float\n"
                    + "  clamp_in : bool\n"
                    + "  def __getstate__(self: "
                    + SELF
                    + ") -> "
                    + STATE
                    + ":\n"
                    + "    w, b = ops.quantized.conv2d_unpack(self._packed)\n"
                    + "    return (torch.int_repr(w), torch.to(torch.q_per_channel_scales(w), 6),"
                    + " torch.to(torch.q_per_channel_zero_points(w), 1), b, self.training,"
                    + " self.sh, self.sw, self.ph, self.pw, self.dh, self.dw, self.groups,"
                    + " self.in_scale, self.in_zp, self.lo, self.hi, self.clamp_in)\n"
                    + "  def __setstate__(self: "
                    + SELF
                    + ",\n"
                    + "    state: "
                    + STATE
                    + ") -> NoneType:\n"
                    + "    w = torch._make_per_channel_quantized_tensor(state[0],"
                    + " torch.to(state[1], 7), torch.to(state[2], 4), 0)\n"
                    + "    self._packed = ops.quantized.conv2d_prepack(w, state[3],"
                    + " [state[5], state[6]], [state[7], state[8]], [state[9], state[10]],"
                    + " state[11])\n"
                    + "    self.training = state[4]\n"
                    + "    self.sh = state[5]\n"
                    + "    self.sw = state[6]\n"
                    + "    self.ph = state[7]\n"
                    + "    self.pw = state[8]\n"
                    + "    self.dh = state[9]\n"
                    + "    self.dw = state[10]\n"
                    + "    self.groups = state[11]\n"
                    + "    self.in_scale = state[12]\n"
                    + "    self.in_zp = state[13]\n"
                    + "    self.lo = state[14]\n"
                    + "    self.hi = state[15]\n"
                    + "    self.clamp_in = state[16]\n"
                    + "    return None\n"
                    + "  def quant(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    if self.clamp_in:\n"
                    + "      x = torch.clamp(x, self.lo, self.hi)\n"
                    + "    return torch.quantize_per_tensor(x, self.in_scale, self.in_zp, 13)\n"
                    + "  def q(self: "
                    + SELF
                    + ",\n"
                    + "    xq: Tensor,\n"
                    + "    relu: bool,\n"
                    + "    scale: float,\n"
                    + "    zp: int) -> Tensor:\n"
                    + "    if relu:\n"
                    + "      return ops.quantized.conv2d_relu(xq, self._packed, scale, zp)\n"
                    + "    return ops.quantized.conv2d(xq, self._packed, scale, zp)\n";
}
