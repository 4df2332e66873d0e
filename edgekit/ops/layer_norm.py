"""LAYER_NORM (edgekit op; TFLite has no builtin): normalize over the last axis, then scale by
`gamma` (input 1) and shift by `beta` (input 2); attr `epsilon`.

float32: ``ek_layer_norm_f32`` (two-pass mean and biased variance, ``1/sqrtf(var + eps)``; absent
gamma/beta lowered to ones/zeros). No int8 kernel (the integer-only transformer uses edgekit's
own I-LayerNorm)."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, register


@c_struct("ek_layer_norm_f32_params_t")
class LayerNormF32Params(KernelParams):
    outer: int
    depth: int
    epsilon: float
    gamma: np.ndarray
    beta: np.ndarray


def macs(graph: Graph, node: Node) -> int:
    return 4 * u.numel(tuple(u.in_tensor(graph, node, 0).shape))  # mean, variance, normalize, affine


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x = args[0]
    gamma = args[1] if len(args) > 1 else None
    beta = args[2] if len(args) > 2 else None
    eps = float(node.attrs.get("epsilon", 1e-5))
    return [F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)]


def lower(graph: Graph, node: Node) -> KernelCall:
    if not _f32.is_float32(graph, node):
        raise u.unsupported(node, "no int8 kernel (float32 only: --precision float32)")
    x, y = _f32.unary_tensors(graph, node)
    shape = tuple(x.shape) or (1,)
    depth = int(shape[-1])

    def affine(idx: int, default: float, what: str) -> np.ndarray:
        t = u.opt_in_tensor(graph, node, idx)
        if t is None:
            return np.full(depth, default, dtype=np.float32)
        data = _f32.const_data(node, t, what)
        if data.size != depth:
            raise u.unsupported(node, f"{what} has {data.size} values for a last axis of {depth}")
        return data

    params = LayerNormF32Params(outer=u.numel(shape) // max(depth, 1), depth=depth,
                                epsilon=float(node.attrs.get("epsilon", 1e-5)), gamma=affine(1, 1.0, "gamma"),
                                beta=affine(2, 0.0, "beta"))
    return KernelCall(func="ek_layer_norm_f32", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=(_f32.RUNTIME,))


register(OpDef(name="LAYER_NORM", infer_shapes=u.same_shape, macs=macs, run_float=run_float, lower=lower,
               doc=__doc__ or ""))
