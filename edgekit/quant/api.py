"""High-level quantize/evaluate functions behind ``edgekit quantize`` and ``edgekit eval``.

* :func:`load_float_model` — a float ``.tflite`` or a PyTorch model file (see
  :mod:`edgekit.frontends.torch_fx`) → float :class:`Graph` + its float preprocessing.
* :func:`quantize_file` — float model + calibration dataset → int8 ``.tflite`` bytes.
* :func:`evaluate` — top-1 and per-class accuracy of a float model (float executor) or an
  int8 model (the generated C in host mode).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.data import Dataset, Preprocess, load_dataset
from edgekit.deployment import preprocess_for as _recorded_preprocess
from edgekit.errors import DataError, EdgekitError, ModelFormatError
from edgekit.ir.graph import Graph

if TYPE_CHECKING:
    from edgekit.quant.ptq import PTQConfig, PTQResult

__all__ = ["FloatModel", "load_float_model", "preprocess_for", "quantize_file", "evaluate", "EvalResult",
           "TORCH_SUFFIXES"]

TORCH_SUFFIXES = (".pt", ".pth")


def require_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise EdgekitError(f"edgekit needs torch to {what}; install it with `pip install edgekit[torch]`") from None


@dataclass
class FloatModel:
    graph: Graph
    preprocess: Preprocess
    source: str


def _pixel_override(pre: Preprocess, pixel_scale: Any, pixel_offset: Any) -> Preprocess:
    changes: dict[str, Any] = {}
    if pixel_scale is not None:
        changes["scale"] = tuple(pixel_scale) if isinstance(pixel_scale, (list, tuple)) else float(pixel_scale)
    if pixel_offset is not None:
        changes["offset"] = tuple(pixel_offset) if isinstance(pixel_offset, (list, tuple)) else float(pixel_offset)
    return replace(pre, **changes) if changes else pre


def load_float_model(path: Path | str, *, pixel_scale: Any = None, pixel_offset: Any = None) -> FloatModel:
    """A float model file → graph + preprocessing (``real = pixel·scale + offset``).

    The preprocessing comes from the file when it records one (PyTorch checkpoints may), else
    the default for the input shape (pixels/255); `pixel_scale`/`pixel_offset` override it.
    """
    p = Path(path)
    if not p.exists():
        raise ModelFormatError(f"model file not found: {p}")
    if p.suffix.lower() in TORCH_SUFFIXES:
        require_torch("read PyTorch models")
        from edgekit.frontends.torch_fx import load_torch_file

        graph, pre = load_torch_file(p)
    elif p.suffix.lower() in (".tflite", ".h5", ".hdf5", ".keras"):
        from edgekit.frontends.loader import load_model

        graph = load_model(p)  # Keras files need the `keras` extra (tensorflow-cpu)
        pre = None
    else:
        raise ModelFormatError(f"{p}: unknown model format '{p.suffix}'; give a float .tflite, a PyTorch "
                               f"checkpoint ({', '.join(TORCH_SUFFIXES)}) or a Keras .h5/.keras file")
    if graph.is_quantized:
        raise ModelFormatError(f"{p} is already quantized (int8 input/output); give a float model")
    if pre is None:
        t = graph.tensors[graph.inputs[0]]
        pre = Preprocess.for_model(t.shape, "float32")
    return FloatModel(graph, _pixel_override(pre, pixel_scale, pixel_offset), str(p))


def quantize_file(model: Path | str, calib: Path | str | Dataset, *, num_calib: int = 1000, seed: int = 0,
                  config: PTQConfig | None = None, pixel_scale: Any = None,
                  pixel_offset: Any = None) -> PTQResult:
    """Quantize a float model file with `num_calib` class-balanced samples of `calib`."""
    require_torch("quantize")
    from edgekit.quant.ptq import quantize_graph

    fm = load_float_model(model, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
    ds = calib if isinstance(calib, Dataset) else load_dataset(calib, limit=num_calib, seed=seed)
    if len(ds) > num_calib:
        ds = Dataset(ds.images[:num_calib], None if ds.labels is None else ds.labels[:num_calib],
                     ds.class_names, ds.source)
    x = fm.preprocess.apply(ds.images)
    return quantize_graph(fm.graph, x, fm.preprocess, config,
                          description={"source": Path(fm.source).name, "seed": seed})


def preprocess_for(graph: Graph, model_bytes: bytes | None = None) -> Preprocess:
    """The preprocessing recorded in an edgekit model, else the default for its input tensor."""
    return _recorded_preprocess(graph)


@dataclass
class EvalResult:
    top1: float  # percent
    samples: int
    correct: int
    per_class: dict[str, float]  # class name -> percent
    seconds: float
    runtime: str  # "float (torch, cpu)" or "int8 (generated C, host)"
    predictions: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"top1": self.top1, "samples": self.samples, "correct": self.correct,
                "per_class": self.per_class, "seconds": round(self.seconds, 3), "runtime": self.runtime}


def evaluate(model: Path | str, data: Path | str | Dataset, *, limit: int | None = None, seed: int = 0,
             device: str | None = None, pixel_scale: Any = None, pixel_offset: Any = None,
             work_dir: Path | None = None) -> EvalResult:
    """Top-1 of a float or int8 model on labelled data, on the host."""
    p = Path(model)
    ds = data if isinstance(data, Dataset) else load_dataset(data, limit=limit, seed=seed)
    if ds.labels is None:
        raise DataError(f"{ds.source} has no labels; eval needs labelled data")
    t0 = time.perf_counter()
    if p.suffix.lower() in TORCH_SUFFIXES:
        quantized = False
    else:
        from edgekit.frontends.loader import load_model

        graph = load_model(p)
        quantized = graph.is_quantized
    if quantized:
        from edgekit.build.host import compile_model

        pre = _pixel_override(preprocess_for(graph, p.read_bytes()), pixel_scale, pixel_offset)
        host = compile_model(p, name="evalmodel", work_dir=work_dir)
        logits = host.run(pre.apply(ds.images))
        runtime = "int8 (generated C, host)"
    else:
        require_torch("evaluate float models")
        from edgekit.quant.float_exec import FloatExecutor

        fm = load_float_model(p, pixel_scale=pixel_scale, pixel_offset=pixel_offset)
        ex = FloatExecutor(fm.graph, device)
        (logits,) = ex.run(fm.preprocess.apply(ds.images))
        runtime = f"float (torch, {ex.device.type})"
    preds = np.asarray(logits).reshape(len(ds), -1).argmax(axis=1)
    labels = np.asarray(ds.labels)
    correct = int((preds == labels).sum())
    names = ds.class_names or [str(c) for c in range(int(labels.max()) + 1)]
    per_class = {}
    for c, name in enumerate(names):
        m = labels == c
        if m.any():
            per_class[name] = round(100.0 * float((preds[m] == c).mean()), 2)
    return EvalResult(top1=round(100.0 * correct / len(ds), 2), samples=len(ds), correct=correct,
                      per_class=per_class, seconds=time.perf_counter() - t0, runtime=runtime,
                      predictions=preds)
