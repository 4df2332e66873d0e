"""Lowering: every IR node becomes a :class:`KernelCall` of the C runtime (or a view)."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, get_op


@dataclass
class LoweredNode:
    node: Node
    call: KernelCall


@dataclass
class LoweredModel:
    graph: Graph
    layers: list[LoweredNode]

    @property
    def runtime_sources(self) -> list[str]:
        names: set[str] = set()
        for layer in self.layers:
            names.update(layer.call.runtime_sources)
        return sorted(names)


def lower_graph(graph: Graph) -> LoweredModel:
    """Lower every node; the first unsupported op raises with its name and node index."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(
            f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "edgekit generates code for single-input, single-output models"
        )
    layers = []
    for node in graph.nodes:
        opdef = get_op(node)
        if opdef.lower is None:
            raise UnsupportedOpError(f"op {node.op} at node {node.index} has no C kernel yet")
        call = opdef.lower(graph, node)
        layers.append(LoweredNode(node=node, call=call))
    return LoweredModel(graph=graph, layers=layers)
