"""ADD (int8, with broadcasting): TFLM's left-shift-20 rescale recipe (``CalculateOpDataAdd``)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    ops = u.binary_operands(graph, node)
    s1, z1 = u.per_tensor_q(node, ops["a"], "input 0")
    s2, z2 = u.per_tensor_q(node, ops["b"], "input 1")
    so, zo = u.per_tensor_q(node, ops["y"], "output")
    act_min, act_max = u.act_range(node, so, zo)
    params = dict(ops["fields"])
    params.update(input1_offset=-z1, input2_offset=-z2, output_offset=zo)
    params.update(tm.add_params(s1, s2, so))
    params.update(act_min=act_min, act_max=act_max)
    return KernelCall(
        func="ek_add_s8",
        params_type="ek_add_params_t",
        params=params,
        inputs=ops["inputs"],
        outputs=[ops["y"].id],
        may_alias_input=ops["alias"],
        runtime_sources=("ek_elementwise.c",),
    )


register(
    OpDef(
        name="ADD",
        infer_shapes=u.binary_infer_shapes,
        macs=u.elementwise_macs,
        lower=lower,
        doc=__doc__ or "",
    )
)
