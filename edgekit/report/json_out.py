"""The validation report as JSON, for machines."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.outputs import write_file
from edgekit.validate import ValidationResult


def to_json_text(result: ValidationResult) -> str:
    """The result's :meth:`ValidationResult.to_json` dict as indented JSON text."""
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"


def write_json(result: ValidationResult, path: Path | str) -> Path:
    """Write the JSON report to `path` atomically (parent folders are created); return the path."""
    return write_file(path, to_json_text(result), what="--json")
