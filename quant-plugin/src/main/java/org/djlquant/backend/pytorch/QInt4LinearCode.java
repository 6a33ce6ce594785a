package org.djlquant.backend.pytorch;

/**
 * The TorchScript class of one weight-only INT4 linear layer inside an exported model. Only written
 * into archives that hold such a layer (so archives without one keep their bytes).
 *
 * <p>The archive holds the portable form: 4-bit values {@code u ∈ [0, 15]} two to a byte in a fixed
 * order ({@code byte[n][j] = u[n][2j] | u[n][2j + 1] << 4}, uint8 {@code [N, K / 2]}), the kernel's
 * float32 scales-and-zeros {@code [K / group, N, 2]}, the bias, the group size and the compute
 * dtype. {@code __setstate__} unpacks the nibbles and packs them with {@code
 * aten::_convert_weight_to_int4pack_for_cpu} for the CPU that loads the archive (whose layout
 * depends on that CPU's vector width), keeping only the packed weight; {@code __getstate__}
 * recovers the portable form from the packed weight by running the kernel on an identity matrix
 * with unit scales and zero offsets (float32: {@code (u - 8) · 1 + 0}, exact), so a loaded module
 * can be saved again.
 */
final class QInt4LinearCode {

    private QInt4LinearCode() {}

    private static final String SELF = TorchScriptExporter.QUALIFIED + ".QInt4Linear";

    /** (portable uint8 nibbles [N, K/2], float32 scales-and-zeros, bias, group, bf16, training). */
    static final String STATE = "Tuple[Tensor, Tensor, Optional[Tensor], int, bool, bool]";

    static final String SOURCE =
            "class QInt4Linear(Module):\n"
                    + "  __parameters__ = []\n"
                    + "  __buffers__ = []\n"
                    + "  training : bool\n"
                    + "  packed : Tensor\n"
                    + "  scales_zeros : Tensor\n"
                    + "  bias : Optional[Tensor]\n"
                    + "  group : int\n"
                    + "  bf16 : bool\n"
                    + "  def __getstate__(self: "
                    + SELF
                    + ") -> "
                    + STATE
                    + ":\n"
                    + "    n = self.packed.size(0)\n"
                    + "    k = 2 * self.packed.size(1)\n"
                    + "    eye = torch.eye(k, dtype=6)\n"
                    + "    unit = torch.zeros([torch.floordiv(k, self.group), n, 2], dtype=6)\n"
                    + "    unit = torch.select_scatter(unit, torch.ones([torch.floordiv(k,"
                    + " self.group), n], dtype=6), 2, 0)\n"
                    + "    q = torch._weight_int4pack_mm_for_cpu(eye, self.packed, self.group,"
                    + " unit)\n"
                    + "    u = torch.to(torch.add(torch.t(q), 8), 0)\n"
                    + "    lo = torch.slice(u, 1, 0, k, 2)\n"
                    + "    hi = torch.slice(u, 1, 1, k, 2)\n"
                    + "    p = torch.bitwise_or(lo, torch.bitwise_left_shift(hi, 4)).contiguous()\n"
                    + "    return (p, torch.to(self.scales_zeros, 6), self.bias, self.group,"
                    + " self.bf16, self.training)\n"
                    + "  def __setstate__(self: "
                    + SELF
                    + ",\n"
                    + "    state: "
                    + STATE
                    + ") -> NoneType:\n"
                    + "    p = state[0]\n"
                    + "    n = p.size(0)\n"
                    + "    lo = torch.bitwise_and(p, 15)\n"
                    + "    hi = torch.bitwise_right_shift(p, 4)\n"
                    + "    u = torch.reshape(torch.stack([lo, hi], 2), [n, 2 * p.size(1)])\n"
                    + "    self.packed = torch._convert_weight_to_int4pack_for_cpu("
                    + "torch.to(u, 3).contiguous(), 1)\n"
                    + "    self.bf16 = state[4]\n"
                    + "    if state[4]:\n"
                    + "      self.scales_zeros = torch.to(state[1], 15)\n"
                    + "    else:\n"
                    + "      self.scales_zeros = state[1]\n"
                    + "    self.bias = state[2]\n"
                    + "    self.group = state[3]\n"
                    + "    self.training = state[5]\n"
                    + "    return None\n"
                    + "  def linear(self: "
                    + SELF
                    + ",\n"
                    + "    x: Tensor) -> Tensor:\n"
                    + "    lead = x.size()[:-1]\n"
                    + "    x2 = x.reshape([-1, x.size(-1)]).contiguous()\n"
                    + "    if self.bf16:\n"
                    + "      x2 = torch.to(x2, 15)\n"
                    + "    y = torch._weight_int4pack_mm_for_cpu(x2, self.packed, self.group,"
                    + " self.scales_zeros)\n"
                    + "    if self.bf16:\n"
                    + "      y = torch.to(y, 6)\n"
                    + "    bias = self.bias\n"
                    + "    if bias is not None:\n"
                    + "      y = torch.add(y, bias)\n"
                    + "    return y.reshape(lead + [self.packed.size(0)])\n";
}
