"""LOGISTIC int8 → int8 (output zero point −128): TFLM's gemmlowp fixed-point logistic."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    _, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != -128:
        raise u.unsupported(node, f"output zero point {zp_out}; TFLM requires -128")
    params: dict = dict(size=u.numel(tuple(x.shape)))
    params.update(tm.logistic_params(s_in, zp_in))
    return KernelCall(
        func="ek_logistic_s8",
        params_type="ek_logistic_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        may_alias_input=(0,),
        runtime_sources=("ek_unary.c",),
    )


register(OpDef(name="LOGISTIC", infer_shapes=u.same_shape, macs=u.input_elems_macs, lower=lower, doc=__doc__ or ""))
