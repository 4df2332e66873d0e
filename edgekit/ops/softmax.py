"""SOFTMAX int8 → int8 over the last axis; output must be (1/256, −128) as TFLM requires.

Float: ``softmax(beta·x)`` over the last axis. int8: TFLM's fixed-point exp/sum with the input
scaling of :func:`softmax_params` (``ek_softmax_s8``).
"""

from __future__ import annotations

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions

OUTPUT_QPARAMS = (1.0 / 256.0, -128)
SCALED_DIFF_INTEGER_BITS = 5


@c_struct("ek_softmax_params_t")
class SoftmaxParams(KernelParams):
    outer: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(beta: float, input_scale: float) -> dict[str, int]:
    """``CalculateSoftmaxParams`` for int8 → int8: ``PreprocessSoftmaxScaling`` + diff_min."""
    bits = SCALED_DIFF_INTEGER_BITS
    real = min(float(nm.f32(beta)) * float(nm.f32(input_scale)) * float(1 << (31 - bits)), float((1 << 31) - 1.0))
    mult, left_shift = nm.quantize_multiplier_greater_than_one(real)
    diff_min = -nm.calculate_input_radius(bits, left_shift)
    return {"input_multiplier": mult, "input_left_shift": left_shift, "diff_min": diff_min}


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    beta = float(node.attrs.get("beta", 1.0) or 1.0)
    return [torch.softmax(args[0] * beta, dim=-1)]


@c_struct("ek_softmax_f32_params_t")
class SoftmaxF32Params(KernelParams):
    outer: int
    depth: int
    beta: float


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_softmax_f32`` (max-subtracted expf, one reciprocal per row), in place."""
    x, y = _f32.unary_tensors(graph, node)
    shape = tuple(x.shape) or (1,)
    depth = int(shape[-1])
    params = SoftmaxF32Params(outer=u.numel(shape) // max(depth, 1), depth=depth,
                              beta=float(node.attrs.get("beta", 1.0) or 1.0))
    return KernelCall(func="ek_softmax_f32", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    x, y = u.unary_int8(graph, node)
    s_in, _ = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise u.unsupported(node, f"int8 output quantization ({s_out}, {zp_out}); TFLM requires (1/256, -128)")
    shape = tuple(x.shape) or (1,)
    depth = int(shape[-1])
    beta = float(node.attrs.get("beta", 1.0))
    params = SoftmaxParams(outer=u.numel(shape) // max(depth, 1), depth=depth, **softmax_params(beta, s_in))
    return KernelCall(func="ek_softmax_s8", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=("ek_softmax.c",))


register(OpDef(
    name="SOFTMAX",
    infer_shapes=u.same_shape,
    macs=u.input_elems_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, output=OUTPUT_QPARAMS),
    lower=lower,
    tflite_version=versions({"int8": 2}),
    doc=__doc__ or "",
))
