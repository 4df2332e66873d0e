"""SUM, REDUCE_MAX, REDUCE_MIN over constant axes (float IR only: no int8 kernel yet)."""

from __future__ import annotations

from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, register

for _name, _fn in (("SUM", "sum"), ("REDUCE_MAX", "amax"), ("REDUCE_MIN", "amin")):
    register(OpDef(name=_name, infer_shapes=u.reduce_infer_shapes, macs=u.input_elems_macs,
                   run_float=u.run_reduce(_fn), doc=__doc__ or ""))
