"""LEAKY_RELU: ``x`` for ``x >= 0``, ``alpha·x`` below (any alpha, also > 1 or < 0).

Float: ``F.leaky_relu(x, alpha)``. int8: TFLM's ``QuantizeLeakyRelu`` (reference_ops): the input
offset removed, then one of two requantizations — the identity multiplier ``s_in/s_out`` for
``x >= 0``, the alpha multiplier ``alpha·s_in/s_out`` below — plus the output zero point,
clamped to int8 (``ek_leaky_relu_s8``). A negative alpha multiplier is applied to ``|m|`` and the
result negated, as TFLM does. PTQ gives the output its own calibrated quantization.
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, Multiplier, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions

INT32_MIN = -(2**31)


@c_struct("ek_leaky_relu_params_t")
class LeakyReluParams(KernelParams):
    size: int
    input_zero_point: int
    output_zero_point: int
    identity: Multiplier  # s_in / s_out
    alpha: Multiplier  # alpha · s_in / s_out (multiplier < 0 when alpha < 0)


def leaky_relu_multipliers(s_in: float, alpha: float, s_out: float) -> tuple[Multiplier, Multiplier]:
    """``CalculateOpDataLeakyRelu``: (identity, alpha) multipliers, each ratio formed in float32
    (``double(float(s_in·alpha/s_out))``, ``double(float(s_in/s_out))``)."""
    si, a, so = nm.f32(s_in), nm.f32(alpha), nm.f32(s_out)
    identity = Multiplier(*nm.quantize_multiplier(float(si / so)))
    alpha_m = Multiplier(*nm.quantize_multiplier(float(si * a / so)))
    return identity, alpha_m


def _alpha(node: Node) -> float:
    """The slope below zero (TFLite's LeakyReluOptions.alpha; 0.0 when absent, as in the schema)."""
    alpha = node.attrs.get("alpha")
    return 0.0 if alpha is None else float(alpha)


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    return [F.leaky_relu(args[0], _alpha(node))]


def lower(graph: Graph, node: Node) -> KernelCall:
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    identity, alpha = leaky_relu_multipliers(s_in, _alpha(node), s_out)
    if alpha.multiplier == INT32_MIN:  # TFLM negates it: no int32 holds -INT32_MIN
        raise u.unsupported(node, f"alpha {_alpha(node)} gives the multiplier -2^31, which TFLM cannot negate")
    params = LeakyReluParams(size=u.numel(tuple(x.shape)), input_zero_point=zp_in, output_zero_point=zp_out,
                             identity=identity, alpha=alpha)
    return KernelCall(func="ek_leaky_relu_s8", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=("ek_unary.c",))


register(OpDef(
    name="LEAKY_RELU",
    infer_shapes=u.same_shape,
    macs=u.input_elems_macs,
    run_float=run_float,
    quant=QuantRule(int8=True),
    lower=lower,
    tflite_version=versions({"int16": 2}),
    patch_pointwise=True,
    doc=__doc__ or "",
))
