"""SUB (int8, with broadcasting): the ADD recipe with float32 multipliers (``CalculateOpDataSub``).

Float: ``a − b`` then the fused activation. int8: ``ek_sub_s8`` (ADD's kernel parameters).
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.add import LEFT_SHIFT, add_like_reference
from edgekit.ops.params import Multiplier
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


def sub_multipliers(s1: float, s2: float, s_out: float) -> tuple[int, Multiplier, Multiplier, Multiplier]:
    """``CalculateOpDataSub`` (sub_common.cc): the same recipe as ADD but in **float32**."""
    s1f, s2f, sof = nm.f32(s1), nm.f32(s2), nm.f32(s_out)
    twice_max = nm.f32(2) * max(s1f, s2f)
    m1 = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(float(s1f / twice_max)))
    m2 = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(float(s2f / twice_max)))
    mo = Multiplier(*nm.quantize_multiplier_smaller_than_one_exp(float(twice_max / (nm.f32(1 << LEFT_SHIFT) * sof))))
    return LEFT_SHIFT, m1, m2, mo


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [fl.fused(node, args[0] - args[1])]


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: ek_sub_f32, broadcasting, constants from flash
        return _f32.binary_call(graph, node, "ek_sub_f32")
    return u.lower_add_like(graph, node, "ek_sub_s8", sub_multipliers)


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 Sub: ADD's arithmetic with the scaled inputs subtracted."""
    return add_like_reference(graph, node, args, lower(graph, node).params, -1)


register(OpDef(
    name="SUB",
    run_int=run_int,
    infer_shapes=u.binary_infer_shapes,
    macs=u.elementwise_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, activation_operands=True, fuses_activation=True),
    lower=lower,
    tflite_version=versions({"int8": 2, "int16": 3}),
    doc=__doc__ or "",
))
