"""AVERAGE_POOL_2D (int8): sum of raw values over the clamped window, rounded half away from zero.

Float: average over the in-bounds taps (TFLite's SAME rule divides by their count). int8: the
output keeps the input's quantization (``ek_avgpool_s8``).
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import PoolParams
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch
    import torch.nn.functional as F

    kh, kw, sh, sw = fl.pool_window(node)
    xc = args[0].permute(0, 3, 1, 2)
    padded = fl.nchw_pad(xc, node, kh, kw, sh, sw, 1, 1)
    if padded is xc:
        y = F.avg_pool2d(xc, (kh, kw), (sh, sw))
    else:  # divide by the number of in-bounds taps, as TFLite does
        ones = fl.nchw_pad(torch.ones_like(xc[:1, :1]), node, kh, kw, sh, sw, 1, 1)
        y = F.avg_pool2d(padded, (kh, kw), (sh, sw), divisor_override=1) / F.avg_pool2d(
            ones, (kh, kw), (sh, sw), divisor_override=1)
    return [fl.fused(node, y.permute(0, 2, 3, 1))]


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: the mean of the in-bounds taps
        return _f32.pool_call(graph, node, "ek_avgpool_f32")
    params, x, y = u.pool_params(graph, node)
    return KernelCall(func="ek_avgpool_s8", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=("ek_pool.c",))


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 AveragePool on the parameters ``lower`` computes: the sum over the
    in-bounds taps divided by their count, rounded half away from zero, clamped to the activation
    range."""
    p = lower(graph, node).params
    if not isinstance(p, PoolParams):
        raise u.unsupported(node, "no integer reference for this AVERAGE_POOL_2D (int8 only)")
    g = p.geom
    x = _int.operand(graph, node, args, 0).reshape(-1, g.in_h, g.in_w, g.in_c)
    ones = np.ones((1, g.in_h, g.in_w, 1), dtype=np.int64)
    acc = sum(sl for _, _, sl in _int.window_taps(x, g))
    count = sum(sl for _, _, sl in _int.window_taps(ones, g))
    avg = np.sign(acc) * ((np.abs(acc) + count // 2) // np.maximum(count, 1))
    return [_int.clamp_int8(np.where(count > 0, avg, 0), p.act_min, p.act_max)]


register(OpDef(
    name="AVERAGE_POOL_2D",
    infer_shapes=u.pool_infer_shapes,
    macs=u.pool_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, output=SHARED),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 2}),
    patch_window=u.pool_geometry,
    doc=__doc__ or "",
))
