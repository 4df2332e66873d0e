"""DEQUANTIZE: int8 → float32, ``scale·(q − zp)`` (one float rounding, as TFLM's double path)."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("int8",), "input")
    u.require_dtype(node, y, ("float32",), "output")
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    return KernelCall(
        func="ek_dequantize_s8_f32",
        params_type="ek_dequantize_params_t",
        params=dict(size=u.numel(tuple(x.shape)), scale=float(np.float32(s_in)), zero_point=zp_in),
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_unary.c",),
    )


register(
    OpDef(
        name="DEQUANTIZE",
        infer_shapes=u.same_shape,
        macs=u.input_elems_macs,
        lower=lower,
        float_ok=True,
        doc=__doc__ or "",
    )
)
