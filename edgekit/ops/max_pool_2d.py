"""MAX_POOL_2D (int8): max over the clamped window, then the fused activation clamp.

Float: ``F.max_pool2d`` with −∞ padding. int8: the output keeps the input's quantization
(``ek_maxpool_s8``).
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    kh, kw, sh, sw = fl.pool_window(node)
    xc = fl.nchw_pad(args[0].permute(0, 3, 1, 2), node, kh, kw, sh, sw, 1, 1, value=float("-inf"))
    y = F.max_pool2d(xc, (kh, kw), (sh, sw))
    return [fl.fused(node, y.permute(0, 2, 3, 1))]


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _f32.pool_call(graph, node, "ek_maxpool_f32")
    params, x, y = u.pool_params(graph, node)
    return KernelCall(func="ek_maxpool_s8", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=("ek_pool.c",))


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 MaxPool on the parameters ``lower`` computes: the max over the
    in-bounds taps (padding never wins), clamped to the activation range."""
    p = lower(graph, node).params
    g = p.geom  # type: ignore[union-attr]
    x = _int.operand(graph, node, args, 0).reshape(-1, g.in_h, g.in_w, g.in_c)
    ones = np.ones((1, g.in_h, g.in_w, 1), dtype=np.int64)
    best = None
    for (_, _, sl), (_, _, inside) in zip(_int.window_taps(x, g), _int.window_taps(ones, g), strict=True):
        tap = np.where(inside > 0, sl, -(1 << 20))
        best = tap if best is None else np.maximum(best, tap)
    assert best is not None
    return [_int.clamp_int8(best, p.act_min, p.act_max)]  # type: ignore[union-attr]


register(OpDef(
    name="MAX_POOL_2D",
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
