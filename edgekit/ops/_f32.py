"""Helpers of the float32 lowerings (``--precision float32``; kernels in ``ek_float.c``).

An op module's ``lower`` dispatches on the tensor dtype: a node whose activations are all float32
(:func:`is_float32`) lowers onto its float32 kernel, an int8 node onto its int8 kernel. The
shared parameter structs of the float kernels (unary, clamp, binary, pooling) live here; an
op's own struct lives in its module. No op registers here.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.ops import _util as u
from edgekit.ops.params import ConvGeometry, KernelParams, c_struct
from edgekit.ops.registry import KernelCall

RUNTIME = "ek_float.c"
FLT_MAX = float(np.finfo(np.float32).max)
#: TFLite fused activations as float clamps
ACT_RANGES = {"NONE": (-FLT_MAX, FLT_MAX), "RELU": (0.0, FLT_MAX), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


@c_struct("ek_unary_f32_params_t")
class UnaryF32Params(KernelParams):
    size: int


@c_struct("ek_clamp_f32_params_t")
class ClampF32Params(KernelParams):
    size: int
    lower: float
    upper: float


@c_struct("ek_binary_f32_params_t")
class BinaryF32Params(KernelParams):
    rank: int
    size: int
    broadcast: int
    out_dims: np.ndarray
    in1_strides: np.ndarray
    in2_strides: np.ndarray
    in1_const: int
    in2_const: int
    const1: np.ndarray
    const2: np.ndarray
    act_min: float
    act_max: float


@c_struct("ek_pool_f32_params_t")
class PoolF32Params(KernelParams):
    geom: ConvGeometry
    act_min: float
    act_max: float


def is_float32(graph: Graph, node: Node) -> bool:
    """Every activation the node reads and every tensor it writes is float32 (a float32 node)."""
    tids = graph.activation_inputs(node) + list(node.outputs)
    return bool(node.outputs) and all(graph.tensors[t].dtype == "float32" for t in tids)


def act_range(node: Node) -> tuple[float, float]:
    """The node's fused activation as a float clamp [lo, hi]."""
    act = u.fused_act(node)
    if act not in ACT_RANGES:
        raise u.unsupported(node, f"fused activation {act} is not supported on float32 outputs")
    return ACT_RANGES[act]


def const_data(node: Node, t: Tensor, what: str) -> np.ndarray:
    """The values of a float32 constant tensor, flat, in float32."""
    if not t.is_const:
        raise u.unsupported(node, f"a non-constant {what}")
    u.require_dtype(node, t, ("float32",), what)
    return np.ascontiguousarray(np.asarray(t.data, dtype=np.float32).reshape(-1))


def bias_data(graph: Graph, node: Node, idx: int, n: int) -> np.ndarray:
    """The float32 bias of `n` values (zeros when absent)."""
    t = u.opt_in_tensor(graph, node, idx)
    if t is None:
        return np.zeros(n, dtype=np.float32)
    data = const_data(node, t, "bias")
    if data.size != n:
        raise u.unsupported(node, f"bias has {data.size} values, expected {n}")
    return data


def unary_tensors(graph: Graph, node: Node) -> tuple[Tensor, Tensor]:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("float32",), "input")
    u.require_dtype(node, y, ("float32",), "output")
    return x, y


def unary_call(graph: Graph, node: Node, func: str) -> KernelCall:
    """An elementwise float32 kernel over the input (LOGISTIC, TANH, HARD_SWISH), in place."""
    x, y = unary_tensors(graph, node)
    return KernelCall(func=func, params=UnaryF32Params(size=u.numel(tuple(x.shape))), inputs=[x.id],
                      outputs=[y.id], may_alias_input=(0,), runtime_sources=(RUNTIME,))


def clamp_call(graph: Graph, node: Node, lower: float, upper: float) -> KernelCall:
    """RELU / RELU6 / RELU_N1_TO_1 in float32: a clamp, in place."""
    x, y = unary_tensors(graph, node)
    params = ClampF32Params(size=u.numel(tuple(x.shape)), lower=float(lower), upper=float(upper))
    return KernelCall(func="ek_clamp_f32", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=(RUNTIME,))


def binary_call(graph: Graph, node: Node, func: str) -> KernelCall:
    """ADD / SUB / MUL in float32 with broadcasting; constant operands come from flash."""
    a = u.in_tensor(graph, node, 0)
    b = u.in_tensor(graph, node, 1)
    y = u.out_tensor(graph, node)
    for t, what in ((a, "input 0"), (b, "input 1"), (y, "output")):
        u.require_dtype(node, t, ("float32",), what)
    if a.is_const and b.is_const:
        raise u.unsupported(node, "both operands are constants (fold them before lowering)")
    out = u.broadcast_shape(node, tuple(a.shape), tuple(b.shape))
    if tuple(y.shape) != out:
        raise u.unsupported(node, f"output shape {tuple(y.shape)} is not the broadcast shape {out}")
    dims, sa, sb = u.broadcast_layout(node, tuple(a.shape), tuple(b.shape), out)
    dummy = np.zeros(1, dtype=np.float32)
    lo, hi = act_range(node)
    params = BinaryF32Params(
        rank=int(dims.size), size=u.numel(out), broadcast=int(tuple(a.shape) != tuple(b.shape)), out_dims=dims,
        in1_strides=sa, in2_strides=sb, in1_const=int(a.is_const), in2_const=int(b.is_const),
        const1=const_data(node, a, "input 0") if a.is_const else dummy,
        const2=const_data(node, b, "input 1") if b.is_const else dummy,
        act_min=lo, act_max=hi,
    )
    acts = [t for t in (a, b) if not t.is_const]
    alias = tuple(k for k, t in enumerate(acts) if tuple(t.shape) == out)
    return KernelCall(func=func, params=params, inputs=[t.id for t in acts], outputs=[y.id], may_alias_input=alias,
                      runtime_sources=(RUNTIME,))


def pool_call(graph: Graph, node: Node, func: str) -> KernelCall:
    """AVERAGE_POOL_2D / MAX_POOL_2D in float32."""
    x, y = unary_tensors(graph, node)
    lo, hi = act_range(node)
    params = PoolF32Params(geom=u.pool_geometry(graph, node), act_min=lo, act_max=hi)
    return KernelCall(func=func, params=params, inputs=[x.id], outputs=[y.id], runtime_sources=(RUNTIME,))
