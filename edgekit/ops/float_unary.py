"""EXP, SQRT, RSQRT, NEG, ABS and RELU_N1_TO_1, elementwise (float IR only: no int8 kernel yet)."""

from __future__ import annotations

from collections.abc import Callable

from edgekit.ir.graph import Node
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register


def _unary(name: str) -> Callable[[fl.FloatContext, Node, list], list]:
    def run(ex: fl.FloatContext, node: Node, args: list) -> list:
        import torch

        if name == "RELU_N1_TO_1":
            return [fl.act(args[0], name)]
        fn = {"EXP": torch.exp, "SQRT": torch.sqrt, "RSQRT": torch.rsqrt, "NEG": torch.neg, "ABS": torch.abs}[name]
        return [fn(args[0])]

    return run


for _name in ("EXP", "SQRT", "RSQRT", "NEG", "ABS", "RELU_N1_TO_1"):
    register(OpDef(name=_name, infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=_unary(_name),
                   doc=__doc__ or ""))
