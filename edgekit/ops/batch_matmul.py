"""BATCH_MATMUL (float IR only for now): ``x @ y`` over the last two axes, batch axes broadcast;
`adj_x`/`adj_y` transpose the last two axes of an operand first."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register, versions


def _dims(graph: Graph, node: Node) -> tuple[tuple[int, ...], int, int, int]:
    a = list(u.in_tensor(graph, node, 0).shape)
    b = list(u.in_tensor(graph, node, 1).shape)
    if len(a) < 2 or len(b) < 2:
        raise u.unsupported(node, f"operands of rank < 2: {a} and {b}")
    if node.attrs.get("adj_x"):
        a[-1], a[-2] = a[-2], a[-1]
    if node.attrs.get("adj_y"):
        b[-1], b[-2] = b[-2], b[-1]
    if a[-1] != b[-2]:
        raise u.unsupported(node, f"inner dimensions differ: {a} @ {b}")
    try:
        batch = tuple(int(d) for d in np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))
    except ValueError:
        raise u.unsupported(node, f"batch axes {a[:-2]} and {b[:-2]} do not broadcast") from None
    return batch, a[-2], a[-1], b[-1]


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    batch, m, _, n = _dims(graph, node)
    return [(*batch, m, n)]


def macs(graph: Graph, node: Node) -> int:
    batch, m, k, n = _dims(graph, node)
    return u.numel(batch) * m * k * n


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    a, b = args[0], args[1]
    if node.attrs.get("adj_x"):
        a = a.transpose(-1, -2)
    if node.attrs.get("adj_y"):
        b = b.transpose(-1, -2)
    return [torch.matmul(a, b)]


register(OpDef(name="BATCH_MATMUL", infer_shapes=infer_shapes, macs=macs, run_float=run_float,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
