"""``edgekit boards``, ``deploy``, ``validate`` and ``demo``: the device commands."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from edgekit import pipeline
from edgekit.cli.options import (
    board_option,
    calib_options,
    data_option,
    limit_option,
    model_argument,
    patch_option,
    pixel_options,
    pixels,
    precision_option,
    report_outputs,
)
from edgekit.errors import EdgekitError
from edgekit.outputs import check_output_file, write_file
from edgekit.targets import get_board, list_boards


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):g} MiB"


@click.command("boards")
@click.option("--json", "as_json", is_flag=True, help="print the board list as JSON.")
def boards(as_json: bool) -> None:
    """List the boards edgekit can build for."""
    rows = list_boards()
    if as_json:
        click.echo(json.dumps([b.raw for b in rows], indent=2))
        return
    click.echo(
        f"{'board':<15}{'alias':<9}{'core':<11}{'clock':>9}{'flash':>9}{'SRAM':>9}  {'emulator':<14}upload"
    )
    for b in rows:
        clock = f"{b.clock_hz // 1_000_000} MHz" if b.clock_hz else "-"
        emu = b.emulator.machine if b.emulator else "-"
        flash = _kib(b.flash.bytes) if b.flash.bytes else "-"
        sram = _kib(b.sram.bytes) if b.sram.bytes else "-"
        alias = ",".join(b.aliases) or "-"
        up = "/".join(b.upload_methods) or "-"
        click.echo(f"{b.name:<15}{alias:<9}{b.core:<11}{clock:>9}{flash:>9}{sram:>9}  {emu:<14}{up}")


def _write_json(data: dict[str, Any], path: Path | None) -> None:
    if path:
        write_file(path, json.dumps(data, indent=2) + "\n", what="--json")
        click.echo(f"wrote {path}")


def _check_reports(inputs: list[Path | None], **outputs: Path | None) -> None:
    """The report files can be written (checked before the work, so it is not lost)."""
    paths = [p for p in outputs.values() if p is not None]
    if len(set(map(str, paths))) < len(paths):
        raise click.UsageError("--json and --html name the same file")
    for option, path in outputs.items():
        if path is not None:
            check_output_file(path, inputs, f"--{option}")


def _exit_for(verdict: str) -> None:
    """PASS and WARN (checks passed, the report lists warnings) exit 0; FAIL and NOT VALIDATED 1."""
    if verdict in ("FAIL", "NOT VALIDATED"):
        sys.exit(1)


def _report(outcome: pipeline.DeployOutcome, json_out: Path | None, html_out: Path | None) -> None:
    from edgekit.report import render_text, write_html

    click.echo(render_text(outcome.result))
    _write_json(outcome.to_json(), json_out)
    if html_out:
        info = outcome.library.info
        timeline = list(zip(info.layer_names, info.live_bytes, strict=False))
        write_html(outcome.result, html_out, memory_timeline=timeline, title=f"edgekit — {info.name}")
        click.echo(f"wrote {html_out}")
    _exit_for(outcome.result.verdict)


@click.command("deploy")
@model_argument()
@board_option()
@click.option("--emulate", is_flag=True, help="run the firmware in QEMU instead of a board.")
@click.option("--port", help="serial port of the board, e.g. /dev/ttyACM0.")
@data_option()
@limit_option()
@report_outputs()
@click.option("--per-layer", is_flag=True, help="also measure ticks per layer.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="keep the generated library and PlatformIO project here.")
@calib_options(required=False, help_text="MODEL is a float model (.tflite, PyTorch, Keras): quantize it on the "
               "way with this calibration data (PTQ, as `edgekit quantize`).")
@click.option("--float-model", type=click.Path(path_type=Path),
              help="the float model MODEL was quantized from: the report's float accuracy on the same samples.")
@pixel_options("float model preprocessing")
@click.option("--force", is_flag=True, help="use a non-empty --work-dir edgekit did not create (its files are "
              "never replaced).")
@precision_option()
@patch_option()
def deploy(model: Path, board_name: str, emulate: bool, port: str | None, data: Path | None, limit: int | None,
           json_out: Path | None, html_out: Path | None, per_layer: bool, work_dir: Path | None,
           calib: Path | None = None, num_calib: int = 1000, float_model: Path | None = None,
           pixel_scale: str | None = None, pixel_offset: str | None = None, force: bool = False,
           precision: str = "int8", patch_mode: str = "off") -> None:
    """Build MODEL into firmware, run it on the board (or QEMU) and validate it.

    MODEL is an int8 model, or a float model with --calib (quantized on the way), or a float model
    with --precision float32 (deployed unquantized; the device is checked against host mode within
    a float32 tolerance instead of bit for bit). Exit status: 0 when every check passed (the
    report may list warnings), 1 when one failed."""
    if emulate and port:
        raise click.UsageError("give either --emulate or --port, not both")
    _check_reports([model, data, calib, float_model], json=json_out, html=html_out)
    board = get_board(board_name)
    if board.is_host:
        raise EdgekitError("--board host has no firmware; use `edgekit run` for host mode")
    with pipeline.temporary_work_dir(work_dir, "edgekit-deploy-") as work:
        outcome = pipeline.deploy(model, board, emulate=emulate, port=port, data=data, limit=limit,
                                  per_layer=per_layer, work_dir=work, calib=calib, num_calib=num_calib,
                                  float_model=float_model, force=force, precision=precision,
                                  patch_mode=patch_mode, **pixels(pixel_scale, pixel_offset))
        if work_dir is None:
            outcome.extra.pop("work_dir", None)
        _report(outcome, json_out, html_out)


@click.command("demo")
@board_option(required=False, help_text="board to emulate.")
@report_outputs()
def demo(board_name: str | None, json_out: Path | None, html_out: Path | None) -> None:
    """Deploy a small CNN trained on scikit-learn's handwritten digits to an emulated board and
    validate it on the 360 held-out images (the model is trained and cached on first use)."""
    from edgekit.demo.digits import digits_model_path, digits_test_npz

    _check_reports([], json=json_out, html=html_out)
    click.echo("edgekit demo: digits CNN (int8) → C → PlatformIO → QEMU netduinoplus2 → validation")
    model = digits_model_path()
    click.echo(f"model {model}")
    with tempfile.TemporaryDirectory(prefix="edgekit-demo-") as tmp:
        outcome = pipeline.deploy(model, get_board(board_name or "nucleo"), emulate=True, data=digits_test_npz(),
                                  per_layer=True, work_dir=Path(tmp))
        outcome.extra.pop("work_dir", None)
        _report(outcome, json_out, html_out)


@click.command("validate")
@board_option()
@click.option("--port", required=True, help="serial port of the flashed board, e.g. /dev/ttyACM0.")
@click.option("--model", type=click.Path(path_type=Path),
              help="the model the board was flashed with: checks its hash and compares with host mode.")
@data_option()
@limit_option()
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="write the report as JSON.")
@precision_option()
def validate(board_name: str, port: str, model: Path | None, data: Path | None, limit: int | None,
             json_out: Path | None, precision: str = "int8") -> None:
    """Validate an already flashed board: HELLO, then stream samples and report.

    Without --model nothing can be checked bit for bit: the report then says NOT VALIDATED and
    the exit status is 1. A board deployed with --precision float32 is validated with the same
    --precision float32 and its float --model (within the float32 tolerance of host mode)."""
    from edgekit.report import render_text

    _check_reports([model, data], json=json_out)
    def hello(info: Any) -> None:
        click.echo(f"{info.board}: model {info.model_name} (hash 0x{info.model_hash:08x}), "
                   f"arena {info.arena_bytes:,} B, clock {info.clock_hz / 1e6:g} MHz")

    checked = pipeline.validate_device(get_board(board_name), port, model, data, limit, on_hello=hello,
                                      precision=precision)
    click.echo(render_text(checked.result))
    data_out = checked.result.to_json()
    data_out["model_hash"] = f"0x{checked.model_hash:08x}"
    _write_json(data_out, json_out)
    _exit_for(checked.result.verdict)
