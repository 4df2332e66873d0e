"""AVERAGE_POOL_2D (int8): sum of raw values over the clamped window, rounded half away from zero.

Float: average over the in-bounds taps (TFLite's SAME rule divides by their count). int8: the
output keeps the input's quantization (``ek_avgpool_s8``).
"""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
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
    params, x, y = u.pool_params(graph, node)
    return KernelCall(func="ek_avgpool_s8", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=("ek_pool.c",))


register(OpDef(
    name="AVERAGE_POOL_2D",
    infer_shapes=u.pool_infer_shapes,
    macs=u.pool_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, output=SHARED),
    lower=lower,
    tflite_version=versions({"int8": 2}),
    doc=__doc__ or "",
))
