"""Validation reports: terminal text, JSON and a self-contained HTML page with plots."""

from __future__ import annotations

from edgekit.report.html import render_html, render_plots, write_html
from edgekit.report.json_out import to_json_text, write_json
from edgekit.report.text import fit_table, fmt_bytes, render_text, usage_line

__all__ = [
    "fit_table",
    "fmt_bytes",
    "render_html",
    "render_plots",
    "render_text",
    "to_json_text",
    "usage_line",
    "write_html",
    "write_json",
]
