"""EK_RESIDUAL_ADD (edgekit custom op): the I-ViT residual stream add, int16 out.

``out = sat16(((a − zp_a)·m_a + (b − zp_b)·m_b + 2^(e−1)) >> e)``: each branch scaled to the output
by its own dyadic multiplier ``m/2^e`` (``s_a/s_out``, ``s_b/s_out``, one shift), then added and
rounded once (I-ViT rounds each branch, ``round(z1·m1/2^e1) + round(z2·m2/2^e2)``: one rounding is
more accurate and costs two multiply-accumulates). Operands are int8 (a block's output) or int16 (the
stream); input 2 may be a constant, stored as int16 (the position embedding). The output is int16
with zero point 0. Same shapes only (batch broadcast aside). Float: ``a + b``. In a quantized
file it is a CUSTOM operator.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.ops import _float as fl
from edgekit.ops import _ivit
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register

NAME = "EK_RESIDUAL_ADD"
MAX_RATIO = float(1 << 14)


@c_struct("ek_residual_add_params_t")
class ResidualAddParams(KernelParams):
    size: int
    in1_int16: int
    in2_int16: int
    in1_zero_point: int
    in2_zero_point: int
    in1_multiplier: int
    in2_multiplier: int
    shift: int
    in2_const: int
    in2_data: np.ndarray


def _branch(node: Node, t: Tensor, s_out: float, what: str) -> tuple[int, int, float]:
    u.require_dtype(node, t, ("int8", "int16"), what)
    s, zp = u.per_tensor_q(node, t, what)
    ratio = float(s) / float(s_out)
    if ratio > MAX_RATIO:
        raise u.unsupported(node, f"{what} scale {s:g} is {ratio:g}× the output's (at most {MAX_RATIO:g})")
    return int(t.dtype == "int16"), zp, ratio


def _params(graph: Graph, node: Node) -> ResidualAddParams:
    a = u.require_activation(graph, node, 0)
    b = u.in_tensor(graph, node, 1)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, y, ("int16",), "output")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != 0:
        raise u.unsupported(node, f"output zero point {zp_out} (the residual stream is symmetric)")
    if tuple(a.shape) != tuple(y.shape) or tuple(b.shape) != tuple(y.shape):
        raise u.unsupported(node, f"operands {tuple(a.shape)} and {tuple(b.shape)}: same shapes only")
    a16, zpa, ra = _branch(node, a, s_out, "input 1")
    b16, zpb, rb = _branch(node, b, s_out, "input 2")
    (ma, mb), shift = _ivit.common_shift_dyadic([ra, rb])
    data = np.zeros(0, dtype=np.int16)
    if b.is_const:
        if b.dtype != "int16":
            raise u.unsupported(node, "a constant input 2 must be int16")
        data = b.data.astype(np.int16).reshape(-1)
    return ResidualAddParams(size=u.numel(tuple(y.shape)), in1_int16=a16, in2_int16=b16, in1_zero_point=zpa,
                             in2_zero_point=zpb, in1_multiplier=ma, in2_multiplier=mb, shift=shift,
                             in2_const=int(b.is_const), in2_data=data)


def residual_add_reference(a: np.ndarray, b: np.ndarray, p: ResidualAddParams) -> np.ndarray:
    va = a.astype(np.int64) - p.in1_zero_point
    vb = b.astype(np.int64) - p.in2_zero_point
    v = _ivit.apply_dyadic(va * p.in1_multiplier + vb * p.in2_multiplier, p.shift)
    return np.clip(v, -32768, 32767).astype(np.int16)


def run_int(graph: Graph, node: Node, args: list) -> list:
    p = _params(graph, node)
    b = args[1]
    if b is None:
        b = graph.tensors[node.inputs[1]].data
    return [residual_add_reference(args[0], b, p)]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [args[0] + args[1]]


def lower(graph: Graph, node: Node) -> KernelCall:
    a = u.require_activation(graph, node, 0)
    b = u.in_tensor(graph, node, 1)
    y = u.out_tensor(graph, node)
    inputs = [a.id] if b.is_const else [a.id, b.id]
    alias = tuple(i for i, t in enumerate(inputs) if graph.tensors[t].dtype == "int16")
    return KernelCall(func="ek_residual_add_s16", params=_params(graph, node), inputs=inputs, outputs=[y.id],
                      may_alias_input=alias, runtime_sources=("ek_ivit.c",))


register(OpDef(name=NAME, infer_shapes=u.same_shape, macs=u.elementwise_macs, run_float=run_float,
               quant=QuantRule(int8=True), lower=lower, run_int=run_int, custom=True, doc=__doc__ or ""))
