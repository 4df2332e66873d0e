"""TANH (float IR only for now): elementwise, output shaped like the input. PTQ gives it TFLite's
fixed int8 output quantization (1/128, 0)."""

from __future__ import annotations

from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.registry import OpDef, QuantRule, register


def _tanh(x):  # type: ignore[no-untyped-def]
    return x.tanh()


register(OpDef(name="TANH", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=fl.elementwise(_tanh),
               quant=QuantRule(output=(1.0 / 128.0, 0)), doc=__doc__ or ""))
