"""The float IR executor matches TFLite Micro running the same float models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.frontends.tflite import load_tflite  # noqa: E402
from edgekit.numerics import same_pads  # noqa: E402
from edgekit.quant.float_exec import FloatExecutor  # noqa: E402
from tests.conftest import shared_model  # noqa: E402
from tests.oracle import tflm_run  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("stem,lo,hi", [("pretrainedResnet", 0.0, 255.0), ("vww_96_float", 0.0, 1.0)])
def test_matches_tflm_on_mlperf_float_models(stem: str, lo: float, hi: float) -> None:
    path = shared_model(stem)
    graph = load_tflite(path)
    shape = graph.tensors[graph.inputs[0]].shape
    x = np.random.default_rng(0).uniform(lo, hi, size=(4, *shape[1:])).astype(np.float32)
    (ours,) = FloatExecutor(graph, "cpu").run(x)
    ref = tflm_run(path, x)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4


def test_keep_returns_every_activation() -> None:
    graph = load_tflite(shared_model("pretrainedResnet"))
    x = np.zeros((2, 32, 32, 3), np.float32)
    outs, acts = FloatExecutor(graph, "cpu").run(x, keep=True)
    produced = {t for n in graph.nodes for t in n.outputs}
    assert produced <= set(acts)
    for tid in produced:
        assert acts[tid].shape == (2, *graph.tensors[tid].shape[1:])
    assert np.array_equal(outs[0], acts[graph.outputs[0]])


def test_same_padding_puts_the_odd_pad_after() -> None:
    assert same_pads(32, 3, 2, 1) == (0, 1)
    assert same_pads(32, 3, 1, 1) == (1, 1)
    assert same_pads(8, 8, 8, 1) == (0, 0)
