"""Read any model file a front end reads, picked by its suffix: TFLite (``.tflite``), PyTorch
(``.pt``/``.pth``, the checkpoint form of :mod:`edgekit.frontends.torch_fx`; needs torch) and
Keras (``.h5``/``.keras``/``.hdf5``; needs the ``keras`` extra). Every command loads models
through :func:`load_model`, so each accepts every format.

A PyTorch checkpoint that records its preprocessing gets it as the graph's metadata
(:func:`edgekit.metadata.preprocess_for` reads it back)."""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError, ModelFormatError
from edgekit.ir.graph import Graph
from edgekit.metadata import model_description

TFLITE_SUFFIXES = (".tflite",)
TORCH_SUFFIXES = (".pt", ".pth")
KERAS_SUFFIXES = (".h5", ".keras", ".hdf5")
MODEL_SUFFIXES = TFLITE_SUFFIXES + TORCH_SUFFIXES + KERAS_SUFFIXES


def require_torch(what: str) -> None:
    """Fail with an install hint unless torch is importable."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EdgekitError(f"edgekit needs torch to {what}; install it with `pip install edgekit[torch]`") from None


def load_model(path: Path | str) -> Graph:
    """The model file at `path` as a graph (float or quantized)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TFLITE_SUFFIXES:
        from edgekit.frontends.tflite import load_tflite

        return load_tflite(path)
    if suffix in KERAS_SUFFIXES:
        from edgekit.frontends.keras import load_keras

        return load_keras(path)
    if suffix in TORCH_SUFFIXES:
        if not path.exists():
            raise ModelFormatError(f"model file not found: {path}")
        require_torch("read PyTorch models")
        from edgekit.frontends.torch_fx import load_torch_file

        graph, pre = load_torch_file(path)
        if pre is not None:
            graph.description = model_description(pre, source=path.name)
        return graph
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    raise ModelFormatError(f"{path}: unknown model format '{suffix or '(no suffix)'}'; edgekit reads .tflite, "
                           f"PyTorch checkpoints ({', '.join(TORCH_SUFFIXES)}, with `pip install edgekit[torch]`) "
                           "and Keras .h5/.keras files (with `pip install edgekit[keras]`)")
