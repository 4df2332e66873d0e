"""`edgekit deploy MODEL --calib DATA`: a float model is quantized on the way (PTQ engine), deployed
to the emulated board bit-exact with host mode, and the report's float accuracy comes from the float
model on the same samples (also for an int8 model given `--float-model`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import DataError

torch = pytest.importorskip("torch", reason="quantizing on the way needs torch (edgekit[torch])")

from edgekit.pipeline import Samples, deploy, float_model_outputs  # noqa: E402
from edgekit.targets import get_board  # noqa: E402
from tests.test_export_tflite import tiny_float_tflite, tiny_npz  # noqa: E402


def test_float_model_without_calib_is_refused(tmp_path: Path) -> None:
    f = tiny_float_tflite(tmp_path / "f.tflite")
    with pytest.raises(DataError, match="give --calib DATA"):
        deploy(f, get_board("nucleo"), emulate=True, work_dir=tmp_path / "w")


def test_float_outputs_use_the_same_samples(tmp_path: Path) -> None:
    """Raw samples go through the float model's preprocessing; random int8 inputs are dequantized."""
    from edgekit.emit import TensorInfo
    from edgekit.pipeline import load_float_model
    from edgekit.quant.float_exec import FloatExecutor

    f = tiny_float_tflite(tmp_path / "f.tflite")
    raw = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 1), dtype=np.uint8)
    fm = load_float_model(f)
    (want,) = FloatExecutor(fm.graph, "cpu").run(fm.preprocess.apply(raw))
    info = type("Info", (), {"input": TensorInfo((1, 8, 8, 1), "int8", 1 / 255, -128)})()
    q = (raw.astype(np.int16) - 128).astype(np.int8)
    got_raw = float_model_outputs(f, Samples(inputs=q, raw=raw), info)  # type: ignore[arg-type]
    got_deq = float_model_outputs(f, Samples(inputs=q), info)  # type: ignore[arg-type]
    np.testing.assert_allclose(got_raw, np.asarray(want).reshape(6, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_deq, got_raw, atol=1e-5)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (make setup installs them)")
def test_deploy_cli_calib_quantizes_and_reports_float_accuracy(tmp_path: Path) -> None:
    f = tiny_float_tflite(tmp_path / "f.tflite")
    data = tiny_npz(tmp_path / "d.npz", n=48)
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "deploy", str(f), "--calib", str(data), "--num-calib", "48",
         "--board", "nucleo", "--emulate", "--data", str(data), "--limit", "12", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["samples"] == 12 and r["device_host_bitexact"] == 12
    assert set(r["accuracy"]) == {"device", "host", "float"}
    assert r["accuracy"]["device"] == r["accuracy"]["host"]
    assert r["quantized"]["calibration_samples"] == 48 and r["float_model"] == str(f)
    # the int8 model follows the float one on these samples
    assert r["device_float"]["top1_agreement"] >= 75.0 and r["device_float"]["cosine"] > 0.95
