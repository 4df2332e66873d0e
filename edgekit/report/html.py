"""The validation report as one self-contained HTML page with embedded plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2

from edgekit.outputs import write_file
from edgekit.report import plots
from edgekit.report.text import render_text
from edgekit.resources import resource_dir
from edgekit.validate import ValidationResult

TEMPLATE = "validation.html.j2"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("codegen") / "report"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_plots(
    result: ValidationResult, memory_timeline: Sequence[tuple[str, int]] | None = None
) -> dict[str, str]:
    """Data URIs of the plots the result has data for, keyed by plot name."""
    images: dict[str, str] = {}
    if result.layer_ticks:
        images["layer_ticks"] = plots.data_uri(plots.layer_ticks_png(result.layer_ticks, result.tick_unit))
    if memory_timeline:
        images["memory"] = plots.data_uri(plots.memory_timeline_png(memory_timeline, result.arena_bytes))
    if result.confusion:
        images["confusion"] = plots.data_uri(plots.confusion_png(result.confusion, result.class_names))
    if result.error_histogram:
        histogram = result.error_histogram
        images["error"] = plots.data_uri(plots.error_histogram_png(histogram["edges"], histogram["counts"]))
    return images


def render_html(
    result: ValidationResult,
    *,
    memory_timeline: Sequence[tuple[str, int]] | None = None,
    title: str | None = None,
) -> str:
    """The HTML page. `memory_timeline` is an optional list of (layer name, live bytes)."""
    template = _environment().get_template(TEMPLATE)
    return template.render(
        title=title or f"edgekit validation — {result.board}",
        result=result,
        data=result.to_json(),
        summary=render_text(result),
        images=render_plots(result, memory_timeline),
        memory_rows=_memory_rows(result),
    )


def write_html(
    result: ValidationResult,
    path: Path | str,
    *,
    memory_timeline: Sequence[tuple[str, int]] | None = None,
    title: str | None = None,
) -> Path:
    """Write the HTML page to `path` atomically (parent folders are created); return the path."""
    return write_file(path, render_html(result, memory_timeline=memory_timeline, title=title), what="--html")


def _memory_rows(result: ValidationResult) -> list[dict[str, object]]:
    rows = []
    for label, used, have in (
        ("ROM (flash)", result.rom_bytes, result.board_flash_bytes),
        ("RAM (SRAM)", result.ram_bytes, result.board_sram_bytes),
        ("arena", result.arena_bytes, result.board_sram_bytes),
    ):
        if used is None:
            continue
        share = f"{100.0 * used / have:.1f} %" if have else "—"
        ok = None if not have or label == "arena" else used <= have
        rows.append(
            {
                "label": label,
                "used": f"{used:,} B",
                "have": f"{have:,} B" if have else "—",
                "share": share,
                "ok": ok,
            }
        )
    return rows
