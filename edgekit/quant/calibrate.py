"""Calibration: run a float graph over calibration batches and observe every activation's range.

Batched, on ``cuda`` when available (else the CPU), with a tqdm progress bar; deterministic
for given data (cuDNN is put in deterministic mode, statistics are accumulated in float64).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from edgekit.errors import DataError
from edgekit.ir.graph import Graph
from edgekit.quant.float_exec import FloatExecutor, pick_device
from edgekit.quant.observers import Observer, make_observer

__all__ = ["CalibrationResult", "calibrate", "activation_ids"]


@dataclass
class CalibrationResult:
    ranges: dict[int, tuple[float, float]]  # tensor id -> (lo, hi) real range to quantize
    observers: dict[int, Observer]
    samples: int
    seconds: float
    device: str


def activation_ids(graph: Graph) -> list[int]:
    """Graph inputs and node outputs (the tensors that get activation quantization)."""
    ids = list(graph.inputs)
    for node in graph.nodes:
        ids.extend(t for t in node.outputs if t not in ids)
    return ids


def _batches(data: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    for start in range(0, len(data), batch_size):
        yield data[start:start + batch_size]


def calibrate(
    graph: Graph,
    data: np.ndarray,
    observer: str = "minmax",
    *,
    device: str | torch.device | None = None,
    batch_size: int = 100,
    progress: bool = True,
    observer_options: dict[str, float] | None = None,
) -> CalibrationResult:
    """Observe every activation of `graph` over `data` (N × input shape, float32, preprocessed)."""
    if len(data) == 0:
        raise DataError("no calibration samples; give --calib data with at least one sample")
    bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
    if bad:
        raise DataError(f"the calibration data holds {bad:,} NaN or infinite values after preprocessing; "
                        "clean the --calib data")
    from tqdm.auto import tqdm

    dev = pick_device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    t0 = time.perf_counter()
    ex = FloatExecutor(graph, dev)
    ids = activation_ids(graph)
    obs = {tid: make_observer(observer, **(observer_options or {})) for tid in ids}
    two_pass = any(o.two_pass for o in obs.values())
    passes = [("range", lambda o, v: o.update_range(v))]
    if two_pass:
        passes.append(("histogram", lambda o, v: o.update_hist(v)))
    with torch.no_grad():
        for name, update in passes:
            def hook(tid: int, value: torch.Tensor, update=update) -> None:
                o = obs.get(tid)
                if o is not None:
                    update(o, value)

            bar = tqdm(total=len(data), desc=f"calibrating ({name})", unit="img", disable=not progress,
                       leave=False)
            for chunk in _batches(data, batch_size):
                x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).to(dev)
                ex.forward([x], hook=hook)
                bar.update(len(chunk))
            bar.close()
    ranges = {tid: o.range() for tid, o in obs.items()}
    return CalibrationResult(ranges=ranges, observers=obs, samples=len(data),
                             seconds=time.perf_counter() - t0, device=str(dev))
