"""Helpers of the float-only op modules (ops the float IR holds before their integer lowering)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _util as u


def const_ints(graph: Graph, node: Node, idx: int, what: str) -> list[int]:
    return u.const_int_values(graph, node, idx, what)


def numel_out(graph: Graph, node: Node) -> int:
    return u.numel(tuple(graph.tensors[node.outputs[0]].shape))
