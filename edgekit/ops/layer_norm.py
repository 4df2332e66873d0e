"""LAYER_NORM (edgekit op, float IR only for now; TFLite has no builtin): normalize over the last
axis, then scale by `gamma` (input 1) and shift by `beta` (input 2); attr `epsilon`."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import OpDef, register
from edgekit.ops import _util as u


def macs(graph: Graph, node: Node) -> int:
    return 4 * u.numel(tuple(u.in_tensor(graph, node, 0).shape))  # mean, variance, normalize, affine


register(OpDef(name="LAYER_NORM", infer_shapes=u.same_shape, macs=macs, lower=None, doc=__doc__ or ""))
