"""GELU: elementwise (``approximate``: the tanh form), output shaped like the input.

float32: ``ek_gelu_f32`` (``0.5·x·(1 + erff(x/√2))``, or the tanh form). No int8 kernel (the
integer-only transformer uses edgekit's own ShiftGELU)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, register, versions


@c_struct("ek_gelu_f32_params_t")
class GeluF32Params(KernelParams):
    size: int
    approximate: int


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    return [F.gelu(args[0], approximate="tanh" if node.attrs.get("approximate") else "none")]


def lower(graph: Graph, node: Node) -> KernelCall:
    if not _f32.is_float32(graph, node):
        raise u.unsupported(node, "no int8 kernel (float32 only: --precision float32)")
    x, y = _f32.unary_tensors(graph, node)
    params = GeluF32Params(size=u.numel(tuple(x.shape)), approximate=int(bool(node.attrs.get("approximate"))))
    return KernelCall(func="ek_gelu_f32", params=params, inputs=[x.id], outputs=[y.id], may_alias_input=(0,),
                      runtime_sources=(_f32.RUNTIME,))


register(OpDef(name="GELU", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float, lower=lower,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
