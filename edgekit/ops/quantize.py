"""QUANTIZE: float32 → int8 (``roundf(x / scale) + zp`` in float32) and int8 → int8 requantize."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("float32", "int8"), "input")
    u.require_dtype(node, y, ("int8",), "output")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    size = u.numel(tuple(x.shape))
    if x.dtype == "float32":
        return KernelCall(
            func="ek_quantize_f32_s8",
            params_type="ek_quantize_f32_params_t",
            params=dict(size=size, scale=float(np.float32(s_out)), zero_point=zp_out),
            inputs=[x.id],
            outputs=[y.id],
            runtime_sources=("ek_unary.c",),
        )
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    m, s = tm.requantize_multiplier(s_in, s_out)
    return KernelCall(
        func="ek_requantize_s8",
        params_type="ek_requantize_params_t",
        params=dict(
            size=size,
            input_zero_point=zp_in,
            output_zero_point=zp_out,
            multiplier=m,
            shift=s,
            act_min=-128,
            act_max=127,
        ),
        inputs=[x.id],
        outputs=[y.id],
        may_alias_input=(0,),
        runtime_sources=("ek_unary.c",),
    )


register(
    OpDef(
        name="QUANTIZE",
        infer_shapes=u.same_shape,
        macs=u.input_elems_macs,
        lower=lower,
        float_ok=True,
        doc=__doc__ or "",
    )
)
