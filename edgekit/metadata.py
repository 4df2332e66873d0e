"""A model's metadata: how raw samples become its input (preprocessing) and how the model was
made (method, observer, calibration samples, source), stored with the model so the device gets
exactly what the host evaluated.

edgekit writes it as the TFLite `description` string, a JSON object
``{"edgekit": 1, "preprocess": {...}, ...}`` (:meth:`edgekit.data.Preprocess.to_dict` plus
method, observer, calibration samples, source). Models without it get
:meth:`Preprocess.for_model`'s default for their input tensor.
"""

from __future__ import annotations

import json
from typing import Any

from edgekit.data import Preprocess
from edgekit.errors import DataError, ModelFormatError
from edgekit.ir.graph import Graph

DESCRIPTION_VERSION = 1


def model_description(pre: Preprocess, **extra: Any) -> str:
    """The JSON stored as the model's description string."""
    return json.dumps({"edgekit": DESCRIPTION_VERSION, "preprocess": pre.to_dict(), **extra}, sort_keys=True)


def parse_description(text: str) -> dict[str, Any] | None:
    """The edgekit JSON of a description string, or None for descriptions edgekit did not write."""
    if not text.lstrip().startswith("{") or '"edgekit"' not in text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFormatError(f"the model's edgekit description is not valid JSON ({err})") from None
    return data if isinstance(data, dict) and "edgekit" in data else None


def read_description(model: bytes) -> dict[str, Any] | None:
    """The edgekit JSON description of TFLite model bytes, or None when it has none."""
    from edgekit.tflite.reader import FlatBuffer

    try:
        text = FlatBuffer(bytes(model), what="model").root().string(3, "")
        return parse_description(text)
    except ModelFormatError:  # a malformed buffer is reported by the model reader, not here
        return None


def preprocess_recorded(graph: Graph) -> bool:
    """Whether the model records its preprocessing (else edgekit assumes the default)."""
    meta = parse_description(graph.description)
    return meta is not None and isinstance(meta.get("preprocess"), dict)


def preprocess_for(graph: Graph) -> Preprocess:
    """The preprocessing recorded in the model, else the default for its input tensor."""
    meta = parse_description(graph.description)
    if meta is not None and isinstance(meta.get("preprocess"), dict):
        return Preprocess.from_dict(meta["preprocess"])
    t = graph.tensors[graph.inputs[0]]
    if t.dtype in ("int8", "uint8", "int16"):
        if t.quant is None:
            raise DataError(f"model input {t.name} is {t.dtype} but has no quantization parameters")
        return Preprocess.for_model(t.shape, t.dtype, t.quant.scalar_scale, t.quant.scalar_zero_point)
    return Preprocess.for_model(t.shape, "float32")
