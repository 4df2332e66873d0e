"""The built wheel is complete: it carries codegen/, firmware/ and targets/ as edgekit/_data/<name>
and the zoo weights, and an installed wheel (a fresh venv outside the checkout) generates and runs
a model on the host bit for bit like the source checkout does.

The wheel is built from a copy of the source tree (no stale build/lib, nothing written into the
checkout). The fresh venv gets edgekit from the wheel only; its dependencies come from the running
interpreter's site-packages through a .pth file (site-packages listed there are put on sys.path,
but their own .pth files, e.g. the editable install's finder for the checkout, are not run).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
RESOURCE_DIRS = ("codegen", "firmware", "targets")
# not part of a source tree (caches, build outputs, VCS, environments)
_SKIP_TOP = {"build", "dist", "out", "shared"}
_SKIP_ANY = ("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".pio", ".DS_Store")
BIN = "Scripts" if os.name == "nt" else "bin"
TIMEOUT = 300


def _run(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=TIMEOUT, **kwargs)
    assert proc.returncode == 0, (
        f"{what} failed (exit {proc.returncode}): {' '.join(str(c) for c in cmd)}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
    )
    return proc


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the checkout or another env on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
                                                           "VIRTUAL_ENV", "PYTHONUSERBASE")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _copy_source(dst: Path) -> Path:
    ignore_any = shutil.ignore_patterns(*_SKIP_ANY)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(ignore_any(folder, names))
        if Path(folder) == REPO:
            skipped |= {n for n in names if n.startswith(".") or n in _SKIP_TOP}
        elif Path(folder) == REPO / "edgekit":
            skipped |= {"_data"} & set(names)  # the build's output, never a source
        return skipped

    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    return dst


def _setuptools_usable() -> bool:
    """The running environment can build without isolation (pyproject asks for setuptools>=68)."""
    try:
        major = int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 68


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, the source copy it was built from)."""
    root = tmp_path_factory.mktemp("wheel")
    src = _copy_source(root / "src")
    dist = root / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-w", dist]
    if _setuptools_usable():
        cmd.append("--no-build-isolation")
    _run(cmd, "building the wheel", cwd=root, env=_clean_env())
    wheels = sorted(dist.glob("edgekit-*.whl"))
    assert len(wheels) == 1, f"expected one edgekit wheel in {dist}, found {[w.name for w in dist.iterdir()]}"
    return wheels[0], src


def test_wheel_carries_the_resource_folders_and_zoo_weights(built: tuple[Path, Path]) -> None:
    wheel, src = built
    names = set(zipfile.ZipFile(wheel).namelist())
    required = {
        "edgekit/zoo/weights/resnet8.pt",
        "edgekit/_data/firmware/runtime/ek_runtime.h",
        "edgekit/_data/codegen/model.c.j2",
        "edgekit/_data/targets/boards/nucleo-f446re.json",
        "edgekit/resources.py",
    }
    missing = sorted(required - names)
    assert not missing, f"{wheel.name} lacks {missing}"
    # every file of the three folders (recursively, whatever its name) is in the wheel, nothing else
    expected = {
        f"edgekit/_data/{p.relative_to(src).as_posix()}"
        for name in RESOURCE_DIRS
        for p in (src / name).rglob("*")
        if p.is_file()
    }
    got = {n for n in names if n.startswith("edgekit/_data/")}
    assert expected == got, (
        f"{wheel.name}: edgekit/_data differs from the source folders; missing {sorted(expected - got)}, "
        f"extra {sorted(got - expected)}"
    )
    weights = sorted(p.name for p in (src / "edgekit" / "zoo" / "weights").glob("*.pt"))
    missing = [w for w in weights if f"edgekit/zoo/weights/{w}" not in names]
    assert not missing, f"{wheel.name} lacks the zoo weights {missing}"


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv outside the checkout with edgekit installed from `wheel` only."""
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], "creating a venv", env=_clean_env())
    py = venv / BIN / "python"
    # install before the dependencies are visible, so that pip does not see the checkout's edgekit
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel],
         "installing the wheel into the fresh venv", cwd=root, env=_clean_env())
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   "asking the fresh venv for its site-packages", cwd=root, env=_clean_env()).stdout.strip()
    deps = [d for d in site.getsitepackages() if Path(d).is_dir()]
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        deps.append(site.getusersitepackages())
    (Path(purelib) / "_edgekit_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return venv


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_installed_wheel_generates_and_runs_like_the_checkout(built: tuple[Path, Path], tmp_path: Path) -> None:
    from edgekit.pipeline import compile_model
    from edgekit.tflite.writer import build_tflite
    from tests.modelgen import OP_GENERATORS, random_inputs

    wheel, src = built
    venv = _fresh_venv(tmp_path, wheel)
    py, edgekit = venv / BIN / "python", venv / BIN / "edgekit"
    work = tmp_path / "work"
    work.mkdir()
    env = _clean_env(COLUMNS="200")

    probe = ("import json, edgekit, edgekit.resources as r; "
             "print(json.dumps({'edgekit': edgekit.__file__, "
             "**{n: str(r.resource_dir(n)) for n in r.RESOURCE_NAMES}}))")
    where = json.loads(_run([py, "-c", probe], "importing edgekit in the fresh venv", cwd=work, env=env).stdout)
    for key, path in where.items():
        assert _inside(path, venv) and not _inside(path, REPO), (
            f"the fresh venv takes {key} from {path}, not from the installed wheel in {venv}"
        )
    assert set(where) >= {"edgekit", *RESOURCE_DIRS}, where

    rng = np.random.default_rng(2024)
    spec = OP_GENERATORS["CONV_2D"](rng)
    model = work / "conv.tflite"
    model.write_bytes(build_tflite(spec))
    x = np.concatenate([random_inputs(spec, rng)[0] for _ in range(3)])
    np.save(work / "in.npy", x)

    _run([edgekit, "generate", model.name, "-o", "lib"], "`edgekit generate` from the wheel", cwd=work, env=env)
    for name in ("conv.h", "conv.c", "conv_weights.c", "runtime/ek_runtime.h"):
        assert (work / "lib" / name).is_file(), f"`edgekit generate` did not write lib/{name}"
    assert (work / "lib" / "runtime" / "ek_runtime.h").read_bytes() == \
        (src / "firmware" / "runtime" / "ek_runtime.h").read_bytes(), "the wheel's ek_runtime.h differs"

    _run([edgekit, "run", model.name, "--input", "in.npy", "--output", "out.npy"], "`edgekit run` from the wheel",
         cwd=work, env=env)
    got = np.load(work / "out.npy")
    want = compile_model(model, name="conv", work_dir=tmp_path / "inproc").run(x)
    assert got.dtype == want.dtype and got.shape == want.shape, (
        f"installed `edgekit run` gave {got.dtype}{list(got.shape)}, the checkout {want.dtype}{list(want.shape)}"
    )
    diff = int(np.count_nonzero(got != want))
    assert diff == 0, f"installed `edgekit run` differs from the checkout's host run in {diff} of {got.size} values"
