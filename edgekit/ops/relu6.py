"""RELU6 int8: TFLM clamps the input to [zp_in, q_in(6)] with no requantization (the output
is expected to share the input's quantization; TFLM ignores the output's).

Float: ``clamp(x, 0, 6)``. PTQ folds a RELU6 that follows a conv/FC/ADD into it.
"""

from __future__ import annotations

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_clamp_params_t")
class ClampParams(KernelParams):
    size: int
    lower: int
    upper: int


def _relu6(x):  # type: ignore[no-untyped-def]
    return fl.act(x, "RELU6")


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):  # float32: a clamp to [0, 6]
        return _f32.clamp_call(graph, node, 0.0, 6.0)
    x, y = u.unary_int8(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    six = nm.float_to_quantized_int8(6.0, s_in, zp_in)
    return KernelCall(func="ek_clamp_s8", params=ClampParams(size=u.numel(tuple(x.shape)), lower=zp_in, upper=six),
                      inputs=[x.id], outputs=[y.id], may_alias_input=(0,), runtime_sources=("ek_unary.c",))


register(OpDef(name="RELU6", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=fl.elementwise(_relu6),
               quant=QuantRule(int8=True, output=SHARED, fusable_as="RELU6"), lower=lower,
               tflite_version=versions({"int8": 2}), patch_pointwise=True, doc=__doc__ or ""))
