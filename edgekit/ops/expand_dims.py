"""EXPAND_DIMS: a view (no call); inserts a size-1 dim at the constant `axis` operand.

Not quantized by PTQ yet (no int8 models need it); int8 models that hold it lower to a view.
"""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, OpDef, QuantRule, register


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    shape = [int(d) for d in x.shape]
    (axis,) = u.const_int_values(graph, node, 1, "the axis operand")[:1] or [0]
    if axis < 0:
        axis += len(shape) + 1
    if not 0 <= axis <= len(shape):
        raise u.unsupported(node, f"axis {axis} for a rank-{len(shape)} input")
    return [tuple(shape[:axis] + [1] + shape[axis:])]


register(OpDef(name="EXPAND_DIMS", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=fl.run_reshape,
               quant=QuantRule(output=SHARED), lower=u.lower_view, doc=__doc__ or ""))
