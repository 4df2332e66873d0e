"""CONCATENATION (int8, any axis): byte copies; all inputs must share the output's quantization.

Float: ``torch.cat`` (constant inputs, batch 1 in the IR, join every sample of the batch). int8
(``ek_concat_s8``): every operand and the output have one quantization (TFLM requires it, nothing
is rescaled); a constant operand (a ViT's class token) is read from flash, the activations from
the arena.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.ops import _f32, _int
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
    const_offset: np.ndarray
    consts: np.ndarray


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


def int8_operands(graph: Graph, node: Node) -> tuple[list[Tensor], Tensor]:
    """The operands and the output of an int8 concatenation, checked as TFLM's Prepare() does:
    int8, one quantization for all (scale compared in float32, zero point), no fused activation."""
    y = u.out_tensor(graph, node)
    u.require_dtype(node, y, ("int8",), "output")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if u.fused_act(node) != "NONE":
        raise u.unsupported(node, "a fused activation on int8 concatenation")
    ins = [graph.tensors[i] for i in node.inputs if i >= 0]
    for k, t in enumerate(ins):
        u.require_dtype(node, t, ("int8",), f"input {k}")
        s, z = u.per_tensor_q(node, t, f"input {k}")
        if np.float32(s) != np.float32(s_out) or z != zp_out:
            what = "constant input" if t.is_const else "input"
            raise u.unsupported(node, f"{what} {k} ('{t.name}') quantization ({s:g}, {z}) differs from the "
                                      f"output's ({s_out:g}, {zp_out}); TFLM's int8 concatenation does not rescale")
    if all(t.is_const for t in ins):
        raise u.unsupported(node, "every input is a constant (fold it before lowering)")
    return ins, y


@c_struct("ek_concat_f32_params_t")
class ConcatF32Params(KernelParams):
    num_inputs: int
    outer: int
    in_rows: np.ndarray
    const_offsets: np.ndarray
    consts: np.ndarray


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_concat_f32`` (row copies; a constant operand, e.g. a ViT's class token, from flash)."""
    y = u.out_tensor(graph, node)
    u.require_dtype(node, y, ("float32",), "output")
    if u.fused_act(node) != "NONE":
        raise u.unsupported(node, "a fused activation on concatenation")
    ins = [graph.tensors[i] for i in node.inputs if i >= 0]
    if all(t.is_const for t in ins):
        raise u.unsupported(node, "every input is a constant (fold it before lowering)")
    axis = _axis(graph, node)
    shape = tuple(int(d) for d in y.shape)
    inner = u.numel(shape[axis + 1 :])
    offsets, consts, at = [], [], 0
    for k, t in enumerate(ins):
        if t.is_const:
            data = _f32.const_data(node, t, f"input {k}")
            offsets.append(at)
            consts.append(data)
            at += data.size
        else:
            u.require_dtype(node, t, ("float32",), f"input {k}")
            offsets.append(-1)
    params = ConcatF32Params(num_inputs=len(ins), outer=u.numel(shape[:axis]),
                             in_rows=u.i32([int(t.shape[axis]) * inner for t in ins]), const_offsets=u.i32(offsets),
                             consts=np.concatenate(consts) if consts else np.zeros(0, np.float32))
    return KernelCall(func="ek_concat_f32", params=params, inputs=[t.id for t in ins if not t.is_const],
                      outputs=[y.id], runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    ins, y = int8_operands(graph, node)
    axis = _axis(graph, node)
    shape = tuple(int(d) for d in y.shape)
    outer = u.numel(shape[:axis])
    inner = u.numel(shape[axis + 1 :])
    rows = [int(t.shape[axis]) * inner for t in ins]
    offsets, consts, at = [], [], 0
    for t in ins:
        if t.is_const:  # its rows are read from flash
            data = np.asarray(t.data).astype(np.int8).reshape(-1)
            offsets.append(at)
            consts.append(data)
            at += data.size
        else:
            offsets.append(-1)
    params = ConcatParams(num_inputs=len(ins), outer=outer, out_row_bytes=sum(rows), in_row_bytes=u.i32(rows),
                          const_offset=u.i32(offsets),
                          consts=np.concatenate(consts) if consts else np.zeros(0, np.int8))
    return KernelCall(
        func="ek_concat_s8",
        params=params,
        inputs=[t.id for t in ins if not t.is_const],
        outputs=[y.id],
        runtime_sources=("ek_copy.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """The operands of every sample joined along the axis (constants join every sample)."""
    int8_operands(graph, node)
    parts = [_int.operand(graph, node, args, i, int64=False) for i, t in enumerate(node.inputs) if t >= 0]
    n = max(p.shape[0] for p in parts)
    parts = [np.broadcast_to(p, (n, *p.shape[1:])) for p in parts]
    y = np.concatenate(parts, axis=_axis(graph, node) + 1)
    return [_int.unsamples(y, u.out_shape(graph, node))]


register(OpDef(
    name="CONCATENATION",
    infer_shapes=infer_shapes,
    macs=u.zero_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, output=SHARED, activation_operands=True),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 2}),
    doc=__doc__ or "",
))
