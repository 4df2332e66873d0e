"""MUL (int8, with broadcasting): TFLM's reference ``(x + off1)·(y + off2)`` requantized.

Float: ``a · b`` then the fused activation. int8: one multiplier ``s1·s2/s_out`` (``ek_mul_s8``).
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import Broadcast, KernelParams, Multiplier, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_mul_params_t")
class MulParams(KernelParams):
    bc: Broadcast
    input1_offset: int
    input2_offset: int
    output_offset: int
    output: Multiplier
    act_min: int
    act_max: int


def mul_multiplier(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """MUL: ``double(s1)·double(s2)/double(s_out)``."""
    return nm.quantize_multiplier(float(nm.f32(s1)) * float(nm.f32(s2)) / float(nm.f32(s_out)))


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [fl.fused(node, args[0] * args[1])]


def lower(graph: Graph, node: Node) -> KernelCall:
    ops = u.binary_operands(graph, node)
    s1, z1 = u.per_tensor_q(node, ops["a"], "input 0")
    s2, z2 = u.per_tensor_q(node, ops["b"], "input 1")
    so, zo = u.per_tensor_q(node, ops["y"], "output")
    act_min, act_max = u.act_range(node, so, zo)
    params = MulParams(bc=ops["bc"], input1_offset=-z1, input2_offset=-z2, output_offset=zo,
                       output=Multiplier(*mul_multiplier(s1, s2, so)), act_min=act_min, act_max=act_max)
    return KernelCall(
        func="ek_mul_s8",
        params=params,
        inputs=ops["inputs"],
        outputs=[ops["y"].id],
        may_alias_input=ops["alias"],
        runtime_sources=("ek_elementwise.c",),
    )


register(OpDef(
    name="MUL",
    infer_shapes=u.binary_infer_shapes,
    macs=u.elementwise_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, activation_operands=True, fuses_activation=True),
    lower=lower,
    tflite_version=versions({"int8": 2, "int16": 3}),
    doc=__doc__ or "",
))
