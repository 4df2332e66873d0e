"""The generated C library cross-compiled for arm64 Linux (aarch64-linux-gnu-gcc) and run under
qemu-aarch64 gives outputs bit-identical with host mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import BuildError
from edgekit.frontends.tflite import load_tflite
from edgekit.pipeline import check_arm64
from edgekit.toolchain.cross import build_aarch64_executable, find_toolchain
from tests.conftest import CIFAR_TEST, MLPERF

pytestmark = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)",
)


def _model_and_inputs(tmp_path: Path) -> tuple[object, np.ndarray, str]:
    """ResNet-8 on CIFAR-10 test images when ../shared exists, else a self-built small int8 model."""
    model = MLPERF / "pretrainedResnet_quant.tflite"
    if model.exists() and CIFAR_TEST.exists():
        from edgekit.data import load_dataset
        from edgekit.metadata import preprocess_for

        g = load_tflite(model)
        return g, preprocess_for(g).apply(load_dataset(CIFAR_TEST, limit=60).images), "resnet8"
    pytest.importorskip("torch", reason="quantizing the self-built model needs torch")
    from edgekit.pipeline import quantize
    from edgekit.quant.ptq import PTQConfig
    from tests.test_export_tflite import tiny_float_tflite, tiny_npz

    res = quantize(tiny_float_tflite(tmp_path / "f.tflite"), tiny_npz(tmp_path / "c.npz"), num_calib=64,
                        config=PTQConfig(progress=False))
    (tmp_path / "q.tflite").write_bytes(res.tflite)
    g = load_tflite(tmp_path / "q.tflite")
    x = np.random.default_rng(3).integers(-128, 128, (100, 8, 8, 1), dtype=np.int8)
    return g, x, "tiny"


def test_arm64_build_is_bit_exact_with_host_mode(tmp_path: Path) -> None:
    g, x, name = _model_and_inputs(tmp_path)
    res = check_arm64(g, x, work_dir=tmp_path / "w", name=name)  # type: ignore[arg-type]
    assert res.samples == len(x) and res.bit_exact, res.to_dict()
    assert res.max_abs_diff == 0
    assert "aarch64" in res.compiler
    assert np.unique(res.arm_outputs.reshape(len(x), -1).argmax(1)).size > 1  # not a degenerate output
    exe = tmp_path / "w" / "arm64" / f"{name}_arm64"
    assert exe.read_bytes()[:4] == b"\x7fELF" and exe.read_bytes()[18] == 183  # e_machine EM_AARCH64


def test_missing_compiler_is_actionable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEKIT_AARCH64_CC", "no-such-aarch64-gcc")
    with pytest.raises(BuildError, match="apt-get install gcc-aarch64-linux-gnu qemu-user"):
        find_toolchain()


def test_compile_error_is_reported(tmp_path: Path) -> None:
    from edgekit.emit import GeneratedLibrary

    bad = tmp_path / "bad.c"
    bad.write_text("int broken(void) { return }\n")
    info = type("I", (), {})()
    lib = GeneratedLibrary(dir=tmp_path, name="bad", sources=[bad], runtime_sources=[], include_dirs=[tmp_path],
                           info=info)  # type: ignore[arg-type]
    (tmp_path / "bad.h").write_text("#define EK_BAD_INPUT_BYTES 1\n#define EK_BAD_OUTPUT_BYTES 1\n"
                                    "int ek_bad_run(const void *in, void *out);\n")
    with pytest.raises(BuildError, match="arm64 build of model library bad failed"):
        build_aarch64_executable(lib, tmp_path / "out" / "bad")
