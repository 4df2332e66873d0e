"""MEAN int8 over constant axes (any set, keep_dims or not): TFLM's QuantizedMeanOrSum rounding.

Float: ``x.mean`` over the axes. int8: sum, subtract ``zp_in·n``, one multiplier with ``1/n``
folded in (:func:`mean_multiplier`), ``ek_mean_s8``.
"""

from __future__ import annotations

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _int
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, Multiplier, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_mean_params_t")
class MeanParams(KernelParams):
    num_kept: int
    num_red: int
    kept_dims: np.ndarray
    kept_strides: np.ndarray
    red_dims: np.ndarray
    red_strides: np.ndarray
    num_elements: int
    input_zero_point: int
    output_zero_point: int
    rescale: Multiplier


def mean_multiplier(input_scale: float, output_scale: float, num_elements: int) -> tuple[int, int]:
    """int8 MEAN's final multiplier (reduce.h ``QuantizedMeanOrSum``, compute_sum=false).

    Start from ``QuantizeMultiplier(s_in/s_out)``, then fold ``1/num_elements``:
    ``shift = min(floor(log2 n), 32, 31 + shift0)``,
    ``m = (int64(m0) << shift) / n`` (truncating), ``shift0 − shift``.
    """
    m0, sh0 = nm.requantize_multiplier(input_scale, output_scale)
    n = int(num_elements)
    if n <= 0:
        raise ValueError("MEAN over an empty axis")
    s = n.bit_length() - 1
    s = min(s, 32)
    s = min(s, 31 + sh0)
    m = (m0 << s) // n  # both non-negative: floor == C truncation
    return nm.wrap_int32(m), sh0 - s


@c_struct("ek_mean_f32_params_t")
class MeanF32Params(KernelParams):
    num_kept: int
    num_red: int
    kept_dims: np.ndarray
    kept_strides: np.ndarray
    red_dims: np.ndarray
    red_strides: np.ndarray
    num_elements: int


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_mean_f32``, the float sum over the reduced dims divided by their count."""
    x, y = _f32.unary_tensors(graph, node)
    shape = tuple(int(d) for d in x.shape)
    rank = len(shape)
    if rank > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {rank} input")
    red = sorted(u.reduce_axes(graph, node))
    kept = [d for d in range(rank) if d not in red]
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    n = u.numel(tuple(shape[d] for d in red))
    if n == 0 or u.numel(shape) == 0:
        raise u.unsupported(node, "an empty input")
    params = MeanF32Params(
        num_kept=len(kept), num_red=len(red),
        kept_dims=u.i32([shape[d] for d in kept] or [1]), kept_strides=u.i32([strides[d] for d in kept] or [0]),
        red_dims=u.i32([shape[d] for d in red] or [1]), red_strides=u.i32([strides[d] for d in red] or [0]),
        num_elements=n,
    )
    return KernelCall(func="ek_mean_f32", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    shape = tuple(int(d) for d in x.shape)
    rank = len(shape)
    if rank > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {rank} input")
    axes = u.reduce_axes(graph, node)
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    kept = [d for d in range(rank) if d not in axes]
    red = sorted(axes)
    n = u.numel(tuple(shape[d] for d in red))
    if n == 0 or u.numel(shape) == 0:
        raise u.unsupported(node, "an empty input")
    params = MeanParams(
        num_kept=len(kept),
        num_red=len(red),
        kept_dims=u.i32([shape[d] for d in kept] or [1]),
        kept_strides=u.i32([strides[d] for d in kept] or [0]),
        red_dims=u.i32([shape[d] for d in red] or [1]),
        red_strides=u.i32([strides[d] for d in red] or [0]),
        num_elements=n,
        input_zero_point=zp_in,
        output_zero_point=zp_out,
        rescale=Multiplier(*mean_multiplier(s_in, s_out, n)),
    )
    return KernelCall(
        func="ek_mean_s8",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_mean.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's QuantizedMeanOrSum (int8 mean) on the parameters ``lower`` computes: the int32 sum
    over the axes, minus ``zp_in·n``, MultiplyByQuantizedMultiplier by the 1/n-folded multiplier,
    + zp_out, clamped to int8."""
    p = lower(graph, node).params
    if not isinstance(p, MeanParams):
        raise u.unsupported(node, "no integer reference for this MEAN (int8 only)")
    x = _int.operand(graph, node, args, 0)
    s = _int.wrap32(x.sum(axis=tuple(a + 1 for a in u.reduce_axes(graph, node))))
    shifted = _int.wrap32(s - p.input_zero_point * p.num_elements)
    y = _int.requant(shifted, p.rescale.multiplier, p.rescale.shift) + p.output_zero_point
    out = u.out_shape(graph, node)
    return [_int.unsamples(_int.clamp_int8(y).reshape((x.shape[0], *out)), out)]


register(OpDef(
    name="MEAN",
    infer_shapes=u.reduce_infer_shapes,
    macs=u.input_elems_macs,
    run_float=u.run_reduce("mean"),
    quant=QuantRule(int8=True),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 2}),
    doc=__doc__ or "",
))
