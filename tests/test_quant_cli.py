"""`edgekit quantize` and `edgekit eval` end to end on small subsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from edgekit.cli import main  # noqa: E402
from edgekit.quant.ptq import read_description  # noqa: E402
from tests.conftest import SHARED, shared_model  # noqa: E402

CIFAR_TRAIN = SHARED / "datasets" / "cifar10" / "cifar10_train_jpeg.npz"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_quantize_and_eval_resnet8(tmp_path: Path, cifar_test_path: Path) -> None:
    model = shared_model("pretrainedResnet")
    out = tmp_path / "r8.tflite"
    runner = CliRunner()
    res = runner.invoke(main, ["quantize", str(model), "--calib", str(CIFAR_TRAIN), "--num-calib", "100",
                               "--observer", "percentile", "--pixel-scale", "1", "--device", "cpu", "--quiet",
                               "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "input int8 scale 1 zero point -128" in res.output
    assert read_description(out.read_bytes())["observer"] == "percentile"
    res = runner.invoke(main, ["eval", str(out), "--data", str(cifar_test_path), "--limit", "100", "--json"])
    assert res.exit_code == 0, res.output
    int8 = json.loads(res.output)
    assert int8["samples"] == 100 and int8["runtime"].startswith("int8") and len(int8["per_class"]) == 10
    res = runner.invoke(main, ["eval", str(model), "--pixel-scale", "1", "--data", str(cifar_test_path),
                               "--limit", "100", "--json"])
    flt = json.loads(res.output)
    assert flt["runtime"].startswith("float") and flt["top1"] > 60
    assert abs(flt["top1"] - int8["top1"]) <= 5


def test_quantize_a_torch_checkpoint(tmp_path: Path) -> None:
    from torch import nn

    from edgekit.data import Preprocess
    from edgekit.frontends.torch_fx import save_torch_file

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4)).eval()
    ckpt = tmp_path / "m.pt"
    save_torch_file(ckpt, model, (1, 3, 8, 8), Preprocess(input_shape=(3, 8, 8), dtype="float32",
                                                          channels_first=True, scale=1 / 255))
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, images=rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), labels=rng.integers(0, 4, 40))
    out = tmp_path / "m.tflite"
    runner = CliRunner()
    res = runner.invoke(main, ["quantize", str(ckpt), "--calib", str(data), "--quiet", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["eval", str(out), "--data", str(data), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["samples"] == 40


def test_quantize_refuses_an_int8_model(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["quantize", str(shared_model("pretrainedResnet_quant")), "--calib",
                                    str(CIFAR_TRAIN), "-o", str(tmp_path / "x.tflite")])
    assert res.exit_code != 0 and "already quantized" in res.output
