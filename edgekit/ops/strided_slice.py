"""STRIDED_SLICE (float IR only for now): constant begin/end/strides with begin/end masks and
`shrink_axis_mask` (no ellipsis or new-axis masks). Float: the batch axis is always taken whole."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, OpDef, QuantRule, register, versions


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    begin, end, strides = (u.const_int_values(graph, node, i, "a slice operand") for i in (1, 2, 3))
    if node.attrs.get("ellipsis_mask") or node.attrs.get("new_axis_mask"):
        raise u.unsupported(node, "ellipsis or new-axis masks")
    bm, em, sm = (int(node.attrs.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    out: list[int] = []
    for d, n in enumerate(x.shape):
        if d >= len(begin):
            out.append(int(n))
            continue
        if sm >> d & 1:
            continue
        b = None if bm >> d & 1 else begin[d]
        e = None if em >> d & 1 else end[d]
        out.append(len(range(*slice(b, e, strides[d]).indices(int(n)))))
    return [tuple(out)]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    x = args[0]
    begin, end, strides = (ex.const_ints(node.inputs[i]) for i in (1, 2, 3))
    bm, em = int(node.attrs.get("begin_mask", 0)), int(node.attrs.get("end_mask", 0))
    index = []
    for d in range(x.dim()):
        if d == 0:  # the batch axis is always taken whole
            index.append(slice(None))
            continue
        b = None if bm >> d & 1 else begin[d]
        e = None if em >> d & 1 else end[d]
        index.append(slice(b, e, strides[d]))
    return [x[tuple(index)].reshape(ex.out_shape(node, x))]


register(OpDef(name="STRIDED_SLICE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float,
               quant=QuantRule(output=SHARED), tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
