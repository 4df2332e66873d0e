"""The validation report as JSON, for machines."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.validate import ValidationResult


def to_json_text(result: ValidationResult) -> str:
    """The result's :meth:`ValidationResult.to_json` dict as indented JSON text."""
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"


def write_json(result: ValidationResult, path: Path | str) -> Path:
    """Write the JSON report to `path` (parent folders are created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json_text(result), encoding="utf-8")
    return path
