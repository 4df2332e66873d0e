"""edgekit writes only what it owns: it never replaces or deletes a user's file, never writes over
its input, refuses outputs it cannot write before the work, writes atomically with the user's
umask, and derives valid names from any file name (robustness issue, findings 1-3, 11, 12, 14)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import DeviceError, EdgekitError
from edgekit.tflite.writer import build_tflite
from tests.modelgen import OP_GENERATORS, random_chain

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]


def edgekit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([*EDGEKIT, *args], capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode in (1, 2), (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, spec in (("chain", random_chain(np.random.default_rng(5), n_ops=4)),
                       ("relu", OP_GENERATORS["RELU"](np.random.default_rng(1)))):
        out[name] = d / f"{name}.tflite"
        out[name].write_bytes(build_tflite(spec))
    return out


def test_generate_never_touches_a_users_files(models: dict[str, Path], tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "runtime").mkdir(parents=True)
    (lib / "runtime" / "my_kernel.c").write_text("int my_kernel(void) { return 1; }\n")
    (lib / "CMakeLists.txt").write_text("# my own build\n")
    before = snapshot(lib)
    msg = one_line_error(edgekit("generate", str(models["chain"]), "-o", str(lib)))
    assert "not empty" in msg and "--force" in msg
    msg = one_line_error(edgekit("generate", str(models["chain"]), "-o", str(lib), "--force"))
    assert "CMakeLists.txt exists and edgekit did not write it" in msg
    assert snapshot(lib) == before  # refused before writing anything
    (lib / "CMakeLists.txt").unlink()
    proc = edgekit("generate", str(models["chain"]), "-o", str(lib), "--force")
    assert proc.returncode == 0, proc.stderr
    assert (lib / "runtime" / "my_kernel.c").read_text() == before["runtime/my_kernel.c"].decode()
    assert (lib / "chain.c").exists()


def test_two_models_share_one_folder(models: dict[str, Path], tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for m in ("chain", "relu"):
        assert edgekit("generate", str(models[m]), "-o", str(lib)).returncode == 0
    cmake = (lib / "CMakeLists.txt").read_text()
    assert "add_library(ek_chain " in cmake and "add_library(ek_relu " in cmake
    assert "runtime/ek_conv_dsp.c" in cmake and "runtime/ek_unary.c" in cmake
    for f in ("chain.c", "chain_weights.c", "relu.c", "relu_weights.c", "runtime/ek_conv_dsp.c", "runtime/ek_unary.c"):
        assert (lib / f).exists(), f
    # regenerate relu alone: chain's files and the runtime it needs stay
    assert edgekit("generate", str(models["relu"]), "-o", str(lib)).returncode == 0
    assert (lib / "chain.c").exists() and (lib / "runtime" / "ek_conv_dsp.c").exists()
    with pytest.raises(EdgekitError, match="belongs to 'chain'"):
        from edgekit.pipeline import generate

        generate(models["relu"], lib, "chain_weights")  # its chain_weights.c would be chain's weights file


def test_regenerating_removes_only_edgekits_stale_files(models: dict[str, Path], tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    assert edgekit("generate", str(models["chain"]), "-o", str(lib), "--name", "net").returncode == 0
    assert (lib / "runtime" / "ek_conv_dsp.c").exists()
    (lib / "runtime" / "notes.txt").write_text("mine\n")
    assert edgekit("generate", str(models["relu"]), "-o", str(lib), "--name", "net").returncode == 0
    assert not (lib / "runtime" / "ek_conv_dsp.c").exists()  # edgekit's, no longer needed
    assert (lib / "runtime" / "notes.txt").read_text() == "mine\n"


def test_generate_refuses_a_file_and_a_symlinked_runtime(models: dict[str, Path], tmp_path: Path) -> None:
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    assert "is a file" in one_line_error(edgekit("generate", str(models["relu"]), "-o", str(afile)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "runtime").symlink_to(elsewhere)
    assert "symbolic link" in one_line_error(edgekit("generate", str(models["relu"]), "-o", str(lib), "--force"))
    assert list(elsewhere.iterdir()) == []


def test_deploy_work_dir_with_user_files_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    from edgekit.pipeline import deploy
    from edgekit.targets import get_board

    wd = tmp_path / "wd"
    (wd / "lib" / "runtime").mkdir(parents=True)
    (wd / "lib" / "runtime" / "mine.c").write_text("int x;\n")
    before = snapshot(wd)
    with pytest.raises(EdgekitError, match="not empty"):
        deploy(models["relu"], get_board("nucleo"), emulate=True, work_dir=wd, progress=False)
    with pytest.raises(EdgekitError, match="edgekit did not make it"):
        deploy(models["relu"], get_board("nucleo"), emulate=True, work_dir=wd, progress=False, force=True)
    assert snapshot(wd) == before


def test_deploy_checks_the_port_and_the_reports_before_building(models: dict[str, Path], tmp_path: Path) -> None:
    from edgekit.pipeline import deploy
    from edgekit.targets import get_board

    with pytest.raises(DeviceError, match="does not exist"):
        deploy(models["relu"], get_board("nucleo"), emulate=False, port="/dev/nonexistent", work_dir=tmp_path / "w")
    assert not (tmp_path / "w" / "firmware").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    t0 = time.monotonic()
    msg = one_line_error(edgekit("deploy", str(models["relu"]), "--board", "nucleo", "--emulate",
                                 "--json", str(afile / "r.json")))
    assert "--json" in msg and time.monotonic() - t0 < 30  # refused before any build


def test_run_writes_exactly_its_output_and_never_its_input(models: dict[str, Path], tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, _inputs(models["relu"]))
    out = tmp_path / "odir"
    proc = edgekit("run", str(models["relu"]), "--input", str(x), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and not (tmp_path / "odir.npy").exists()
    assert np.load(out).shape[0] == 3
    assert "input of this command" in one_line_error(
        edgekit("run", str(models["relu"]), "--input", str(x), "--output", str(x)))
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 4), np.int8))
    assert "no samples" in one_line_error(edgekit("run", str(models["relu"]), "--input", str(empty),
                                                  "--output", str(tmp_path / "o.npy")))


def _inputs(model: Path) -> np.ndarray:
    from edgekit.frontends.tflite import load_tflite

    g = load_tflite(model)
    return np.random.default_rng(0).integers(-128, 128, (3, *g.tensors[g.inputs[0]].shape[1:]), dtype=np.int8)


@pytest.mark.parametrize("stem", ["ek_model", "ek_runtime", "ek_harness", "x" * 240, "modèle-été ü"])
def test_any_file_name_gives_a_valid_name(models: dict[str, Path], tmp_path: Path, stem: str) -> None:
    m = tmp_path / f"{stem}.tflite"
    m.write_bytes(models["relu"].read_bytes())
    x = tmp_path / "x.npy"
    np.save(x, _inputs(models["relu"]))
    proc = edgekit("run", str(m), "--input", str(x), "--output", str(tmp_path / "y.npy"))
    assert proc.returncode == 0, proc.stderr
    lib = tmp_path / "lib"
    proc = edgekit("generate", str(m), "-o", str(lib))
    assert proc.returncode == 0, proc.stderr
    headers = [p.name for p in lib.glob("*.h")]
    assert len(headers) == 1 and headers[0] not in {"ek_model.h", "ek_runtime.h", "ek_harness.h"}
    assert len(headers[0]) <= 34


def test_reserved_names_are_refused(models: dict[str, Path], tmp_path: Path) -> None:
    msg = one_line_error(edgekit("generate", str(models["relu"]), "-o", str(tmp_path / "l"), "--name", "ek_model"))
    assert "reserved" in msg
    assert not (tmp_path / "l").exists()


def test_quantize_never_writes_over_its_input_and_honours_the_umask(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="quantize needs torch")
    from tests.test_export_tflite import tiny_float_tflite, tiny_npz

    src = tiny_float_tflite(tmp_path / "f.tflite")
    data = tiny_npz(tmp_path / "d.npz")
    before = src.read_bytes()
    assert "input of this command" in one_line_error(
        edgekit("quantize", str(src), "--calib", str(data), "--quiet", "-o", str(src)))
    assert src.read_bytes() == before
    folder = tmp_path / "afolder"
    folder.mkdir()
    assert "is a folder" in one_line_error(edgekit("quantize", str(src), "--calib", str(data), "--quiet",
                                                   "-o", str(folder)))
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob("*.tmp"))
    out = tmp_path / "q.tflite"
    proc = edgekit("quantize", str(src), "--calib", str(data), "--quiet", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_options_are_usage_errors(models: dict[str, Path], tmp_path: Path) -> None:
    proc = edgekit("eval", str(models["relu"]), "--data", str(tmp_path / "d.npz"), "--seed", "-1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--seed" in proc.stderr


def test_host_board_has_no_limits_and_suggestions_fit(models: dict[str, Path]) -> None:
    proc = edgekit("analyze", str(models["chain"]), "--board", "host")
    assert proc.returncode == 0 and "DOES NOT FIT" not in proc.stdout and "no flash or SRAM limit" in proc.stdout
    from edgekit.fit import estimate_fit

    big = estimate_fit("nucleo-l4r5zi", weights_bytes=10_000, arena_bytes=300_000, emulated=True)
    assert not big.fits and "nucleo-h743zi" not in big.bigger  # both emulate 192 KiB of SRAM
    real = estimate_fit("nucleo-f446re", weights_bytes=10_000, arena_bytes=300_000, emulated=False)
    assert set(real.bigger) == {"nucleo-l4r5zi", "nucleo-h743zi"}


def test_nan_calibration_data_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="calibration needs torch")
    from edgekit.errors import DataError
    from edgekit.frontends.tflite import parse_tflite
    from edgekit.quant.calibrate import calibrate
    from tests.test_export_tflite import tiny_float_tflite

    g = parse_tflite(tiny_float_tflite(tmp_path / "f.tflite").read_bytes())
    x = np.zeros((4, 8, 8, 1), np.float32)
    x[1, 2, 3, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        calibrate(g, x, progress=False)


def test_float_model_that_does_not_match_is_refused_before_building(models: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="reading the float model needs torch")
    from edgekit.errors import DataError
    from edgekit.pipeline import deploy
    from edgekit.targets import get_board
    from tests.test_export_tflite import tiny_float_tflite

    flt = tiny_float_tflite(tmp_path / "f.tflite", classes=3)
    with pytest.raises(DataError, match="is not the model .* was quantized from"):
        deploy(models["chain"], get_board("nucleo"), emulate=True, work_dir=tmp_path / "w", float_model=flt,
               progress=False)
    assert not (tmp_path / "w" / "firmware").exists()


def test_running_a_float_model_says_how_to_make_it_deployable(tmp_path: Path) -> None:
    from tests.test_export_tflite import tiny_float_tflite

    flt = tiny_float_tflite(tmp_path / "f.tflite")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 8, 8, 1), np.float32))
    msg = one_line_error(edgekit("run", str(flt), "--input", str(x), "--output", str(tmp_path / "y.npy")))
    assert "float model" in msg and "edgekit quantize" in msg
