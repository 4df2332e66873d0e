"""Packaging of edgekit's non-Python folders (the metadata lives in pyproject.toml).

`codegen/` (Jinja templates), `firmware/` (C runtime, harness, board support) and `targets/`
(board descriptions, the local PlatformIO dev-platform) stay at the top of the repository.
A regular build (wheel, `pip install .`) copies them, every file recursively, into the build's
`edgekit/_data/<name>`, where `edgekit.resources.resource_dir` looks first. An editable install
(`pip install -e .`) copies nothing: it uses the repository folders directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCE_DIRS = ("codegen", "firmware", "targets")  # keep in sync with edgekit.resources.RESOURCE_NAMES
DATA_PACKAGE_DIR = Path("edgekit", "_data")
# build and cache debris that may sit in the folders (e.g. after a PlatformIO build)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pio", ".DS_Store")


class BuildPyWithData(build_py):
    """`build_py` that also copies the top-level resource folders into `edgekit/_data/`."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # editable install: edgekit.resources finds the repository folders
        data_root = Path(self.build_lib) / DATA_PACKAGE_DIR
        for name in RESOURCE_DIRS:
            src = ROOT / name
            if not src.is_dir():
                raise FileNotFoundError(f"edgekit packaging: the '{name}' folder is missing at {src}")
            dst = data_root / name
            if dst.exists():
                shutil.rmtree(dst)  # drop files left over from an earlier build
            shutil.copytree(src, dst, ignore=_IGNORE)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if getattr(self, "editable_mode", False):
            return outputs
        data_root = Path(self.build_lib) / DATA_PACKAGE_DIR
        outputs += [str(p) for p in sorted(data_root.rglob("*")) if p.is_file()] if data_root.is_dir() else []
        return outputs


setup(cmdclass={"build_py": BuildPyWithData})
