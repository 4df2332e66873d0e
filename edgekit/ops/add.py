"""ADD (int8, with broadcasting): TFLM's left-shift-20 rescale recipe (``CalculateOpDataAdd``).

Float: ``a + b`` then the fused activation. int8: both inputs are rescaled to a common scale
(``left_shift`` 20, multipliers < 1), added and requantized (``ek_add_s8``). A residual ADD may
be fused into the GEMM convolution that produces one operand (:func:`edgekit.lower.fuse_residual_adds`).
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import AddParams, Multiplier
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions

LEFT_SHIFT = 20  # int8 ADD/SUB


def add_multipliers(s1: float, s2: float, s_out: float) -> tuple[int, Multiplier, Multiplier, Multiplier]:
    """``CalculateOpDataAdd`` (add_common.cc), double arithmetic: (left shift, input 1, input 2,
    output multipliers)."""
    s1d, s2d, sod = float(nm.f32(s1)), float(nm.f32(s2)), float(nm.f32(s_out))
    twice_max = 2.0 * max(s1d, s2d)
    m1 = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(s1d / twice_max))
    m2 = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(s2d / twice_max))
    mo = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(twice_max / ((1 << LEFT_SHIFT) * sod)))
    return LEFT_SHIFT, m1, m2, mo


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [fl.fused(node, args[0] + args[1])]


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: ek_add_f32, broadcasting, constants from flash
        return _f32.binary_call(graph, node, "ek_add_f32")
    return u.lower_add_like(graph, node, "ek_add_s8", add_multipliers)


def add_like_reference(graph: Graph, node: Node, args: list, p: object, sign: int) -> list:
    """TFLM's reference int8 Add (sign 1) or Sub (sign −1), broadcasting, on the parameters the
    op's ``lower`` computed: each input plus its offset, shifted left by 20, rescaled
    (MultiplyByQuantizedMultiplierSmallerThanOneExp), added or subtracted in int32, rescaled to
    the output, + zp_out, clamped to the activation range."""
    if not isinstance(p, AddParams):
        raise u.unsupported(node, f"no integer reference for this {node.op} (int8 only)")
    ar = p.arith
    a, b = _int.aligned(_int.operand(graph, node, args, 0), _int.operand(graph, node, args, 1))
    v1 = _int.requant((a + ar.input1_offset) << ar.left_shift, ar.input1.multiplier, ar.input1.shift)
    v2 = _int.requant((b + ar.input2_offset) << ar.left_shift, ar.input2.multiplier, ar.input2.shift)
    y = _int.requant(_int.wrap32(v1 + sign * v2), ar.output.multiplier, ar.output.shift) + ar.output_offset
    return [_int.unsamples(_int.clamp_int8(y, ar.act_min, ar.act_max), u.out_shape(graph, node))]


def run_int(graph: Graph, node: Node, args: list) -> list:
    return add_like_reference(graph, node, args, lower(graph, node).params, 1)


register(OpDef(
    name="ADD",
    infer_shapes=u.binary_infer_shapes,
    macs=u.elementwise_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, activation_operands=True, fuses_activation=True),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 2, "int16": 3}),
    patch_pointwise=True,
    doc=__doc__ or "",
))
