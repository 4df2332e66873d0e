"""HARD_SWISH (float IR only for now): elementwise, output shaped like the input."""

from __future__ import annotations

from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register


def _hardswish(x):  # type: ignore[no-untyped-def]
    import torch.nn.functional as F

    return F.hardswish(x)


register(OpDef(name="HARD_SWISH", infer_shapes=u.same_shape, macs=u.input_elems_macs,
               run_float=fl.elementwise(_hardswish), doc=__doc__ or ""))
