"""GELU (float IR only for now): elementwise, output shaped like the input."""

from __future__ import annotations

from edgekit.ir.registry import OpDef, register
from edgekit.ops import _util as u

register(OpDef(name="GELU", infer_shapes=u.same_shape, macs=u.input_elems_macs, lower=None, doc=__doc__ or ""))
