"""MEAN int8 over constant axes (any set, keep_dims or not): TFLM's QuantizedMeanOrSum rounding."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


def _axes(graph: Graph, node: Node) -> list[int]:
    x = u.in_tensor(graph, node, 0)
    rank = len(x.shape)
    axes: list[int] = []
    for a in u.const_int_values(graph, node, 1, "the axis operand"):
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise u.unsupported(node, f"axis {a} out of range for rank {rank}")
        if r not in axes:
            axes.append(r)
    return axes


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    axes = _axes(graph, node)
    keep = bool(node.attrs.get("keep_dims", False))
    out = []
    for d, n in enumerate(x.shape):
        if d in axes:
            if keep:
                out.append(1)
        else:
            out.append(int(n))
    return [tuple(out)]


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    shape = tuple(int(d) for d in x.shape)
    rank = len(shape)
    if rank > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {rank} input")
    axes = _axes(graph, node)
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    kept = [d for d in range(rank) if d not in axes]
    red = sorted(axes)
    n = u.numel(tuple(shape[d] for d in red))
    if n == 0 or u.numel(shape) == 0:
        raise u.unsupported(node, "an empty input")
    m, s = tm.mean_multiplier(s_in, s_out, n)
    params: dict = dict(
        num_kept=len(kept),
        num_red=len(red),
        kept_dims=u.i32([shape[d] for d in kept] or [1]),
        kept_strides=u.i32([strides[d] for d in kept] or [0]),
        red_dims=u.i32([shape[d] for d in red] or [1]),
        red_strides=u.i32([strides[d] for d in red] or [0]),
        num_elements=n,
        input_zero_point=zp_in,
        output_zero_point=zp_out,
        multiplier=m,
        shift=s,
    )
    return KernelCall(
        func="ek_mean_s8",
        params_type="ek_mean_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_mean.c",),
    )


register(OpDef(name="MEAN", infer_shapes=infer_shapes, macs=u.input_elems_macs, lower=lower, doc=__doc__ or ""))
