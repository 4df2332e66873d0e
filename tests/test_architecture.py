"""The layering of docs/architecture.md holds: no module of edgekit/ imports from a higher layer
(or from another package of its own layer), and every package is placed in a layer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "edgekit"
DOC = REPO / "docs" / "architecture.md"


def layers() -> list[list[str]]:
    """The layer block of docs/architecture.md: one line per layer, lowest first."""
    m = re.search(r"<!-- layers -->\s*```text\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/architecture.md lost its <!-- layers --> block"
    out = []
    for line in m.group(1).splitlines():
        names = line.split("#", 1)[0].split()
        if names:
            out.append(names)
    return out


def unit(module: str) -> str:
    """edgekit.ops.registry → ops; edgekit.numerics → numerics."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path) -> list[tuple[int, str]]:
    """Every edgekit module `path` imports, anywhere in the file (function bodies and
    TYPE_CHECKING blocks included): (line, module)."""
    tree = ast.parse(path.read_text(), str(path))
    mod = ".".join(path.relative_to(REPO).with_suffix("").parts)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "edgekit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = mod.split(".")[: -node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "edgekit":
                if target == "edgekit":  # from edgekit import numerics
                    found += [(node.lineno, f"edgekit.{a.name}") for a in node.names]
                else:
                    found.append((node.lineno, target))
    return sorted(found)


def test_every_package_has_a_layer() -> None:
    placed = {name for layer in layers() for name in layer}
    present = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    present |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert present - placed == set(), f"place these in docs/architecture.md's layers: {sorted(present - placed)}"
    assert placed - present == set(), f"docs/architecture.md names packages that do not exist: {placed - present}"


def test_no_import_from_a_higher_layer() -> None:
    rank = {name: k for k, layer in enumerate(layers()) for name in layer}
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = unit(".".join(path.relative_to(REPO).with_suffix("").parts))
        if here in ("", "__init__"):
            continue
        for line, target in imports(path):
            there = unit(target)
            if there == here or there == "":
                continue
            if rank[there] >= rank[here]:
                what = "a higher" if rank[there] > rank[here] else "the same"
                bad.append(f"{path.relative_to(REPO)}:{line} ({here}) imports {target} ({there}, {what} layer)")
    assert not bad, "imports against docs/architecture.md's layers:\n" + "\n".join(bad)


def test_the_checker_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The walk must not miss imports hidden in functions or TYPE_CHECKING blocks."""
    src = tmp_path / "edgekit" / "ops" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edgekit.pipeline import deploy\n"
                   "def f():\n    import edgekit.cli\n    from edgekit import quant\n")
    global REPO
    saved = REPO
    REPO = tmp_path
    try:
        assert [t for _, t in imports(src)] == ["edgekit.pipeline", "edgekit.cli", "edgekit.quant"]  # by line
    finally:
        REPO = saved
