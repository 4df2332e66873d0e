"""PAD / PADV2 (int8, constant padding): pad value = the output zero point (PADV2: its constant).

Float: ``F.pad`` with 0 (PADV2: its constant value).
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_pad_params_t")
class PadParams(KernelParams):
    rank: int
    in_dims: np.ndarray
    out_dims: np.ndarray
    pad_before: np.ndarray
    pad_value: int


@c_struct("ek_pad_f32_params_t")
class PadF32Params(KernelParams):
    rank: int
    in_dims: np.ndarray
    out_dims: np.ndarray
    pad_before: np.ndarray
    pad_value: float


def _paddings(graph: Graph, node: Node) -> list[tuple[int, int]]:
    x = u.in_tensor(graph, node, 0)
    vals = u.const_int_values(graph, node, 1, "the paddings operand")
    rank = len(x.shape)
    if len(vals) != 2 * rank:
        raise u.unsupported(node, f"paddings has {len(vals)} values for a rank-{rank} input")
    pads = [(vals[2 * d], vals[2 * d + 1]) for d in range(rank)]
    if any(a < 0 or b < 0 for a, b in pads):
        raise u.unsupported(node, "negative paddings")
    return pads


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    return [tuple(int(n) + a + b for n, (a, b) in zip(x.shape, _paddings(graph, node), strict=True))]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    pads = np.asarray(ex.const_ints(node.inputs[1])).reshape(-1, 2)
    flat: list[int] = []
    for before, after in pads[::-1]:
        flat += [int(before), int(after)]
    value = float(args[2].reshape(-1)[0]) if node.op == "PADV2" and len(args) > 2 else 0.0
    return [F.pad(args[0], flat, value=value)]


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_pad_f32`` with 0.0 (PADV2: its constant value)."""
    x, y = _f32.unary_tensors(graph, node)
    pads = _paddings(graph, node)
    rank = len(x.shape)
    if rank == 0 or rank > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {rank} input")
    cv = u.opt_in_tensor(graph, node, 2)
    value = 0.0 if cv is None else float(_f32.const_data(node, cv, "pad value")[0])
    in_dims = [int(d) for d in x.shape]
    out_dims = [n + a + b for n, (a, b) in zip(in_dims, pads, strict=True)]
    params = PadF32Params(rank=rank, in_dims=u.i32(in_dims), out_dims=u.i32(out_dims),
                          pad_before=u.i32([a for a, _ in pads]), pad_value=value)
    return KernelCall(func="ek_pad_f32", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    x, y = u.unary_int8(graph, node)
    _, zp_out = u.per_tensor_q(node, y, "output")
    pads = _paddings(graph, node)
    rank = len(x.shape)
    if rank == 0 or rank > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {rank} input")
    pad_value = zp_out
    cv = u.opt_in_tensor(graph, node, 2)
    if cv is not None:
        if not cv.is_const:
            raise u.unsupported(node, "a non-constant pad value")
        pad_value = int(np.asarray(cv.data).reshape(-1)[0])
    in_dims = [int(d) for d in x.shape]
    out_dims = [n + a + b for n, (a, b) in zip(in_dims, pads, strict=True)]
    return KernelCall(
        func="ek_pad_s8",
        params=PadParams(rank=rank, in_dims=u.i32(in_dims), out_dims=u.i32(out_dims),
                         pad_before=u.i32([a for a, _ in pads]), pad_value=pad_value),
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_copy.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference Pad (int8) on the parameters ``lower`` computes: every sample padded with
    the pad value (the output zero point, or PADV2's constant)."""
    p = lower(graph, node).params
    if not isinstance(p, PadParams):
        raise u.unsupported(node, "no integer reference for this PAD (int8 only)")
    x = _int.operand(graph, node, args, 0, int64=False)
    widths = [(0, 0)] + [(int(b), int(o) - int(i) - int(b)) for i, o, b in zip(p.in_dims, p.out_dims, p.pad_before,
                                                                           strict=True)]
    y = np.pad(x, widths, constant_values=np.int8(p.pad_value))
    return [_int.unsamples(y, u.out_shape(graph, node))]


register(OpDef(name="PAD", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float,
               quant=QuantRule(int8=True, output=SHARED), lower=lower, run_int=run_int,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
register(OpDef(name="PADV2", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float, lower=lower,
               run_int=run_int, doc=__doc__ or ""))
