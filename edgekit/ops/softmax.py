"""SOFTMAX int8 → int8 over the last axis; output must be (1/256, −128) as TFLM requires."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, _ = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise u.unsupported(node, f"int8 output quantization ({s_out}, {zp_out}); TFLM requires (1/256, -128)")
    shape = tuple(x.shape) or (1,)
    depth = int(shape[-1])
    beta = float(node.attrs.get("beta", 1.0))
    params: dict = dict(outer=u.numel(shape) // max(depth, 1), depth=depth)
    params.update(tm.softmax_params(beta, s_in))
    return KernelCall(
        func="ek_softmax_s8",
        params_type="ek_softmax_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_softmax.c",),
    )


register(OpDef(name="SOFTMAX", infer_shapes=u.same_shape, macs=u.input_elems_macs, lower=lower, doc=__doc__ or ""))
