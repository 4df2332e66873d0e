"""STRIDED_SLICE (float IR only for now): constant begin/end/strides with begin/end masks and
`shrink_axis_mask` (no ellipsis or new-axis masks)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import OpDef, register
from edgekit.ops import _util as u
from edgekit.ops._float_only import const_ints


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    begin, end, strides = (const_ints(graph, node, i, "a slice operand") for i in (1, 2, 3))
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


register(OpDef(name="STRIDED_SLICE", infer_shapes=infer_shapes, macs=u.zero_macs, lower=None, doc=__doc__ or ""))
