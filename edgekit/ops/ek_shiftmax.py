"""EK_SHIFTMAX (edgekit custom op): integer-only softmax over the last axis (I-ViT's Shiftmax).

int8 in (any scale and zero point) → int8 out with scale 1/256 and zero point −128, as TFLM's
int8 SOFTMAX. Per row: ``t = x − max(x)``, ``e = shift_exp(t)`` (:mod:`edgekit.ops._ivit`: the
input scale times `beta` and log2(e) folded into one Q15 multiplier, the integer part of the
exponent by shifts), one 64-bit division ``floor((2^62−1)/Σe)`` per row, ``y = (e·factor) >> 54``
(I-ViT's 32-bit ``floor((2^31−1)/Σe)`` is 1 for short rows of equal logits: 1/7 came out 0.125).
The exponentials have 30 bits (headroom S = 15) and the row sum is 64-bit (<= 2^46 for rows up to
65,536 long), so neither overflows and long rows keep their many small terms. Float: ``softmax(beta·x)``.
In a quantized file it is a CUSTOM operator with options ``{beta}``.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _ivit
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register

NAME = "EK_SHIFTMAX"
OUTPUT_QPARAMS = (1.0 / 256.0, -128)
MAX_DEPTH = 1 << 16


@c_struct("ek_shift_exp_t")
class ShiftExp(KernelParams):
    multiplier: int
    headroom: int


@c_struct("ek_shiftmax_params_t")
class ShiftmaxParams(KernelParams):
    rows: int
    depth: int
    exp: ShiftExp


def headroom_for(depth: int) -> int:
    """S = 15: the exponentials have 30 bits (< 2^31) and the row sum, in 64 bits, stays below
    depth·2^30 <= 2^46 for rows up to 2^16 long."""
    return 15


def shiftmax_params(node: Node, shape: tuple[int, ...], s_in: float, beta: float) -> ShiftmaxParams:
    depth = int(shape[-1]) if shape else 1
    if not 0 < depth <= MAX_DEPTH:
        raise u.unsupported(node, f"rows of {depth} values (Shiftmax takes 1..{MAX_DEPTH})")
    try:
        m = _ivit.exp_multiplier(s_in * beta)
    except ValueError as err:
        raise u.unsupported(node, str(err)) from None
    return ShiftmaxParams(rows=u.numel(shape) // depth, depth=depth,
                          exp=ShiftExp(multiplier=m, headroom=headroom_for(depth)))


def _params(graph: Graph, node: Node) -> ShiftmaxParams:
    x, y = u.unary_int8(graph, node)
    s_in, _ = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise u.unsupported(node, f"output quantization ({s_out}, {zp_out}); Shiftmax writes (1/256, -128)")
    return shiftmax_params(node, tuple(x.shape) or (1,), s_in, float(node.attrs.get("beta", 1.0) or 1.0))


def shiftmax_reference(x: np.ndarray, p: ShiftmaxParams) -> np.ndarray:
    """The exact integer Shiftmax of int8 rows `x` (last axis), int8 out."""
    x64 = x.astype(np.int64)
    t = x64 - x64.max(axis=-1, keepdims=True)
    e = _ivit.shift_exp(t, p.exp.multiplier, p.exp.headroom)
    total = e.sum(axis=-1, keepdims=True)
    factor = np.where(total > 0, ((1 << 62) - 1) // np.maximum(total, 1), 0)
    return (((e * factor) >> 54) - 128).astype(np.int8)


def run_int(graph: Graph, node: Node, args: list) -> list:
    return [shiftmax_reference(args[0], _params(graph, node))]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    return [torch.softmax(args[0] * float(node.attrs.get("beta", 1.0) or 1.0), dim=-1)]


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    p = _params(graph, node)
    return KernelCall(func="ek_shiftmax_s8", params=p, inputs=[x.id], outputs=[y.id], scratch_bytes=4 * p.depth,
                      runtime_sources=("ek_ivit.c",))


register(OpDef(name=NAME, infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float,
               quant=QuantRule(int8=True, output=OUTPUT_QPARAMS), lower=lower, run_int=run_int, custom=True,
               doc=__doc__ or ""))
