"""Simulated (fake-quant) W8A8 PTQ: tracks the deployable int8 model, and runs transformer ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from edgekit.data import Preprocess  # noqa: E402
from edgekit.frontends.torch_fx import from_torch  # noqa: E402
from edgekit.pipeline import compile_model  # noqa: E402
from edgekit.quant.float_exec import FloatExecutor  # noqa: E402
from edgekit.quant.ptq import PTQConfig, quantize_graph  # noqa: E402
from edgekit.quant.simulate import fake_quant_weight, simulate_ptq  # noqa: E402
from edgekit.zoo.models import TransformerBlock  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class _SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16), nn.ReLU6(),
                                  nn.Conv2d(16, 24, 1), nn.ReLU())
        self.fc = nn.Linear(24, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean((2, 3)))


class _TinyViT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, stride=4)
        self.block = TransformerBlock(16, 2, 2.0, nn.GELU)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.norm(self.block(x)).mean(1))


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)


PRE = Preprocess(input_shape=(16, 16, 3), dtype="float32", scale=2.0 / 255.0, offset=-1.0)


def test_fake_quant_weight_is_per_channel_symmetric() -> None:
    w = np.random.default_rng(0).normal(size=(4, 3, 3, 2)).astype(np.float32)
    w[1] *= 100.0
    q = fake_quant_weight(w, 0)
    for c in range(4):
        s = np.abs(w[c]).max() / 127.0
        steps = q[c] / s
        assert np.allclose(steps, np.round(steps), atol=1e-3) and np.abs(q[c] - w[c]).max() <= s / 2 + 1e-6


def test_simulated_cnn_tracks_the_deployable_int8_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _SmallCNN().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model.body[1].running_mean.uniform_(-0.5, 0.5)
        model.body[1].running_var.uniform_(0.5, 2.0)
    graph = from_torch(model, torch.zeros(1, 3, 16, 16))
    calib = PRE.apply(_images(200, 0))
    test = _images(200, 1)
    x = PRE.apply(test)

    res = quantize_graph(graph, calib, PRE, PTQConfig(progress=False, device="cpu"))
    host = compile_model(res.tflite, name="simref", work_dir=tmp_path)
    s_out, z_out = res.qparams[res.prepared.outputs[0]]
    deployed = (host.run(res.preprocess.apply(test)).astype(np.float64) - z_out) * s_out
    deployed = deployed.reshape(len(test), -1)

    sim = simulate_ptq(graph, calib, "minmax", device="cpu", preprocess=PRE)
    assert sim.qparams[sim.graph.outputs[0]] == (s_out, z_out)  # the same activation grid
    (simulated,) = sim.run(x)
    simulated = simulated.reshape(len(test), -1)
    (ref,) = FloatExecutor(graph, "cpu").run(x)
    ref = ref.reshape(len(test), -1)

    agree = (simulated.argmax(1) == deployed.argmax(1)).mean()
    assert agree >= 0.95, agree
    span = ref.max() - ref.min()
    # simulated and deployed differ by integer-arithmetic rounding: a few output steps
    assert np.abs(simulated - deployed).max() <= 2 * s_out
    # and both differ from float by quantization noise only
    assert np.abs(simulated - ref).mean() < 0.02 * span
    assert np.abs(simulated - ref).mean() > 0  # it does quantize


def test_simulated_transformer_block_runs_close_to_float() -> None:
    torch.manual_seed(0)
    model = _TinyViT().eval()
    graph = from_torch(model, torch.zeros(1, 3, 16, 16))
    ops = {n.op for n in graph.nodes}
    assert {"LAYER_NORM", "BATCH_MATMUL", "SOFTMAX", "GELU"} <= ops
    x = PRE.apply(_images(64, 1))
    sim = simulate_ptq(graph, PRE.apply(_images(128, 0)), device="cpu")
    (simulated,) = sim.run(x)
    (ref,) = FloatExecutor(graph, "cpu").run(x)
    with torch.no_grad():
        torch_ref = model(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    assert np.allclose(ref, torch_ref, atol=1e-4)
    rel = np.linalg.norm(simulated - ref) / np.linalg.norm(ref)
    assert 0 < rel < 0.05, rel
    (again,) = sim.run(x)  # running does not disturb the model's constants
    assert np.array_equal(again, simulated)
