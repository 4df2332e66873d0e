"""Pick the front end for a model file by its suffix."""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import ModelFormatError
from edgekit.ir.graph import Graph


def load_model(path: Path) -> Graph:
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from edgekit.frontends.tflite import load_tflite

        return load_tflite(path)
    if suffix in (".h5", ".keras", ".hdf5"):
        from edgekit.frontends.keras import load_keras

        return load_keras(path)
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    raise ModelFormatError(f"{path}: unknown model format '{suffix or '(no suffix)'}'; edgekit reads .tflite files "
                           "(and Keras .h5/.keras with `pip install edgekit[keras]`)")
