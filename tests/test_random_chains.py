"""Multi-op int8 models the tests build themselves (conv, depthwise, residual add, concat, pools,
pad, gates, mean/reshape, FC, softmax): the generated C equals TFLite Micro bit for bit, so a
fresh clone without ../shared still tests the whole pipeline, the planner's buffer reuse included."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.pipeline import compile_model
from edgekit.tflite.writer import build_tflite
from tests.modelgen import random_chain
from tests.oracle import tflm_run


@pytest.mark.parametrize("seed", range(12))
def test_random_chain_bitexact_with_tflm(seed: int, tmp_path) -> None:
    rng = np.random.default_rng(1000 + seed)
    model = build_tflite(random_chain(rng, n_ops=2 + seed % 5))
    host = compile_model(model, name=f"chain{seed}", work_dir=tmp_path)
    info = host.info.input
    batch = np.random.default_rng(seed).integers(-128, 128, size=(16, *info.shape[1:]), dtype=np.int8)
    ours = host.run(batch)
    ref = tflm_run(model, batch)
    assert np.array_equal(ours, ref)
