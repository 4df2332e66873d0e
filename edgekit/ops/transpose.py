"""TRANSPOSE (float IR only for now): permute the axes of the input by a constant `perm`."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, OpDef, QuantRule, register, versions


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    perm = u.const_int_values(graph, node, 1, "the perm operand")
    if sorted(perm) != list(range(len(x.shape))):
        raise u.unsupported(node, f"perm {perm} is not a permutation of the {len(x.shape)} axes")
    return [tuple(int(x.shape[p]) for p in perm)]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [args[0].permute(*ex.const_ints(node.inputs[1]))]


register(OpDef(name="TRANSPOSE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float,
               quant=QuantRule(output=SHARED), tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
