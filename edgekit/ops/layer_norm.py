"""LAYER_NORM (edgekit op, float IR only for now; TFLite has no builtin): normalize over the last
axis, then scale by `gamma` (input 1) and shift by `beta` (input 2); attr `epsilon`."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register


def macs(graph: Graph, node: Node) -> int:
    return 4 * u.numel(tuple(u.in_tensor(graph, node, 0).shape))  # mean, variance, normalize, affine


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x = args[0]
    gamma = args[1] if len(args) > 1 else None
    beta = args[2] if len(args) > 2 else None
    eps = float(node.attrs.get("epsilon", 1e-5))
    return [F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)]


register(OpDef(name="LAYER_NORM", infer_shapes=u.same_shape, macs=macs, run_float=run_float, doc=__doc__ or ""))
