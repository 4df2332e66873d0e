"""End to end: fake model → PlatformIO (offline, fresh core dir) → QEMU → bit-exact results."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.data import random_inputs
from edgekit.device.session import run_library
from edgekit.targets import get_board
from tests.fixtures.fake_model import reference
from tests.fixtures.fake_model.library import fake_library

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm",
)


def test_fake_model_runs_bit_exact_in_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEKIT_PIO_HOME", str(tmp_path / "pio"))  # a fresh PlatformIO core
    board = get_board("nucleo")
    x = random_inputs(reference.INPUT_SHAPE, "int8", 6, seed=3)
    x = np.concatenate([x, x[:2]])  # repeated inputs must give repeated instruction counts
    run = run_library(fake_library(), board, x, emulate=True, work_dir=tmp_path / "fw", per_layer=True,
                      progress=False)  # fmt: skip
    for xi, yi in zip(x, run.outputs, strict=True):
        np.testing.assert_array_equal(yi, reference.run(xi))
    assert run.info.model_hash == reference.MODEL_HASH and run.info.tick_unit == "instructions"
    assert run.ticks[6] == run.ticks[0] and run.ticks[7] == run.ticks[1]
    assert run.layer_ticks is not None and run.layer_ticks.shape == (8, 3)
    assert 0 < run.rom_bytes < 512 * 1024 and 0 < run.ram_bytes < 128 * 1024
    assert run.layer_names == reference.LAYER_NAMES
