"""SQUEEZE: a view (no call); drops size-1 dims (``squeeze_dims`` or all of them)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, OpDef, QuantRule, register


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    shape = [int(d) for d in x.shape]
    rank = len(shape)
    dims = [int(d) for d in (node.attrs.get("squeeze_dims") or [])]
    if not dims:
        return [tuple(d for d in shape if d != 1)]
    drop = {d + rank if d < 0 else d for d in dims}
    for d in drop:
        if not 0 <= d < rank or shape[d] != 1:
            raise u.unsupported(node, f"cannot squeeze dim {d} of {tuple(shape)}")
    return [tuple(n for d, n in enumerate(shape) if d not in drop)]


register(OpDef(name="SQUEEZE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=fl.run_reshape,
               quant=QuantRule(int8=True, output=SHARED), lower=u.lower_view, doc=__doc__ or ""))
