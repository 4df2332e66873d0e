"""Tests of edgekit.report: terminal text, fit table, JSON and HTML reports."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np

from edgekit.report import fit_table, render_html, render_text, usage_line, write_html, write_json
from edgekit.validate import ValidationResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _result(**overrides: object) -> ValidationResult:
    rng = np.random.default_rng(0)
    floats = rng.normal(size=(60, 10)).astype(np.float32)
    device = np.clip(np.round(floats / 0.05) - 10, -128, 127).astype(np.int8)
    kwargs: dict[str, object] = {
        "host_outputs": device.copy(),
        "float_outputs": floats,
        "labels": floats.argmax(axis=1),
        "class_names": [f"class{i}" for i in range(10)],
        "output_scale": 0.05,
        "output_zero_point": -10,
        "ticks": rng.integers(900_000, 1_000_000, 60),
        "tick_unit": "cycles",
        "clock_hz": 180e6,
        "layer_ticks": rng.integers(1_000, 9_000, (60, 12)),
        "layer_names": [f"layer_{i}_with_a_rather_long_name_for_the_table" for i in range(12)],
        "rom_bytes": 171_234,
        "ram_bytes": 60_000,
        "arena_bytes": 40_000,
        "board_flash_bytes": 524_288,
        "board_sram_bytes": 131_072,
        "board": "nucleo-f446re",
    }
    kwargs.update(overrides)
    return ValidationResult.compute(device, **kwargs)  # type: ignore[arg-type]


def test_text_report() -> None:
    text = render_text(_result())
    assert all(len(line) <= 100 for line in text.splitlines())
    assert re.search(r"ROM 171,234 B of 524,288 B \(32\.7 %\)\s+PASS", text)
    assert re.search(r"RAM 60,000 B of 131,072 B \(45\.8 %\)\s+PASS", text)
    assert "60 of 60 bit-exact" in text
    assert "ms" in text and "180 MHz" in text
    assert "top 10 of 12" in text
    assert text.rstrip().endswith("overall: PASS")


def test_text_report_failures_and_emulation() -> None:
    host = np.zeros((60, 10), np.int8)
    text = render_text(_result(host_outputs=host, ram_bytes=200_000, tick_unit="instructions", emulated=True))
    assert "QEMU" in text and "not time" in text
    assert re.search(r"0 of 60 bit-exact.*FAIL", text)
    assert "RAM 200,000 B of 131,072 B (152.6 %)" in text and "FAIL (over by 68,928 B)" in text
    assert text.rstrip().endswith("overall: FAIL")


def test_usage_line_and_fit_table() -> None:
    assert usage_line("ROM", 10, None) == "ROM 10 B"
    table = fit_table({"flash": 600_000, "sram": 100_000, "ccm": 5}, {"flash": 524_288, "sram": 131_072})
    lines = table.splitlines()
    assert "600,000 B" in lines[2] and "-75,712 B" in lines[2] and "DOES NOT FIT" in lines[2]
    assert "+31,072 B" in lines[3] and lines[3].endswith("fits")
    assert lines[4].endswith("unknown")
    assert all(len(line) <= 100 for line in lines)


def test_json_writer(tmp_path: Path) -> None:
    path = write_json(_result(), tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert data["rom_bytes"] == 171_234 and data["board_flash_bytes"] == 524_288
    assert data["ticks_per_inference"]["unit"] == "cycles"
    assert ValidationResult.from_json(data).samples == 60


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_html_report_has_all_plots(tmp_path: Path) -> None:
    timeline = [("conv", 30_000), ("dw", 38_000), ("fc", 1_000)]
    path = write_html(_result(board="<b>oops</b>"), tmp_path / "r.html", memory_timeline=timeline)
    html = path.read_text()
    images = _images(html)
    assert len(images) == 4 and all(img.startswith(PNG_MAGIC) for img in images)
    for alt in ("per-layer ticks", "memory timeline", "confusion matrix", "device vs float error histogram"):
        assert f'alt="{alt}"' in html
    assert "&lt;b&gt;oops&lt;/b&gt;" in html and "<b>oops</b>" not in html
    assert "171,234 B" in html and "PASS" in html


def test_html_report_without_optional_data() -> None:
    r = ValidationResult.compute(np.zeros((3, 2), np.int8))
    html = render_html(r)
    assert _images(html) == []
    assert "No labels given" in html and "No memory figures given" in html
