"""QUANTIZE: float32 → int8 (``roundf(x / scale) + zp`` in float32) and int8 → int8 requantize.

Float: the identity on real values (a float model's boundary op; PTQ removes it).
"""

from __future__ import annotations

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, Multiplier, RequantizeParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, register, versions


@c_struct("ek_quantize_f32_params_t")
class QuantizeF32Params(KernelParams):
    size: int
    scale: float
    zero_point: int


def run_float(ex: object, node: Node, args: list) -> list:
    return [args[0].float()]


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("float32", "int8"), "input")
    u.require_dtype(node, y, ("int8",), "output")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    size = u.numel(tuple(x.shape))
    if x.dtype == "float32":
        return KernelCall(func="ek_quantize_f32_s8",
                          params=QuantizeF32Params(size=size, scale=float(np.float32(s_out)), zero_point=zp_out),
                          inputs=[x.id], outputs=[y.id], runtime_sources=("ek_unary.c",))
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    params = RequantizeParams(size=size, input_zero_point=zp_in, output_zero_point=zp_out,
                              rescale=Multiplier(*nm.requantize_multiplier(s_in, s_out)), act_min=-128, act_max=127)
    return KernelCall(func="ek_requantize_s8", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=("ek_unary.c",))


register(OpDef(name="QUANTIZE", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float, lower=lower,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
