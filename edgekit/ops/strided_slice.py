"""STRIDED_SLICE: constant begin/end/strides with begin/end masks and `shrink_axis_mask` (no
ellipsis or new-axis masks, no `offset`), negative strides too; rank <= 6, any element type.

Float: the batch axis is always taken whole. Kernel: TFLM's reference StridedSlice as a strided
copy by element size (``ek_strided_slice``; the first element and the per-axis counts come from
:func:`slice_axes`, TFLM's ``StridedSliceStartForAxis``/``EndForAxis``), or a view (no call) when
the slice is the input's leading elements in order. int8: the output shares the input's
quantization (the bytes are copied, as TFLM does). TFLM Micro itself slices at most 4 dims.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _int
from edgekit.ops import _util as u
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions
from edgekit.ops.transpose import elem_strides, strided_copy_call


@dataclass(frozen=True)
class SliceAxis:
    """One input axis of the slice: elements start, start + stride, ... (count of them); a
    shrunk axis has count 1 and is dropped from the output shape."""

    start: int
    stride: int
    count: int
    shrink: bool


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def slice_axes(graph: Graph, node: Node) -> list[SliceAxis]:
    """TFLM's ``StridedSliceStartForAxis`` / ``StridedSliceEndForAxis`` per input axis (axes
    beyond the begin operand are taken whole)."""
    x = u.in_tensor(graph, node, 0)
    begin, end, strides = (u.const_int_values(graph, node, i, "a slice operand") for i in (1, 2, 3))
    if node.attrs.get("ellipsis_mask") or node.attrs.get("new_axis_mask"):
        raise u.unsupported(node, "ellipsis or new-axis masks")
    if node.attrs.get("offset"):
        raise u.unsupported(node, "the offset option (TFLM ignores it)")
    if not len(begin) == len(end) == len(strides) <= len(x.shape):
        raise u.unsupported(node, f"begin/end/strides of {len(begin)}/{len(end)}/{len(strides)} values "
                                  f"for a rank-{len(x.shape)} input")
    bm, em, sm = (int(node.attrs.get(k, 0) or 0) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    axes: list[SliceAxis] = []
    for d, n in enumerate(int(v) for v in x.shape):
        if d >= len(begin):
            axes.append(SliceAxis(0, 1, n, False))
            continue
        stride = strides[d]
        if stride == 0:
            raise u.unsupported(node, f"stride 0 on axis {d}")
        start = begin[d] + n if begin[d] < 0 else begin[d]
        start = _clamp(start, 0, n) if stride > 0 else _clamp(start, -1, n - 1)
        if bm >> d & 1:
            start = 0 if stride > 0 else n - 1
        shrink = bool(sm >> d & 1)
        if shrink:
            stop = start if start >= n else start + 1
        else:
            stop = end[d] + n if end[d] < 0 else end[d]
            stop = _clamp(stop, 0, n) if stride > 0 else _clamp(stop, -1, n - 1)
            if em >> d & 1:
                stop = n if stride > 0 else -1
        count = max(0, -((start - stop) // stride))  # ceil((stop - start) / stride), either sign
        if shrink and count != 1:
            raise u.unsupported(node, f"shrinking axis {d} at index {begin[d]} of a size-{n} axis")
        axes.append(SliceAxis(start, stride, count, shrink))
    return axes


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


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    axes = slice_axes(graph, node)
    want = tuple(a.count for a in axes if not a.shrink)
    if tuple(int(d) for d in y.shape) != want:
        raise u.unsupported(node, f"output shape {tuple(y.shape)}; the slice gives {want}")
    st = elem_strides(tuple(int(d) for d in x.shape))
    offset = sum(a.start * s for a, s in zip(axes, st, strict=True)) if u.numel(want) else 0
    return strided_copy_call(node, x, y, "ek_strided_slice", offset, [a.count for a in axes],
                             [a.stride * s for a, s in zip(axes, st, strict=True)])


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference StridedSlice on every sample: elements start + i·stride per axis."""
    x = _int.operand(graph, node, args, 0, int64=False)
    for d, a in enumerate(slice_axes(graph, node)):
        x = np.take(x, a.start + a.stride * np.arange(a.count, dtype=np.int64), axis=d + 1)
    out = u.out_shape(graph, node)
    return [_int.unsamples(np.ascontiguousarray(x).reshape((x.shape[0], *out)), out)]


register(OpDef(name="STRIDED_SLICE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float,
               quant=QuantRule(int8=True, output=SHARED), lower=lower, run_int=run_int,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
