"""TFLite Micro (the pinned `tflite-micro` wheel) as the bit-exactness oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tflm_interpreter(model: Path | bytes):
    from tflite_micro.python.tflite_micro import runtime

    if isinstance(model, bytes):
        return runtime.Interpreter.from_bytes(model)
    return runtime.Interpreter.from_file(str(model))


def tflm_run(model: Path | bytes, batch: np.ndarray) -> np.ndarray:
    """Outputs of TFLM for each sample of `batch` (first axis = batch)."""
    it = tflm_interpreter(model)
    shape = tuple(it.get_input_details(0)["shape"])
    outs = []
    for x in batch:
        it.set_input(np.ascontiguousarray(x.reshape(shape)), 0)  # set before every invoke
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1).copy())
    out_shape = tuple(it.get_output_details(0)["shape"])
    return np.stack(outs).reshape((batch.shape[0], *out_shape[1:]))


def random_int8(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int8)
