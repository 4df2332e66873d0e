"""TANH: elementwise, output shaped like the input (float32: ``ek_tanh_f32``; no int8 kernel
yet). PTQ gives it TFLite's fixed int8 output quantization (1/128, 0)."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register


def _tanh(x):  # type: ignore[no-untyped-def]
    return x.tanh()


def lower(graph: Graph, node: Node) -> KernelCall:
    if not _f32.is_float32(graph, node):
        raise u.unsupported(node, "no int8 kernel yet (float32 only: --precision float32)")
    return _f32.unary_call(graph, node, "ek_tanh_f32")


register(OpDef(name="TANH", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=fl.elementwise(_tanh),
               lower=lower, quant=QuantRule(output=(1.0 / 128.0, 0)), doc=__doc__ or ""))
