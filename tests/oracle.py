"""TFLite Micro (the pinned `tflite-micro` wheel) as the bit-exactness oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tflm_interpreter(model: Path | bytes, arena_size: int | None = None):
    from tflite_micro.python.tflite_micro import runtime

    if isinstance(model, bytes):
        return runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    return runtime.Interpreter.from_file(str(model), arena_size=arena_size)


def tflm_run(model: Path | bytes, batch: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """Outputs of TFLM for each sample of `batch` (first axis = batch; a sample is the input shape
    less a leading 1, as in edgekit's host mode)."""
    it = tflm_interpreter(model, arena_size)
    shape = tuple(it.get_input_details(0)["shape"])
    outs = []
    for x in batch:
        it.set_input(np.ascontiguousarray(x.reshape(shape)), 0)  # set before every invoke
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1).copy())
    out_shape = tuple(int(d) for d in it.get_output_details(0)["shape"])
    per_sample = out_shape[1:] if len(out_shape) > 1 and out_shape[0] == 1 else out_shape
    return np.stack(outs).reshape((batch.shape[0], *per_sample))


def random_int8(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int8)
