"""Simulated (fake-quant) W8A8 PTQ for graphs the int8 C path cannot deploy yet (e.g. ViTs).

The float graph runs in torch with:

* weights: the constant filters of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and the
  constant operand of BATCH_MATMUL rounded to symmetric int8 [−127, 127] per output channel
  (the same axes and scales as :mod:`ptq`: the ops' ``QuantRule.weight_axis``); biases stay
  float (int32 in the deployable path);
* activations: every graph input and node output rounded to per-tensor asymmetric int8 with
  the (scale, zero point) the deployable path would pick (:func:`ptq.activation_qparams` over
  the calibrated ranges: shared groups, fixed SOFTMAX/LOGISTIC output quantization);
* arithmetic: float32 (LAYER_NORM, GELU, attention matmuls… are float in between).

The numbers it gives are *simulated (fake-quant in torch), not deployable yet*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgekit.data import Preprocess
from edgekit.ir.graph import Graph
from edgekit.ops.registry import lookup
from edgekit.quant.calibrate import CalibrationResult, calibrate
from edgekit.quant.float_exec import FloatExecutor
from edgekit.quant.ptq import activation_qparams, pixel_input_qparams, prepare_graph

__all__ = ["SimulatedModel", "simulate_ptq", "fake_quant_weight", "LABEL"]

LABEL = "simulated (fake-quant in torch), not deployable yet"


def fake_quant_weight(w: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric int8 per channel along `axis`, returned dequantized (float32)."""
    w64 = w.astype(np.float64)
    axis %= w.ndim
    red = tuple(i for i in range(w.ndim) if i != axis)
    shape = [1] * w.ndim
    shape[axis] = -1
    scale = np.maximum(np.abs(w64).max(axis=red) / 127.0, 1e-12).astype(np.float32).astype(np.float64)
    s = scale.reshape(shape)
    return (np.clip(np.round(w64 / s), -127, 127) * s).astype(np.float32)


def _weight_axes(graph: Graph) -> dict[int, int]:
    """Constant weight tensor id -> its per-channel axis."""
    axes: dict[int, int] = {}
    for node in graph.nodes:
        opdef = lookup(node.op)
        weight_axis = None if opdef is None else opdef.quant.weight_axis
        if weight_axis is not None:
            if graph.tensors[node.inputs[1]].is_const:
                axes[node.inputs[1]] = weight_axis
        elif node.op == "BATCH_MATMUL":
            a, b = node.inputs[0], node.inputs[1]
            if graph.tensors[b].is_const:  # (…, K, N): channels are the N outputs
                axes[b] = -2 if node.attrs.get("adj_y") else -1
            if graph.tensors[a].is_const:  # (…, M, K): channels are the M rows
                axes[a] = -1 if node.attrs.get("adj_x") else -2
    return axes


class _FakeQuantExecutor(FloatExecutor):
    """The float executor with fake-quantized weights; other constants handed out as copies.

    Copies keep the constant cache intact when the activation hook rounds a view in place.
    """

    def __init__(self, graph: Graph, device: torch.device, axes: dict[int, int]) -> None:
        super().__init__(graph, device)
        self._weights = {tid: torch.from_numpy(fake_quant_weight(graph.tensors[tid].data, ax)).to(self.device)
                         for tid, ax in axes.items() if graph.tensors[tid].data.dtype.kind == "f"}

    def const(self, tid: int) -> torch.Tensor:
        if tid in self._weights:
            return self._weights[tid]
        return super().const(tid).clone()


@dataclass
class SimulatedModel:
    graph: Graph  # the prepared float graph
    qparams: dict[int, tuple[float, int]]  # activation tensor id -> (scale, zero point)
    calibration: CalibrationResult
    executor: FloatExecutor
    label: str = LABEL

    def _hook(self, tid: int, value: torch.Tensor) -> None:
        q = self.qparams.get(tid)
        if q is None or not value.is_floating_point():
            return
        s, z = q
        value.copy_((torch.clamp(torch.round(value / s) + z, -128, 127) - z) * s)

    @torch.no_grad()
    def run(self, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
        """Outputs (float, on the int8 grid of each output) for a preprocessed float batch."""
        outs: list[list[np.ndarray]] = [[] for _ in self.graph.outputs]
        for start in range(0, len(x), batch_size):
            chunk = torch.tensor(np.asarray(x[start:start + batch_size], dtype=np.float32), device=self.executor.device)
            env = self.executor.forward([chunk], hook=self._hook)
            for k, tid in enumerate(self.graph.outputs):
                outs[k].append(env[tid].cpu().numpy())
        return [np.concatenate(o) for o in outs]


def simulate_ptq(graph: Graph, calib_x: np.ndarray, observer: str = "minmax", device: str | None = None, *,
                 preprocess: Preprocess | None = None, batch_size: int = 100,
                 progress: bool = False) -> SimulatedModel:
    """Calibrate `graph` on `calib_x` (preprocessed float inputs) and return its W8A8 simulation.

    With `preprocess` (a single affine map of pixels) the input quantization is the exact
    pixel grid, as in :func:`ptq.quantize_graph`; otherwise it is calibrated.
    """
    g = prepare_graph(graph)
    cal = calibrate(g, calib_x, observer, device=device, batch_size=batch_size, progress=progress)
    input_q = pixel_input_qparams(preprocess) if preprocess is not None else None
    qp = activation_qparams(g, cal.ranges, input_q)
    ex = _FakeQuantExecutor(g, torch.device(cal.device), _weight_axes(g))
    return SimulatedModel(graph=g, qparams=qp, calibration=cal, executor=ex)
