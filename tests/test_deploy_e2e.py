"""`edgekit deploy --emulate` end to end: the generated library inside PlatformIO-built firmware in
QEMU, driven over the serial link. Device outputs must equal host mode (and TFLite Micro), the
instruction counts must repeat exactly, and the firmware must fit the board."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.pipeline import deploy
from edgekit.targets import get_board
from tests.conftest import MLPERF_INT8, shared_model
from tests.oracle import tflm_run

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make setup installs them)",
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    import os

    os.environ.setdefault("EDGEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    from edgekit.demo.digits import digits_model_path, digits_test_npz

    return digits_model_path(), digits_test_npz()


def test_deploy_cli_digits_report(digits, tmp_path: Path) -> None:
    model, data = digits
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "deploy", str(model), "--board", "nucleo", "--emulate", "--data",
         str(data), "--limit", "40", "--json", str(out), "--html", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["board"] == "nucleo-f446re" and report["emulated"] is True
    assert report["samples"] == 40 and report["device_host_bitexact"] == 40
    assert report["accuracy"]["device"] == report["accuracy"]["host"] >= 90.0
    assert report["ticks_per_inference"]["unit"] == "instructions"
    assert 0 < report["rom_bytes"] <= report["board_flash_bytes"] == 512 * 1024
    assert 0 < report["ram_bytes"] <= report["board_sram_bytes"] == 128 * 1024
    assert "overall: PASS" in proc.stdout
    html = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in html


def test_instruction_counts_repeat_and_layers_add_up(digits, tmp_path: Path) -> None:
    model, data = digits
    board = get_board("nucleo")
    runs = [deploy(model, board, emulate=True, data=data, limit=12, per_layer=True,
                         work_dir=tmp_path / f"run{i}", progress=False) for i in range(2)]
    a, b = runs[0].run, runs[1].run
    assert np.array_equal(a.ticks, b.ticks)
    assert np.array_equal(a.layer_ticks, b.layer_ticks)
    assert np.array_equal(a.outputs, b.outputs)
    per_layer_sum = a.layer_ticks.sum(axis=1)
    assert np.all(per_layer_sum <= a.ticks) and np.all(per_layer_sum >= 0.95 * a.ticks)


@pytest.mark.parametrize("stem", MLPERF_INT8)
def test_mlperf_model_on_emulated_board_bitexact_with_tflm(stem: str, tmp_path: Path) -> None:
    model = shared_model(stem)
    outcome = deploy(model, get_board("nucleo"), emulate=True, limit=3, work_dir=tmp_path, progress=False)
    device = outcome.run.outputs.reshape(3, -1)
    ref = tflm_run(model, outcome.samples.inputs).reshape(3, -1)
    assert np.array_equal(device, ref)
    assert outcome.result.device_host_bitexact == 3
    assert outcome.result.rom_bytes <= 512 * 1024 and outcome.result.ram_bytes <= 128 * 1024


def test_resnet8_cifar_100_on_emulated_nucleo(cifar_test_path: Path, tmp_path: Path) -> None:
    model = shared_model("pretrainedResnet_quant")
    outcome = deploy(model, get_board("nucleo"), emulate=True, data=cifar_test_path, limit=100,
                           work_dir=tmp_path, progress=False)
    r = outcome.result
    assert r.samples == 100 and r.device_host_bitexact == 100
    assert np.bincount(outcome.samples.labels, minlength=10).tolist() == [10] * 10
    assert r.accuracy["device"] == r.accuracy["host"]
    ref = tflm_run(model, outcome.samples.inputs).reshape(100, -1)
    assert np.array_equal(outcome.run.outputs.reshape(100, -1), ref)


def test_validate_an_already_running_device(digits, tmp_path: Path) -> None:
    """`edgekit validate` against firmware that is already running (QEMU standing in for a flashed
    board on a serial port): hash check, bit-exact against host mode, accuracy."""
    import time

    from edgekit.device.emulator import free_port, qemu_command

    model, data = digits
    deploy(model, get_board("nucleo"), emulate=True, limit=1, work_dir=tmp_path, progress=False)
    elf = next(tmp_path.glob("firmware/**/firmware.elf"))
    port = free_port()
    qemu = subprocess.Popen(qemu_command(elf, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = tmp_path / "v.json"
        proc = subprocess.run(
            [sys.executable, "-m", "edgekit.cli", "validate", "--board", "nucleo", "--port",
             f"socket://127.0.0.1:{port}", "--model", str(model), "--data", str(data), "--limit", "20",
             "--json", str(out)], capture_output=True, text=True, timeout=300)
    finally:
        qemu.kill()
        qemu.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["samples"] == 20 and report["device_host_bitexact"] == 20
    assert report["accuracy"]["device"] >= 85.0
