"""Locations of the non-Python parts of edgekit (package data).

`codegen/` (Jinja templates), `firmware/` (C runtime, harness, board support) and `targets/`
(board descriptions, the local PlatformIO dev-platform) live at the top of the repository.
A wheel carries them inside the package as `edgekit/_data/<name>`; a source checkout or an
editable install uses the repository folders directly.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from edgekit.errors import EdgekitError

_PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCE_NAMES = ("codegen", "firmware", "targets")


@cache
def resource_dir(name: str) -> Path:
    """Return the folder of package data `name` (one of RESOURCE_NAMES)."""
    if name not in RESOURCE_NAMES:
        raise ValueError(f"unknown resource {name!r}")
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise EdgekitError(
        f"edgekit's '{name}' folder is missing from the installation ({_PACKAGE_DIR}); "
        "reinstall edgekit with `pip install .` from a complete source tree"
    )
