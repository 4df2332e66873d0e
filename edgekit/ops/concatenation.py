"""CONCATENATION (int8, any axis): byte copies; all inputs must share the output's quantization.

Float: ``torch.cat`` (constant inputs, batch 1 in the IR, join every sample of the batch).
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_concat_params_t")
class ConcatParams(KernelParams):
    num_inputs: int
    outer: int
    out_row_bytes: int
    in_row_bytes: np.ndarray


def _axis(graph: Graph, node: Node) -> int:
    rank = len(u.in_tensor(graph, node, 0).shape)
    axis = int(node.attrs.get("axis", 0))
    if axis < 0:
        axis += rank
    if not 0 <= axis < max(rank, 1):
        raise u.unsupported(node, f"axis {node.attrs.get('axis')} for rank {rank}")
    return axis


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    axis = _axis(graph, node)
    shapes = [tuple(int(d) for d in graph.tensors[i].shape) for i in node.inputs if i >= 0]
    out = list(shapes[0])
    for s in shapes[1:]:
        if len(s) != len(out) or any(s[d] != out[d] for d in range(len(out)) if d != axis):
            raise u.unsupported(node, f"input shapes {shapes} do not concatenate along axis {axis}")
        out[axis] += s[axis]
    return [tuple(out)]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    axis = int(node.attrs.get("axis", 0))
    parts = [a for a in args if a is not None]
    n = max(int(a.shape[0]) for a in parts)
    if axis % parts[0].dim() != 0:  # constants (batch 1 in the IR) join every sample of the batch
        parts = [a.expand(n, *a.shape[1:]) if a.shape[0] == 1 and n > 1 else a for a in parts]
    return [fl.fused(node, torch.cat(parts, dim=axis))]


def lower(graph: Graph, node: Node) -> KernelCall:
    y = u.out_tensor(graph, node)
    u.require_dtype(node, y, ("int8",), "output")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if u.fused_act(node) != "NONE":
        raise u.unsupported(node, "a fused activation on int8 concatenation")
    axis = _axis(graph, node)
    ins = [graph.tensors[i] for i in node.inputs if i >= 0]
    for k, t in enumerate(ins):
        u.require_dtype(node, t, ("int8",), f"input {k}")
        if t.is_const:
            raise u.unsupported(node, f"constant input {k} ('{t.name}')")
        s, z = u.per_tensor_q(node, t, f"input {k}")
        if np.float32(s) != np.float32(s_out) or z != zp_out:
            raise u.unsupported(node, f"input {k} quantization ({s}, {z}) differs from the output's")
    shape = tuple(int(d) for d in y.shape)
    outer = u.numel(shape[:axis])
    inner = u.numel(shape[axis + 1 :])
    rows = [int(t.shape[axis]) * inner for t in ins]
    return KernelCall(
        func="ek_concat_s8",
        params=ConcatParams(num_inputs=len(ins), outer=outer, out_row_bytes=sum(rows), in_row_bytes=u.i32(rows)),
        inputs=[t.id for t in ins],
        outputs=[y.id],
        runtime_sources=("ek_copy.c",),
    )


register(OpDef(
    name="CONCATENATION",
    infer_shapes=infer_shapes,
    macs=u.zero_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, output=SHARED, activation_operands=True),
    lower=lower,
    tflite_version=versions({"int8": 2}),
    doc=__doc__ or "",
))
