"""The JSON description edgekit stores in the models it writes (no torch needed to read it).

A quantized model's TFLite ``description`` string is ``{"edgekit": 1, "preprocess": {...}, ...}``:
the preprocessing (:meth:`edgekit.data.Preprocess.to_dict`) the model was calibrated with,
plus how it was made (method, observer, calibration samples, source).
"""

from __future__ import annotations

import json
from typing import Any

from edgekit.data import Preprocess

__all__ = ["DESCRIPTION_VERSION", "model_description", "read_description"]

DESCRIPTION_VERSION = 1


def model_description(pre: Preprocess, **extra: Any) -> str:
    """The JSON stored as the model's description string."""
    return json.dumps({"edgekit": DESCRIPTION_VERSION, "preprocess": pre.to_dict(), **extra}, sort_keys=True)


def read_description(model: bytes) -> dict[str, Any] | None:
    """The edgekit JSON description of a TFLite model, or None when it has none."""
    from edgekit.frontends.flatbuf import FlatBuffer

    try:
        text = FlatBuffer(bytes(model), what="model").root().string(3, "")
        data = json.loads(text) if text and text.lstrip().startswith("{") else None
    except Exception:  # noqa: BLE001 - a malformed buffer is reported by the model reader, not here
        return None
    return data if isinstance(data, dict) and "edgekit" in data else None
