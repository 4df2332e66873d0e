"""LOGISTIC int8 → int8 (output zero point −128): TFLM's gemmlowp fixed-point logistic.

Float: ``sigmoid(x)``. int8: the input is rescaled to Q4.27 (:func:`logistic_params`), inputs
beyond the radius saturate, the rest go through gemmlowp's logistic (``ek_logistic_s8``).
"""

from __future__ import annotations

import math

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions

OUTPUT_QPARAMS = (1.0 / 256.0, -128)
INPUT_INTEGER_BITS = 4


@c_struct("ek_logistic_params_t")
class LogisticParams(KernelParams):
    size: int
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def logistic_params(input_scale: float, input_zero_point: int) -> dict[str, int]:
    """``CalculateArithmeticOpDataLogistic`` for int8 (no 2^31 fix-up, like TFLM)."""
    real = float(nm.f32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    mult = nm.round_half_away(q * (1 << 31))
    mult = nm.wrap_int32(mult)  # static_cast<int32_t>; only 2^31 can overflow (q rounding up to 1)
    radius = nm.calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31)
    return {
        "input_zero_point": int(input_zero_point),
        "input_multiplier": mult,
        "input_left_shift": left_shift,
        "input_range_radius": radius,
    }


def _sigmoid(x):  # type: ignore[no-untyped-def]
    return x.sigmoid()


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: 1 / (1 + expf(-x)), ek_logistic_f32
        return _f32.unary_call(graph, node, "ek_logistic_f32")
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    _, zp_out = u.per_tensor_q(node, y, "output")
    if zp_out != -128:
        raise u.unsupported(node, f"output zero point {zp_out}; TFLM requires -128")
    params = LogisticParams(size=u.numel(tuple(x.shape)), **logistic_params(s_in, zp_in))
    return KernelCall(func="ek_logistic_s8", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=("ek_unary.c",))


register(OpDef(
    name="LOGISTIC",
    infer_shapes=u.same_shape,
    macs=u.input_elems_macs,
    run_float=fl.elementwise(_sigmoid),
    quant=QuantRule(int8=True, output=OUTPUT_QPARAMS),
    lower=lower,
    tflite_version=versions({"int8": 2}),
    patch_pointwise=True,
    doc=__doc__ or "",
))
