"""The C runtime: warning-free C99 on host gcc and arm-none-eabi-gcc (Cortex-M4F), and
ASan/UBSan-clean and bit-exact when run under the sanitizers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
SOURCES = sorted(RUNTIME.glob("ek_*.c"))
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ARM = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_runtime_compiles_warning_free_on_host(src: Path, tmp_path: Path) -> None:
    cmd = ["gcc", *WARN, "-pedantic", "-O2", f"-I{RUNTIME}", "-c", str(src), "-o", str(tmp_path / "a.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
def test_runtime_cross_compiles_for_cortex_m4(src: Path, tmp_path: Path) -> None:
    cmd = ["arm-none-eabi-gcc", *WARN, *ARM, f"-I{RUNTIME}", "-c", str(src), "-o", str(tmp_path / "a.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_runtime_has_no_malloc() -> None:
    for src in [*SOURCES, *RUNTIME.glob("ek_*.h")]:
        text = src.read_text()
        for bad in ("malloc(", "calloc(", "realloc(", "free("):
            assert bad not in text, f"{src.name} uses {bad}"


def _sanitized_cases() -> list[tuple[str, int]]:
    ops = [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "SOFTMAX",
        "LOGISTIC",
        "MEAN",
        "PAD",
        "RELU",
        "RELU6",
        "QUANTIZE",
        "DEQUANTIZE",
        "ADD",
        "SUB",
        "MUL",
        "CONCATENATION",
    ]
    return [(op, seed) for op in ops for seed in (0, 1, 2)]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("op,seed", _sanitized_cases())
def test_kernels_sanitizer_clean_and_bit_exact(op: str, seed: int, tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    from edgekit.frontends.tflite import parse_tflite
    from edgekit.pipeline import generate
    from edgekit.tflite.writer import build_tflite
    from edgekit.toolchain.host import build_host_executable, run_host_executable
    from tests.modelgen import OP_GENERATORS
    from tests.test_kernels_binary import binary_spec, concat_spec
    from tests.test_kernels_ops import _tflm, random_input

    if op in ("ADD", "SUB", "MUL"):
        spec = binary_spec(op, seed)
    elif op == "CONCATENATION":
        spec = concat_spec(seed)
    else:
        spec = OP_GENERATORS[op](np.random.default_rng(seed))
    t_in, t_out = spec.tensors[spec.inputs[0]], spec.tensors[spec.outputs[0]]
    if not t_in.shape or t_in.shape[0] != 1 or not t_out.shape or t_out.shape[0] != 1:
        pytest.skip("the host executable runs batch-1 models")
    buf = build_tflite(spec)
    lib = generate(parse_tflite(buf, name="k"), tmp_path / "lib", "k")
    exe = build_host_executable(lib, tmp_path / "k_san", sanitize=True)
    rng = np.random.default_rng(seed)
    xs = [random_input(spec, rng) for _ in range(4)]
    out = run_host_executable(exe, np.stack([x.reshape(t_in.shape[1:]) for x in xs]), lib.info)
    ref = _tflm(buf, xs)
    for k, r in enumerate(ref):
        g = out[k].reshape(r.shape)
        if r.dtype == np.float32:
            assert np.array_equal(r.view(np.uint32), g.view(np.uint32))
        else:
            assert np.array_equal(r, g)
