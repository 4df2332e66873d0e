"""HARD_SWISH: elementwise, output shaped like the input. float32: ``ek_hard_swish_f32``
(``x·relu6(x + 3)/6``); no int8 kernel yet."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import KernelCall, OpDef, register


def _hardswish(x):  # type: ignore[no-untyped-def]
    import torch.nn.functional as F

    return F.hardswish(x)


def lower(graph: Graph, node: Node) -> KernelCall:
    if not _f32.is_float32(graph, node):
        raise u.unsupported(node, "no int8 kernel yet (float32 only: --precision float32)")
    return _f32.unary_call(graph, node, "ek_hard_swish_f32")


register(OpDef(name="HARD_SWISH", infer_shapes=u.same_shape, macs=u.input_elems_macs,
               run_float=fl.elementwise(_hardswish), lower=lower, patch_pointwise=True,
               doc=__doc__ or ""))
