"""RELU6 int8: TFLM clamps the input to [zp_in, q_in(6)] with no requantization (the output
is expected to share the input's quantization; TFLM ignores the output's)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    six = tm.float_to_quantized_int8(6.0, s_in, zp_in)
    params: dict = dict(size=u.numel(tuple(x.shape)), lower=zp_in, upper=six)
    return KernelCall(
        func="ek_clamp_s8",
        params_type="ek_clamp_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        may_alias_input=(0,),
        runtime_sources=("ek_unary.c",),
    )


register(OpDef(name="RELU6", infer_shapes=u.same_shape, macs=u.input_elems_macs, lower=lower, doc=__doc__ or ""))
