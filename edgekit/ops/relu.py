"""RELU int8 (TFLM's requantizing ReluQuantized: ``s_in/s_out`` in float32, clamp at q(0))."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    m, s = tm.relu_multiplier(s_in, s_out)
    lo, hi = tm.relu_range(s_out, zp_out)
    params: dict = dict(
        size=u.numel(tuple(x.shape)),
        input_zero_point=zp_in,
        output_zero_point=zp_out,
        multiplier=m,
        shift=s,
        act_min=lo,
        act_max=hi,
    )
    return KernelCall(
        func="ek_requantize_s8",
        params_type="ek_requantize_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        may_alias_input=(0,),
        runtime_sources=("ek_unary.c",),
    )


register(OpDef(name="RELU", infer_shapes=u.same_shape, macs=u.input_elems_macs, lower=lower, doc=__doc__ or ""))
