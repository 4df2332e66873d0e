"""GELU (float IR only for now): elementwise (``approximate``: the tanh form), output shaped like
the input."""

from __future__ import annotations

from edgekit.ir.graph import Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register, versions


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    return [F.gelu(args[0], approximate="tanh" if node.attrs.get("approximate") else "none")]


register(OpDef(name="GELU", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
