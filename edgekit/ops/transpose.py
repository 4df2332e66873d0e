"""TRANSPOSE (float IR only for now): permute the axes of the input by a constant `perm`."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import OpDef, register
from edgekit.ops import _util as u
from edgekit.ops._float_only import const_ints


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    perm = const_ints(graph, node, 1, "the perm operand")
    if sorted(perm) != list(range(len(x.shape))):
        raise u.unsupported(node, f"perm {perm} is not a permutation of the {len(x.shape)} axes")
    return [tuple(int(x.shape[p]) for p in perm)]


register(OpDef(name="TRANSPOSE", infer_shapes=infer_shapes, macs=u.zero_macs, lower=None, doc=__doc__ or ""))
