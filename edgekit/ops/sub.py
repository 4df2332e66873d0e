"""SUB (int8, with broadcasting): the ADD recipe with float32 multipliers (``CalculateOpDataSub``)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def lower(graph: Graph, node: Node) -> KernelCall:
    return u.lower_add_like(graph, node, "ek_sub_s8", tm.sub_params)


register(
    OpDef(
        name="SUB",
        infer_shapes=u.binary_infer_shapes,
        macs=u.elementwise_macs,
        lower=lower,
        doc=__doc__ or "",
    )
)
