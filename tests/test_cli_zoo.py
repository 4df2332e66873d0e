"""`edgekit zoo list` / `edgekit zoo export`, and the exported file read by every command that
reads models (analyze, generate, quantize, eval), with the zoo model's preprocessing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the zoo is PyTorch models (edgekit[torch])")

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


def edgekit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([*EDGEKIT, *args], capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def test_zoo_list() -> None:
    proc = edgekit("zoo", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"resnet8", "mobilenetv2_64", "mcunet_128", "mobilevit_xxs", "deit_tiny", "efficientformer_xs"}
    assert rows["resnet8"]["params"] == 78_186 and rows["mobilenetv2_64"]["input"] == [3, 64, 64]
    assert all(r["weights"] for r in rows.values())
    table = edgekit("zoo", "list")
    assert table.returncode == 0 and "resnet8" in table.stdout and "78,186" in table.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zoo") / "resnet8.pt"
    proc = edgekit("zoo", "export", "resnet8", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and out.stat().st_size > 100_000
    return out


def test_export_refuses_to_replace_a_file_without_force(exported: Path) -> None:
    before = exported.read_bytes()
    proc = edgekit("zoo", "export", "resnet8", "-o", str(exported))
    assert proc.returncode != 0 and "--force" in proc.stderr and "Traceback" not in proc.stderr
    assert exported.read_bytes() == before
    assert edgekit("zoo", "export", "nope", "-o", str(exported.parent / "x.pt")).returncode != 0
    assert not (exported.parent / "x.pt").exists()


def test_exported_file_carries_the_preprocessing(exported: Path) -> None:
    from edgekit.metadata import preprocess_for
    from edgekit.pipeline import load
    from edgekit.zoo import get_entry

    graph = load(exported)  # the front end reads it without the zoo being imported first
    want = get_entry("resnet8").preprocess(channels_first=False)
    got = preprocess_for(graph)
    assert got.scale == pytest.approx(want.scale) and got.offset == pytest.approx(want.offset)
    assert tuple(graph.tensors[graph.inputs[0]].shape) == (1, 32, 32, 3)


def test_analyze_reads_the_pytorch_file(exported: Path) -> None:
    proc = edgekit("analyze", str(exported), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # 78,186 trainable parameters less the 480 BatchNorm ones folded into the convolutions
    assert data["params"] == 77_706 and data["macs"] > 12_000_000 and not data["quantized"]


def test_zoo_file_quantizes_and_runs(exported: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    npz = tmp_path / "calib.npz"
    np.savez(npz, images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), labels=rng.integers(0, 10, 40))
    q = tmp_path / "r8.tflite"
    proc = edgekit("quantize", str(exported), "--calib", str(npz), "--num-calib", "40", "--quiet", "-o", str(q))
    assert proc.returncode == 0, proc.stderr
    lib = tmp_path / "lib"
    proc = edgekit("generate", str(q), "-o", str(lib))
    assert proc.returncode == 0, proc.stderr
    assert (lib / "r8.c").exists()
    proc = edgekit("eval", str(exported), "--data", str(npz), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 40
