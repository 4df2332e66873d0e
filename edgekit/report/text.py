"""Plain-text reports for the terminal (at most 100 columns)."""

from __future__ import annotations

import textwrap

from edgekit.fit import fit_table, fmt_bytes
from edgekit.validate import ValidationResult

__all__ = ["WIDTH", "RULE", "fit_table", "fmt_bytes", "usage_line", "render_text", "overall_line"]

WIDTH = 100
RULE = "─" * WIDTH


def usage_line(label: str, used: int, total: int | None) -> str:
    """E.g. ``ROM 171,234 B of 524,288 B (32.7 %)``, then PASS/FAIL; no verdict without `total`."""
    if not total:
        return f"{label} {fmt_bytes(used)}"
    verdict = "PASS" if used <= total else f"FAIL (over by {fmt_bytes(used - total)})"
    core = f"{label} {fmt_bytes(used)} of {fmt_bytes(total)} ({100.0 * used / total:.1f} %)"
    return f"{core:<56}{verdict}"


def render_text(result: ValidationResult, *, top_layers: int = 10) -> str:
    """The validation report as plain text, with a PASS/FAIL word on each checked line.

    The input preprocessing is named at the top (``input: …``), the warnings are listed before
    the last line, and the last line is the verdict: ``overall: PASS`` (checks ran and passed,
    no warnings), ``overall: WARN (n warnings)``, ``overall: FAIL`` or ``overall: NOT VALIDATED
    (no checks ran: …)``.
    """
    mode = "QEMU emulation" if result.emulated else "hardware" if result.board != "host" else "host"
    lines = [f"edgekit validate — {result.board} ({mode}), {result.samples} samples"]
    if result.preprocess:
        lines += _wrapped(f"input: {result.preprocess}", "       ")
    lines.append(RULE)
    lines += _accuracy_lines(result) + _agreement_lines(result) + _latency_lines(result, top_layers)
    lines += _memory_lines(result) + _warning_lines(result)
    lines.append(RULE)
    lines.append(overall_line(result))
    return "\n".join(line[:WIDTH] for line in lines)


def overall_line(result: ValidationResult) -> str:
    """The report's last line: the verdict, with the number of warnings or why nothing was checked."""
    verdict = result.verdict
    if verdict == "WARN":
        n = len(result.warnings)
        return f"overall: WARN ({n} warning{'s' if n != 1 else ''})"
    if verdict == "NOT VALIDATED":
        return f"overall: NOT VALIDATED (no checks ran: {', '.join(result.unchecked)})"
    return f"overall: {verdict}"


def _warning_lines(result: ValidationResult) -> list[str]:
    if not result.warnings:
        return []
    lines = [f"warnings ({len(result.warnings)}):"]
    for text in result.warnings:
        lines += _wrapped(f"  ! {text}", "    ")
    return lines


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [text]


def _accuracy_lines(result: ValidationResult) -> list[str]:
    if not result.accuracy:
        return ["accuracy: no labels given"]
    parts = [f"{source} {value:.2f} %" for source, value in result.accuracy.items()]
    lines = [f"accuracy (top-1, {result.labelled} labelled):  " + "   ".join(parts)]
    per_class = result.per_class_accuracy.get("device", {})
    if per_class:
        cells = [f"{name[:10]} {value:.0f}%" for name, value in per_class.items()]
        width = max(len(c) for c in cells) + 2
        per_row = max(1, (WIDTH - 22) // width)
        for start in range(0, len(cells), per_row):
            prefix = "  per class (device): " if start == 0 else " " * 22
            lines.append(prefix + "".join(f"{c:<{width}}" for c in cells[start : start + per_row]).rstrip())
    return lines


def _agreement_lines(result: ValidationResult) -> list[str]:
    lines = []
    if result.device_host_bitexact is not None and result.device_host_tolerance is not None:
        verdict = "PASS" if result.within_tolerance else "FAIL"
        lines.append(
            f"device vs host:  max |Δ| {result.device_host_max_abs_lsb:.3g} (float32, tol "
            f"{result.device_host_tolerance:.3g}), {result.device_host_bitexact:,}/{result.samples:,} bit-exact, "
            f"top-1 {result.device_host_top1_agreement:.2f} %  {verdict}"
        )
        lines.append("  float32: host gcc/glibc and arm gcc/newlib may round libm differently, hence a "
                     "tolerance")
    elif result.device_host_bitexact is not None:
        verdict = "PASS" if result.bitexact_all else "FAIL"
        lines.append(
            f"device vs host:  {result.device_host_bitexact:,} of {result.samples:,} bit-exact, "
            f"max |Δ| {result.device_host_max_abs_lsb:g} LSB, "
            f"top-1 agreement {result.device_host_top1_agreement:.2f} %   {verdict}"
        )
    for name, metrics in (("device", result.device_float), ("host", result.host_float)):
        if metrics:
            lines.append(
                f"{name + ' vs float:':<17}rmse {metrics['rmse']:.4g}  mae {metrics['mae']:.4g}  "
                f"cos {metrics['cosine']:.5f}  top-1 agreement {metrics['top1_agreement']:.2f} %"
            )
    return lines


def _latency_lines(result: ValidationResult, top_layers: int) -> list[str]:
    ticks = result.ticks_per_inference
    if not ticks:
        return []
    unit = ticks["unit"]
    lines = [f"{unit}/inference: mean {ticks['mean']:,.0f}  min {ticks['min']:,.0f}  max {ticks['max']:,.0f}"]
    if result.ms_per_inference and result.clock_hz:
        ms = result.ms_per_inference
        lines.append(
            f"latency @ {result.clock_hz / 1e6:g} MHz: mean {ms['mean']:.3f} ms  "
            f"min {ms['min']:.3f} ms  max {ms['max']:.3f} ms"
        )
    elif unit == "instructions":
        lines.append("latency: instruction counts under emulation, not time (run on hardware for ms)")
    if result.layer_ticks:
        total = sum(mean for _, mean in result.layer_ticks) or 1.0
        ranked = sorted(result.layer_ticks, key=lambda item: -item[1])[:top_layers]
        lines.append(f"per layer (top {len(ranked)} of {len(result.layer_ticks)}, mean {unit}):")
        for name, mean in ranked:
            share = 100.0 * mean / total
            bar = "#" * round(share / 2.5)
            lines.append(f"  {name[:36]:<36}{mean:>14,.0f}{share:>7.1f} %  {bar}")
    return lines


def _memory_lines(result: ValidationResult) -> list[str]:
    lines = []
    if result.rom_bytes is not None:
        lines.append(usage_line("ROM", result.rom_bytes, result.board_flash_bytes))
    if result.ram_bytes is not None:
        lines.append(usage_line("RAM", result.ram_bytes, result.board_sram_bytes))
    if result.arena_bytes is not None:
        lines.append(f"arena {fmt_bytes(result.arena_bytes)} (activations, part of RAM)")
    return lines
