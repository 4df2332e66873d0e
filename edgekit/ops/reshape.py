"""RESHAPE: a view (no call); the planner aliases the output to the input buffer."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _int
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, OpDef, QuantRule, register


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    total = u.numel(tuple(x.shape))
    new = node.attrs.get("new_shape")
    if not new:
        shape_t = u.opt_in_tensor(graph, node, 1)
        if shape_t is not None and shape_t.is_const:
            new = [int(v) for v in shape_t.data.reshape(-1)]
        else:
            return [u.out_shape(graph, node)]
    dims = [int(d) for d in new]
    if dims.count(-1) > 1:
        raise u.unsupported(node, f"new shape {dims} has more than one -1")
    if -1 in dims:
        known = u.numel(tuple(d for d in dims if d != -1))
        dims[dims.index(-1)] = total // known if known else 0
    if u.numel(tuple(dims)) != total:
        raise u.unsupported(node, f"cannot reshape {tuple(x.shape)} to {tuple(dims)}")
    return [tuple(dims)]


def run_int(graph: Graph, node: Node, args: list) -> list:
    """The same values, each sample read with the output shape."""
    x = _int.operand(graph, node, args, 0, int64=False)
    out = u.out_shape(graph, node)
    return [_int.unsamples(x.reshape((x.shape[0], *out)), out)]


register(OpDef(name="RESHAPE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=fl.run_reshape,
               quant=QuantRule(int8=True, output=SHARED), lower=u.lower_view, run_int=run_int, doc=__doc__ or ""))
