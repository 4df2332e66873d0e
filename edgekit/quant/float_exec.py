"""Float IR executor: runs a float graph in torch with TFLite's semantics, on batches.

Used for calibration (every intermediate activation on request) and for float accuracy.
Activations are NHWC as in TFLite; padding follows TFLite's SAME/VALID rules (SAME puts the
odd pad after), average pooling with SAME padding divides by the number of in-bounds taps,
fused activations are applied. The first axis of every activation is the batch axis: the IR
holds batch 1 there and the executor runs any batch size N.

Each op's float semantics is its ``run_float`` in its op module (:mod:`edgekit.ops`); the
executor holds the constants, the batch size and the activations. QUANTIZE/DEQUANTIZE are run as
identities on real values (a float model's boundary ops).

Example::

    ex = FloatExecutor(load_tflite("m.tflite"))
    outputs = ex.run(batch)                      # list of numpy arrays, one per graph output
    outputs, acts = ex.run(batch, keep=True)     # plus {tensor id: activation}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from edgekit.errors import DataError, UnsupportedOpError
from edgekit.ir.graph import Graph, Node
from edgekit.ops.registry import FloatFn, lookup, supported_ops

__all__ = ["FloatExecutor", "pick_device", "float_ops"]

TensorHook = Callable[[int, torch.Tensor], "torch.Tensor | None"]


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``; a bad request is a DataError."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {device!r} asked for but torch sees no CUDA GPU; use --device cpu")
    try:
        return torch.device(str(device))
    except RuntimeError as err:
        raise DataError(f"unknown device {device!r}; use cpu or cuda") from err


def float_ops() -> list[str]:
    """The ops the float executor runs (those with float semantics in their op module)."""
    return [name for name in supported_ops() if lookup(name).run_float is not None]  # type: ignore[union-attr]


def _replaced(value: torch.Tensor, new: torch.Tensor | None) -> torch.Tensor:
    return value if new is None else new


class FloatExecutor:
    """Runs a float IR graph in torch (constants moved to `device` once)."""

    def __init__(self, graph: Graph, device: str | torch.device | None = None) -> None:
        self.graph = graph
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self._run: list[FloatFn] = []
        for node in graph.nodes:
            opdef = lookup(node.op)
            if opdef is None or opdef.run_float is None:
                raise UnsupportedOpError(
                    f"the float executor cannot run {node.op} ({node.label}); it runs: {', '.join(float_ops())}"
                )
            self._run.append(opdef.run_float)
        self._consts: dict[int, torch.Tensor] = {}
        self._prepared: dict[tuple[int, str], torch.Tensor] = {}
        self._batch = 1  # the batch size of the current forward()

    # ---- constants -------------------------------------------------------------------------
    def const(self, tid: int) -> torch.Tensor:
        if tid not in self._consts:
            t = self.graph.tensors[tid]
            assert t.data is not None
            data = t.data
            if data.dtype.kind == "f":
                arr = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
            elif t.quant is not None and data.dtype.kind in "iu":  # dequantize int constants
                scale = t.quant.scale.astype(np.float64)
                zp = t.quant.zero_point.astype(np.float64)
                if scale.size > 1:
                    shape = [1] * data.ndim
                    shape[t.quant.axis] = -1
                    scale, zp = scale.reshape(shape), zp.reshape(shape)
                arr = torch.from_numpy(((data.astype(np.float64) - zp) * scale).astype(np.float32))
            else:
                arr = torch.from_numpy(np.ascontiguousarray(data))
            self._consts[tid] = arr.to(self.device)
        return self._consts[tid]

    def prepared(self, tid: int, kind: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        key = (tid, kind)
        if key not in self._prepared:
            self._prepared[key] = fn(self.const(tid)).contiguous()
        return self._prepared[key]

    def const_ints(self, tid: int) -> list[int]:
        data = self.graph.tensors[tid].data
        assert data is not None
        return [int(v) for v in np.asarray(data).reshape(-1)]

    # ---- running -----------------------------------------------------------------------------
    def forward(self, inputs: list[torch.Tensor], hook: TensorHook | None = None,
                keep: Iterable[int] | bool = False) -> dict[int, torch.Tensor]:
        """Run on torch tensors already on the device; returns the kept (and output) tensors.

        `hook(tensor_id, value)` is called for every graph input and every node output; a tensor
        it returns replaces the value (fake quantization), None keeps it.
        """
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise DataError(f"the model takes {len(g.inputs)} inputs, got {len(inputs)}")
        keep_all = keep is True
        keep_set = set() if isinstance(keep, bool) else set(keep)
        keep_set.update(g.outputs)
        last_use: dict[int, int] = {}
        for node in g.nodes:
            for tid in node.inputs:
                if tid >= 0:
                    last_use[tid] = node.index
        env: dict[int, torch.Tensor] = {}
        self._batch = int(inputs[0].shape[0]) if inputs and inputs[0].dim() > 0 else 1
        for tid, x in zip(g.inputs, inputs, strict=True):
            if hook is not None:
                x = _replaced(x, hook(tid, x))
            env[tid] = x
        for k, node in enumerate(g.nodes):
            args = [None if i < 0 else (env[i] if i in env else self.const(i) if g.tensors[i].is_const else None)
                    for i in node.inputs]
            if any(a is None for i, a in zip(node.inputs, args, strict=True) if i >= 0):
                missing = [i for i, a in zip(node.inputs, args, strict=True) if i >= 0 and a is None]
                raise DataError(f"{node.label} reads tensor(s) {missing} before they are computed")
            outs = self._run[k](self, node, args)
            for tid, y in zip(node.outputs, outs, strict=True):
                if hook is not None:
                    y = _replaced(y, hook(tid, y))
                env[tid] = y
            if not keep_all:
                for tid in node.inputs:
                    if tid >= 0 and last_use.get(tid) == node.index and tid not in keep_set and tid in env:
                        del env[tid]
        return env

    @torch.no_grad()
    def run(self, batch: np.ndarray | torch.Tensor | list, *, keep: Iterable[int] | bool = False,
            batch_size: int = 256) -> Any:
        """Run a batch (or a list of batches, one per graph input) and return numpy outputs.

        With `keep` (True or tensor ids) returns ``(outputs, {tensor id: numpy activation})``.
        """
        xs = batch if isinstance(batch, list) else [batch]
        n = int(xs[0].shape[0])
        outs: list[list[np.ndarray]] = [[] for _ in self.graph.outputs]
        kept: dict[int, list[np.ndarray]] = {}
        for start in range(0, n, batch_size):
            chunk = [self._to_tensor(x[start:start + batch_size]) for x in xs]
            env = self.forward(chunk, keep=keep)
            for k, tid in enumerate(self.graph.outputs):
                outs[k].append(env[tid].cpu().numpy())
            if keep is not False:
                for tid, v in env.items():
                    kept.setdefault(tid, []).append(v.cpu().numpy())
        outputs = [np.concatenate(o) for o in outs]
        if keep is False:
            return outputs
        return outputs, {tid: np.concatenate(v) for tid, v in kept.items()}

    def _to_tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.to(self.device, torch.float32)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def out_shape(self, node: Node, x: torch.Tensor, k: int = 0) -> tuple[int, ...]:
        """The IR shape of output `k` for the running batch size.

        The IR holds batch 1; a leading axis of size B there (a model that folds patches into
        the batch, like MobileViT's unfold) is B·N for a batch of N.
        """
        shape = self.graph.tensors[node.outputs[k]].shape
        return (int(shape[0]) * self._batch, *shape[1:]) if shape else ()
