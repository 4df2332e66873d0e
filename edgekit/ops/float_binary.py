"""DIV, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE with broadcasting (float IR only: no int8 kernel
yet). Float: the elementwise torch op, then the fused activation (DIV has one)."""

from __future__ import annotations

from collections.abc import Callable

from edgekit.ir.graph import Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register


def _binary(name: str) -> Callable[[fl.FloatContext, Node, list], list]:
    def run(ex: fl.FloatContext, node: Node, args: list) -> list:
        import torch

        a, b = args[0], args[1]
        fn = {"DIV": torch.div, "MAXIMUM": torch.maximum, "MINIMUM": torch.minimum,
              "SQUARED_DIFFERENCE": lambda p, q: (p - q) ** 2}[name]
        return [fl.fused(node, fn(a, b))]

    return run


for _name in ("DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"):
    register(OpDef(name=_name, infer_shapes=u.binary_infer_shapes, macs=u.elementwise_macs,
                   run_float=_binary(_name), doc=__doc__ or ""))
