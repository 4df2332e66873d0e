"""The four MLPerf Tiny int8 models: host mode bit-exact with TFLite Micro on 200 seeded random
inputs each; the generated C compiles warning-free for the host and for Cortex-M4 and runs clean
under ASan + UBSan; the planned arena is at most TFLite Micro's bisected minimum."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.emit import GeneratedLibrary
from edgekit.pipeline import generate
from edgekit.toolchain.host import HostModel, build_host_executable, run_host_executable
from tests.conftest import MLPERF_INT8, shared_model
from tests.oracle import random_int8, tflm_run

# TFLM's bisected minimum arena with the pinned wheel (x86-64), from the issue; re-measured by
# bench/arena.py.
TFLM_ARENA = {"pretrainedResnet_quant": 55_984, "vww_96_int8": 103_672, "kws_ref_model": 24_272, "ad01_int8": 4_632}
ARM_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
             "-mfpu=fpv4-sp-d16", "-O2"]


@pytest.fixture(scope="module", params=MLPERF_INT8)
def generated(request, tmp_path_factory) -> tuple[str, Path, GeneratedLibrary, HostModel]:
    stem = request.param
    path = shared_model(stem)
    work = tmp_path_factory.mktemp(stem)
    lib = generate(path, work / "lib", name=stem.lower())
    return stem, path, lib, HostModel.from_library(lib, work / "build")


def test_host_bitexact_with_tflm_on_200_random_inputs(generated) -> None:
    stem, path, lib, host = generated
    batch = random_int8(lib.info.input.shape[1:], 200, seed=2026)
    ours = host.run(batch)
    ref = tflm_run(path, batch)
    assert ours.shape == ref.shape
    mismatched = int((ours != ref).reshape(len(batch), -1).any(axis=1).sum())
    assert mismatched == 0, f"{stem}: {mismatched}/200 samples differ from TFLite Micro"
    assert len(np.unique(ref)) > 1  # the comparison is not between constant outputs


def test_arena_at_most_tflm(generated) -> None:
    stem, _path, lib, _host = generated
    assert lib.info.arena_bytes <= TFLM_ARENA[stem]


def test_sanitizers_clean_and_bitexact(generated, tmp_path) -> None:
    stem, path, lib, _host = generated
    exe = build_host_executable(lib, tmp_path / f"{stem}_asan", sanitize=True)
    batch = random_int8(lib.info.input.shape[1:], 3, seed=7)
    out = run_host_executable(exe, batch, lib.info)
    assert np.array_equal(out, tflm_run(path, batch))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc (make setup)")
def test_cross_compiles_for_cortex_m4_warning_free(generated, tmp_path) -> None:
    _stem, _path, lib, _host = generated
    for src in lib.sources + lib.runtime_sources:
        cmd = ["arm-none-eabi-gcc", *ARM_FLAGS, *[f"-I{d}" for d in lib.include_dirs], "-c", str(src),
               "-o", str(tmp_path / (src.stem + ".o"))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
