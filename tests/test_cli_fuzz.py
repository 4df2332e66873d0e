"""Property: whatever combination of bad paths, bad data files and bad options a user gives, every
CLI command ends with exit code 0, 1 or 2, a failure is one `error:` line (never a traceback or an
internal error), no file outside the chosen output location changes, and no QEMU process is left.
(Robustness issue: the property-based test.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.cli import main
from edgekit.tflite.writer import build_tflite
from tests.modelgen import random_chain
from tests.test_signals import qemu_processes

pytest.importorskip("torch", reason="quantize/eval of float models need torch")

_SANDBOX: dict[str, Path] = {}


def _sandbox(root: Path) -> dict[str, Path]:
    """Inputs of every kind, good and bad, in `root/in` (which must never change)."""
    d = root / "in"
    d.mkdir(parents=True)
    from tests.test_export_tflite import tiny_float_tflite

    rng = np.random.default_rng(0)
    p = {"int8": d / "chain.tflite", "float": tiny_float_tflite(d / "float.tflite")}
    p["int8"].write_bytes(build_tflite(random_chain(np.random.default_rng(5), n_ops=4)))
    (d / "empty.tflite").write_bytes(b"")
    (d / "junk.tflite").write_bytes(rng.bytes(300))
    (d / "junk.pt").write_bytes(rng.bytes(300))
    (d / "model.onnx").write_bytes(b"onnx")
    (d / "folder").mkdir()
    (d / "afile").write_text("a file, not a folder\n")
    n = 24
    np.savez(d / "good.npz", images=rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), labels=np.arange(n) % 4)
    np.savez(d / "rgb.npz", images=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), labels=np.arange(n) % 10)
    np.savez(d / "uint16.npz", images=rng.integers(0, 4096, (n, 8, 8, 1)).astype(np.uint16), labels=np.arange(n) % 4)
    nan = rng.random((n, 8, 8, 1)).astype(np.float32)
    nan[0, 0, 0, 0] = np.nan
    np.savez(d / "nan.npz", images=nan, labels=np.arange(n) % 4)
    np.savez(d / "labels_out_of_range.npz", images=rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8),
             labels=10 + np.arange(n) % 10)
    np.savez(d / "nolabels_keys.npz", foo=np.zeros(3))
    np.savez(d / "zero.npz", images=np.zeros((0, 8, 8, 1), np.uint8), labels=np.zeros(0, np.int64))
    (d / "zero_bytes.npz").write_bytes(b"")
    np.save(d / "x.npy", rng.integers(-128, 128, (3, 8, 8, 1), dtype=np.int8))
    np.save(d / "rows0.npy", np.zeros((0, 8, 8, 1), np.int8))
    np.save(d / "wrong_shape.npy", np.zeros((3, 5), np.int8))
    for name in ("empty.tflite", "junk.tflite", "junk.pt", "model.onnx", "good.npz", "rgb.npz", "uint16.npz",
                 "nan.npz", "labels_out_of_range.npz", "nolabels_keys.npz", "zero.npz", "zero_bytes.npz", "x.npy",
                 "rows0.npy", "wrong_shape.npy"):
        p[name] = d / name
    p["missing"] = d / "missing.tflite"
    p["folder"] = d / "folder"
    p["afile"] = d / "afile"
    return p


def _digest(folder: Path, output: Path) -> dict[str, str]:
    """Hashes of the files under `folder`, less those under the command's chosen `output`."""
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file() and not f.is_relative_to(output)}


MODELS = ["int8", "float", "empty.tflite", "junk.tflite", "junk.pt", "model.onnx", "missing", "folder"]
DATA = ["good.npz", "rgb.npz", "uint16.npz", "nan.npz", "labels_out_of_range.npz", "nolabels_keys.npz", "zero.npz",
        "zero_bytes.npz", "x.npy", "missing", "folder", "afile"]
OUTPUTS = ["new", "new_in_missing_folder", "under_a_file", "the_input", "a_folder", "long_name"]


def _output(kind: str, out: Path, p: dict[str, Path], model: Path, suffix: str) -> Path:
    return {"new": out / f"o{suffix}", "new_in_missing_folder": out / "sub" / "deeper" / f"o{suffix}",
            "under_a_file": p["afile"] / f"o{suffix}", "the_input": model, "a_folder": p["folder"],
            "long_name": out / ("n" * 260 + suffix)}[kind]


OPTIONS = st.lists(st.sampled_from([
    ("--seed", "-1"), ("--seed", "3"), ("--limit", "0"), ("--limit", "5"), ("--num-calib", "0"), ("--num-calib", "8"),
    ("--pixel-scale", "0"), ("--pixel-scale", "nan"), ("--pixel-scale", "1,2"), ("--pixel-scale", "abc"),
    ("--pixel-scale", "1"), ("--pixel-offset", "-128"), ("--board", "nope"), ("--board", "host"),
    ("--board", "nucleo"), ("--name", "ek_model"), ("--name", "9bad"), ("--name", "good_name"), ("--force",),
    ("--bogus",),
]), max_size=3)
# the options each command takes (others are dropped, except --bogus: a usage error must be clean too)
TAKES = {"analyze": {"--board"}, "generate": {"--name", "--force"}, "run": set(),
         "quantize": {"--seed", "--num-calib", "--pixel-scale", "--pixel-offset"},
         "eval": {"--seed", "--limit", "--pixel-scale", "--pixel-offset"}, "export": {"--seed"},
         "deploy": {"--limit", "--num-calib", "--pixel-scale", "--pixel-offset", "--force"}, "validate": {"--limit"},
         "zoo export": {"--force"}}


@st.composite
def invocations(draw: st.DrawFn) -> tuple[str, str, str, str, list[tuple[str, ...]]]:
    command = draw(st.sampled_from(["analyze", "generate", "run", "quantize", "eval", "export", "deploy",
                                    "validate", "zoo export"]))
    return (command, draw(st.sampled_from(MODELS)), draw(st.sampled_from(DATA)), draw(st.sampled_from(OUTPUTS)),
            draw(OPTIONS))


def _args(command: str, model: Path, data: Path, out: Path) -> list[str]:
    m, d, o = str(model), str(data), str(out)
    return {
        "analyze": ["analyze", m],
        "generate": ["generate", m, "-o", o],
        "run": ["run", m, "--input", d, "--output", o],
        "quantize": ["quantize", m, "--calib", d, "--quiet", "-o", o],
        "eval": ["eval", m, "--data", d],
        "export": ["export", m, "-o", o],
        "deploy": ["deploy", m, "--board", "nucleo", "--port", "/dev/nonexistent", "--data", d, "--json", o],
        "validate": ["validate", "--board", "nucleo", "--port", "/dev/nonexistent", "--model", m, "--json", o],
        "zoo export": ["zoo", "export", "resnet8" if model.suffix == ".pt" else "nope", "-o", o],
    }[command]


@settings(max_examples=70, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(invocations())
def test_cli_never_crashes_and_touches_only_its_output(tmp_path_factory: pytest.TempPathFactory,
                                                       inv: tuple[str, str, str, str, list[tuple[str, ...]]]) -> None:
    if not _SANDBOX:
        _SANDBOX.update(_sandbox(tmp_path_factory.mktemp("fuzz")))
    p = _SANDBOX
    command, model_key, data_key, out_kind, options = inv
    model, data = p[model_key], p[data_key]
    inputs = p["int8"].parent
    out_dir = tmp_path_factory.mktemp("out")
    suffix = {"generate": "", "run": ".npy", "zoo export": ".pt", "deploy": ".json", "validate": ".json"}.get(
        command, ".tflite")
    out = _output(out_kind, out_dir, p, model, suffix)
    args = _args(command, model, data, out)
    for opt in options:
        if opt[0] in TAKES[command] or opt[0] == "--bogus":
            args += list(opt)
    before = _digest(inputs, out)
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    text = result.output
    where = f"edgekit {' '.join(args)}\n{text[-1500:]}"
    assert result.exit_code in (0, 1, 2), where
    assert result.exception is None or isinstance(result.exception, SystemExit), where
    assert "Traceback" not in text and "internal error" not in text, where
    if result.exit_code != 0:
        errors = [ln for ln in text.splitlines() if ln.startswith(("error:", "Error:"))]
        assert len(errors) == 1, where
    assert _digest(inputs, out) == before, where  # nothing outside the chosen output changed
    assert qemu_processes(str(out_dir)) == []
