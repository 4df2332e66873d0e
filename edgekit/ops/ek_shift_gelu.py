"""EK_SHIFTGELU (edgekit custom op): integer-only ``x·sigmoid(alpha·x)`` — I-ViT's ShiftGELU
(alpha = 1.702, GELU's sigmoid approximation) and the same kernel for SiLU (alpha = 1).

int8 → int8 (own output quantization). Elementwise, with no row maximum: ``xc = x − zp_in``,
``e = shift_exp(−|xc|)`` (:mod:`edgekit.ops._ivit`, the input scale times alpha folded into the
exponent multiplier), ``sigma(−alpha|x|) = e/(1+e)`` by one division, ``sigma(alpha·x)`` by
symmetry, then ``xc·sigma`` (scale ``s_in·2^-15``) requantized to the output with I-ViT's dyadic
requantization (one multiply, one rounding shift). The exponential underflows to 0 for large |x| instead of
clipping, so no calibrated range makes it wrong (I-ViT's fixed ``n = 23`` gives GELU(−7) ≈ −3.3
when the row maximum is large). The fast kernels tabulate this integer function over the 256
int8 inputs at generation time (``ek_lut_s8``: one load per element); the portable kernels run
the arithmetic per element (``ek_shift_gelu_s8``); both give the same bytes. Float:
``x·sigmoid(alpha·x)``. In a quantized file it is a
CUSTOM operator with options ``{alpha}``.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _fast, _ivit
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register

NAME = "EK_SHIFTGELU"
GELU_ALPHA = 1.702
SILU_ALPHA = 1.0


@c_struct("ek_dyadic_t")
class Dyadic(KernelParams):
    """I-ViT's dyadic requantization ``multiplier / 2^shift`` (one rounding, half up)."""

    multiplier: int
    shift: int


@c_struct("ek_shift_gelu_params_t")
class ShiftGeluParams(KernelParams):
    size: int
    input_zero_point: int
    output_zero_point: int
    exp_multiplier: int
    output: Dyadic


@c_struct("ek_lut_s8_params_t")
class LutParams(KernelParams):
    size: int
    table: np.ndarray  # int8[256], indexed by x + 128


def _alpha(node: Node) -> float:
    return float(node.attrs.get("alpha", GELU_ALPHA))


def _params(graph: Graph, node: Node) -> ShiftGeluParams:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    try:
        m = _ivit.exp_multiplier(s_in * _alpha(node))
    except ValueError as err:
        raise u.unsupported(node, str(err)) from None
    out = Dyadic(*_ivit.dyadic(float(s_in) / float(1 << _ivit.EXP_FRAC) / float(s_out)))
    return ShiftGeluParams(size=u.numel(tuple(x.shape)), input_zero_point=zp_in, output_zero_point=zp_out,
                           exp_multiplier=m, output=out)


def shift_gelu_reference(x: np.ndarray, p: ShiftGeluParams) -> np.ndarray:
    """The exact integer ShiftGELU/ShiftSiLU of int8 `x`, int8 out."""
    xc = x.astype(np.int64) - p.input_zero_point
    sigma = _ivit.sigmoid_q15(xc, p.exp_multiplier)
    v = p.output_zero_point + _ivit.apply_dyadic(xc * sigma * p.output.multiplier, p.output.shift)
    return np.clip(v, -128, 127).astype(np.int8)


def run_int(graph: Graph, node: Node, args: list) -> list:
    return [shift_gelu_reference(args[0], _params(graph, node))]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    return [args[0] * torch.sigmoid(_alpha(node) * args[0])]


def lower(graph: Graph, node: Node) -> KernelCall:
    """Fast kernels: a 256-entry table of the integer function (one load per element, 256 B of
    flash); portable kernels: the ShiftGELU arithmetic per element. Both give the same bytes."""
    x, y = u.unary_int8(graph, node)
    p = _params(graph, node)
    if _fast.kernels() == "fast":
        table = shift_gelu_reference(np.arange(-128, 128, dtype=np.int64).astype(np.int8), p)
        return KernelCall(func="ek_lut_s8", params=LutParams(size=p.size, table=table), inputs=[x.id],
                          outputs=[y.id], may_alias_input=(0,), runtime_sources=("ek_ivit.c",))
    return KernelCall(func="ek_shift_gelu_s8", params=p, inputs=[x.id], outputs=[y.id],
                      may_alias_input=(0,), runtime_sources=("ek_ivit.c",))


register(OpDef(name=NAME, infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float,
               quant=QuantRule(int8=True), lower=lower, run_int=run_int, custom=True, doc=__doc__ or ""))
