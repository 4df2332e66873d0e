"""MUL (int8, with broadcasting): TFLM's reference ``(x + off1)·(y + off2)`` requantized.

Float: ``a · b`` then the fused activation. int8: one multiplier ``s1·s2/s_out`` (``ek_mul_s8``).
"""

from __future__ import annotations

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
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


def _int8_params(graph: Graph, node: Node) -> tuple[dict, MulParams]:
    """The operands and TFLM's int8 MUL parameters (shared by lower and run_int)."""
    ops = u.binary_operands(graph, node)
    s1, z1 = u.per_tensor_q(node, ops["a"], "input 0")
    s2, z2 = u.per_tensor_q(node, ops["b"], "input 1")
    so, zo = u.per_tensor_q(node, ops["y"], "output")
    act_min, act_max = u.act_range(node, so, zo)
    params = MulParams(bc=ops["bc"], input1_offset=-z1, input2_offset=-z2, output_offset=zo,
                       output=Multiplier(*mul_multiplier(s1, s2, so)), act_min=act_min, act_max=act_max)
    return ops, params


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: ek_mul_f32, broadcasting, constants from flash
        return _f32.binary_call(graph, node, "ek_mul_f32")
    ops, params = _int8_params(graph, node)
    if is_integer_identity(graph, node, params):
        return KernelCall.view(ops["inputs"][0], ops["y"].id)
    return KernelCall(
        func="ek_mul_s8",
        params=params,
        inputs=ops["inputs"],
        outputs=[ops["y"].id],
        may_alias_input=ops["alias"],
        runtime_sources=("ek_elementwise.c",),
    )


def _scalar_const(graph: Graph, node: Node) -> int | None:
    """Input 1 when it is a one-element int8 constant (e.g. attention's 1/sqrt(d)), else None."""
    b = graph.tensors[node.inputs[1]] if len(node.inputs) > 1 else None
    if b is None or b.data is None or b.data.size != 1 or graph.tensors[node.inputs[0]].is_const:
        return None
    return int(b.data.reshape(-1)[0])


def _mul_int(a: np.ndarray, b: np.ndarray | int, p: MulParams) -> np.ndarray:
    prod = (a.astype(np.int64) + p.input1_offset) * (np.asarray(b, dtype=np.int64) + p.input2_offset)
    v = p.output_offset + nm.multiply_by_quantized_multiplier_np(prod, p.output.multiplier, p.output.shift)
    return np.clip(v, p.act_min, p.act_max).astype(np.int8)


def is_integer_identity(graph: Graph, node: Node, p: MulParams) -> bool:
    """MUL by a scalar constant whose output scale is the input's times the constant (the
    quantizer folds attention's 1/sqrt(d) into the scale so): TFLM's integer MUL then returns
    every int8 input unchanged — checked here over all 256 — and the op lowers to a view."""
    c = _scalar_const(graph, node)
    if c is None:
        return False
    every = np.arange(-128, 128, dtype=np.int64)
    return bool(np.array_equal(_mul_int(every, c, p), every))


def run_int(graph: Graph, node: Node, args: list) -> list:
    _, p = _int8_params(graph, node)
    a, b = (args[i] if args[i] is not None else graph.tensors[node.inputs[i]].data for i in (0, 1))
    return [_mul_int(a, b, p)]


register(OpDef(
    name="MUL",
    run_int=run_int,
    infer_shapes=u.binary_infer_shapes,
    macs=u.elementwise_macs,
    run_float=run_float,
    quant=QuantRule(int8=True, activation_operands=True, fuses_activation=True),
    lower=lower,
    tflite_version=versions({"int8": 2, "int16": 3}),
    doc=__doc__ or "",
))
