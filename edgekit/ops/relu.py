"""RELU int8 (TFLM's requantizing ReluQuantized: ``s_in/s_out`` in float32, clamp at q(0)).

Float: ``max(x, 0)``. PTQ folds a RELU that follows a conv/FC/ADD into it (fused activation).
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import Multiplier, RequantizeParams
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


def relu_multiplier(s_in: float, s_out: float) -> tuple[int, int]:
    """Standalone int8 RELU (``CalculateReluOpData``): ``double(float32(s_in / s_out))``."""
    return nm.quantize_multiplier(float(nm.f32(s_in) / nm.f32(s_out)))


def relu_range(s_out: float, zp_out: int) -> tuple[int, int]:
    """Standalone RELU's clamp range: ``max(-128, zp + roundf(0/scale))``, 127."""
    return max(-128, int(zp_out) + nm.round_half_away(float(nm.f32(0.0) / nm.f32(s_out)))), 127


def _relu(x):  # type: ignore[no-untyped-def]
    return x.relu()


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: a clamp at 0
        return _f32.clamp_call(graph, node, 0.0, _f32.FLT_MAX)
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    lo, hi = relu_range(s_out, zp_out)
    params = RequantizeParams(size=u.numel(tuple(x.shape)), input_zero_point=zp_in, output_zero_point=zp_out,
                              rescale=Multiplier(*relu_multiplier(s_in, s_out)), act_min=lo, act_max=hi)
    return KernelCall(func="ek_requantize_s8", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=("ek_unary.c",))


register(OpDef(name="RELU", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=fl.elementwise(_relu),
               quant=QuantRule(int8=True, fusable_as="RELU"), lower=lower, tflite_version=versions({"int8": 2}),
               patch_pointwise=True, doc=__doc__ or ""))
