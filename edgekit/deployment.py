"""A model's deployment description: how raw samples become its input (preprocessing), stored
with the model so the device gets exactly what the host evaluated.

edgekit writes it into the TFLite `description` string as ``edgekit-deployment:{json}``; models
without it get :meth:`Preprocess.for_model`'s default for their input.
"""

from __future__ import annotations

import json
from typing import Any

from edgekit.data import Preprocess
from edgekit.emit import TensorInfo
from edgekit.errors import ModelFormatError

PREFIX = "edgekit-deployment:"


def deployment_description(preprocess: Preprocess, **extra: Any) -> str:
    return PREFIX + json.dumps({"preprocess": preprocess.to_dict(), **extra}, sort_keys=True)


def parse_deployment(description: str) -> dict[str, Any] | None:
    """The deployment JSON of a model description (``edgekit-deployment:{...}`` or a bare JSON
    object with an ``edgekit`` key), or None for other descriptions."""
    if description.startswith(PREFIX):
        text = description[len(PREFIX):]
    elif description.lstrip().startswith("{") and '"edgekit"' in description:
        text = description
    else:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFormatError(f"the model's deployment description is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelFormatError("the model's deployment description is not a JSON object")
    return data


def preprocess_for(description: str, input_info: TensorInfo) -> Preprocess:
    """The model's stored preprocessing, or the default for its input tensor."""
    meta = parse_deployment(description)
    if meta and "preprocess" in meta:
        return Preprocess.from_dict(meta["preprocess"])
    return Preprocess.for_model(input_info.shape, input_info.dtype, input_info.scale, input_info.zero_point)
