"""SIGTERM and SIGHUP to a running `edgekit deploy --emulate` leave nothing behind: no QEMU process
(it dies with edgekit) and no temporary folder (robustness issue, finding 4)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.tflite.writer import build_tflite
from tests.modelgen import OP_GENERATORS

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc (make setup installs them)")


def qemu_processes(marker: str) -> list[int]:
    """PIDs of qemu-system-arm processes whose command line mentions `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system-arm" in cmd and marker in cmd:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_qemu_and_removes_the_temp_folder(tmp_path: Path, sig: signal.Signals) -> None:
    model = tmp_path / "relu.tflite"
    model.write_bytes(build_tflite(OP_GENERATORS["RELU"](np.random.default_rng(1))))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "deploy", str(model), "--board", "nucleo",
                             "--emulate", "--limit", "1000000"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not qemu_processes(str(tmp)):
            assert proc.poll() is None, f"deploy ended early ({proc.returncode}): {proc.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, "QEMU never started"
            time.sleep(0.2)
        assert any(p.name.startswith("edgekit-deploy-") for p in tmp.iterdir())
        time.sleep(1.0)  # streaming samples
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err and f"stopped by {sig.name}" in err
    time.sleep(0.5)
    assert qemu_processes(str(tmp)) == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("edgekit-")] == []


def test_qemu_dies_with_edgekit_even_on_sigkill(tmp_path: Path) -> None:
    """The parent-death signal: a SIGKILLed edgekit cannot clean up, but its QEMU still goes."""
    model = tmp_path / "relu.tflite"
    model.write_bytes(build_tflite(OP_GENERATORS["RELU"](np.random.default_rng(2))))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "edgekit.cli", "deploy", str(model), "--board", "nucleo",
                             "--emulate", "--limit", "1000000"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not qemu_processes(str(tmp)):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while qemu_processes(str(tmp)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert qemu_processes(str(tmp)) == []


def test_output_piped_into_a_reader_that_stopped_is_not_an_error() -> None:
    """`edgekit boards | true`: the pipe is closed before edgekit writes; no 'internal error' line."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before edgekit starts writing
    proc = subprocess.run([sys.executable, "-m", "edgekit.cli", "boards"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write_end)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 141
