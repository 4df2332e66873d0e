"""CLI commands `edgekit boards`, `edgekit deploy`, `edgekit validate` (registered by
edgekit/commands.py)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import click

from edgekit.build.host import HostModel
from edgekit.data import Preprocess
from edgekit.deployment import preprocess_for
from edgekit.device.pipeline import DeployOutcome, deploy_model, model_samples
from edgekit.emit import ModelInfo, TensorInfo, default_name, emit_library
from edgekit.errors import EdgekitError
from edgekit.frontends.loader import load_model
from edgekit.targets import get_board, list_boards
from edgekit.validate import ValidationResult


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n < 1024 * 1024 else f"{n / (1024 * 1024):g} MiB"


@click.command("boards")
@click.option("--json", "as_json", is_flag=True, help="Print the board list as JSON.")
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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
        click.echo(f"wrote {path}")


def _report(outcome: DeployOutcome, json_out: Path | None, html_out: Path | None) -> None:
    from edgekit.report import render_text, write_html

    click.echo(render_text(outcome.result))
    _write_json(outcome.to_json(), json_out)
    if html_out:
        info = outcome.library.info
        timeline = list(zip(info.layer_names, info.live_bytes, strict=False))
        write_html(outcome.result, html_out, memory_timeline=timeline, title=f"edgekit — {info.name}")
        click.echo(f"wrote {html_out}")


_DATA_HELP = ".npz (images/labels or x/y), CIFAR-10 JPEG npz, or a folder of class sub-folders of images."


@click.command("deploy")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name or alias (`edgekit boards`).")
@click.option("--emulate", is_flag=True, help="Run the firmware in QEMU instead of a board.")
@click.option("--port", help="Serial port of the board, e.g. /dev/ttyACM0.")
@click.option("--data", type=click.Path(path_type=Path), help=_DATA_HELP)
@click.option("--limit", type=click.IntRange(min=1), help="Seeded, class-balanced subset of N samples.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML report.")
@click.option("--per-layer", is_flag=True, help="Also measure ticks per layer.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the generated library and PlatformIO project here.")
@click.option("--calib", type=click.Path(path_type=Path),
              help="MODEL is a float model (.tflite, PyTorch, Keras): quantize it on the way with this "
                   "calibration data (PTQ, as `edgekit quantize`).")
@click.option("--num-calib", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Calibration samples (with --calib).")
@click.option("--float-model", type=click.Path(path_type=Path),
              help="The float model MODEL was quantized from: the report's float accuracy on the same samples.")
@click.option("--pixel-scale", default=None, metavar="S[,S,S]",
              help="Float model preprocessing: real = pixel*S + O (default pixel/255).")
@click.option("--pixel-offset", default=None, metavar="O[,O,O]", help="See --pixel-scale.")
def deploy(model: Path, board_name: str, emulate: bool, port: str | None, data: Path | None, limit: int | None,
           json_out: Path | None, html_out: Path | None, per_layer: bool, work_dir: Path | None,
           calib: Path | None = None, num_calib: int = 1000, float_model: Path | None = None,
           pixel_scale: str | None = None, pixel_offset: str | None = None) -> None:
    """Build MODEL into firmware, run it on the board (or QEMU) and validate it.

    MODEL is an int8 model, or a float model with --calib (quantized on the way)."""
    from edgekit.quant.cli import _floats

    if emulate and port:
        raise click.UsageError("give either --emulate or --port, not both")
    board = get_board(board_name)
    if board.is_host:
        raise EdgekitError("--board host has no firmware; use `edgekit run` for host mode")
    with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as tmp:
        outcome = deploy_model(model, board, emulate=emulate, port=port, data=data, limit=limit,
                               per_layer=per_layer, work_dir=work_dir or Path(tmp), calib=calib,
                               num_calib=num_calib, float_model=float_model, pixel_scale=_floats(pixel_scale),
                               pixel_offset=_floats(pixel_offset))
        if work_dir is None:
            outcome.extra.pop("work_dir", None)
        _report(outcome, json_out, html_out)


@click.command("demo")
@click.option("--board", "board_name", default="nucleo", show_default=True, help="Board to emulate.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML report.")
def demo(board_name: str, json_out: Path | None, html_out: Path | None) -> None:
    """Deploy a small CNN trained on scikit-learn's handwritten digits to an emulated board and
    validate it on the 360 held-out images (the model is trained and cached on first use)."""
    from edgekit.demo.digits import digits_model_path, digits_test_npz

    click.echo("edgekit demo: digits CNN (int8) → C → PlatformIO → QEMU netduinoplus2 → validation")
    model = digits_model_path()
    click.echo(f"model {model}")
    with tempfile.TemporaryDirectory(prefix="edgekit-demo-") as tmp:
        outcome = deploy_model(model, get_board(board_name), emulate=True, data=digits_test_npz(), per_layer=True,
                               work_dir=Path(tmp))
        outcome.extra.pop("work_dir", None)
        _report(outcome, json_out, html_out)


@click.command("validate")
@click.option("--board", "board_name", required=True, help="Board name or alias.")
@click.option("--port", required=True, help="Serial port of the flashed board, e.g. /dev/ttyACM0.")
@click.option("--model", type=click.Path(path_type=Path),
              help="The model the board was flashed with: checks its hash and compares with host mode.")
@click.option("--data", type=click.Path(path_type=Path), help=_DATA_HELP)
@click.option("--limit", type=click.IntRange(min=1), help="Seeded, class-balanced subset of N samples.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
def validate(board_name: str, port: str, model: Path | None, data: Path | None, limit: int | None,
             json_out: Path | None) -> None:
    """Validate an already flashed board: HELLO, then stream samples and report."""
    board = get_board(board_name)
    with contextlib.ExitStack() as stack:
        _validate(stack, board, port, model, data, limit, json_out)


def _validate(stack: contextlib.ExitStack, board: Any, port: str, model: Path | None, data: Path | None,
              limit: int | None, json_out: Path | None) -> None:
    from edgekit.device.deploy import check_device_model, open_device, stream
    from edgekit.report import render_text

    lib = None
    host = None
    if model is not None:
        graph = load_model(model)
        lib = emit_library(graph, Path(stack.enter_context(tempfile.TemporaryDirectory())) / "lib",
                           default_name(model))
        pre = preprocess_for(graph)
    with open_device(board, None, False, port) as client:
        info = client.hello()
        click.echo(f"{info.board}: model {info.model_name} (hash 0x{info.model_hash:08x}), "
                   f"arena {info.arena_bytes:,} B, clock {info.clock_hz / 1e6:g} MHz")
        if lib is not None:
            check_device_model(info, lib, port)
            tinfo = lib.info
        else:
            tinfo = ModelInfo(name=info.model_name, input=_tensor(info.input), output=_tensor(info.output),
                              arena_bytes=info.arena_bytes, weights_bytes=0, layer_names=[],
                              model_hash=info.model_hash)
            pre = Preprocess.for_model(tinfo.input.shape, tinfo.input.dtype, tinfo.input.scale,
                                       tinfo.input.zero_point)
        samples = model_samples(tinfo, pre, data, limit)
        outs, ticks, _ = stream(client, samples.inputs)
    if lib is not None:
        host = HostModel.from_library(lib).run(samples.inputs)
    result = ValidationResult.compute(
        outs.reshape((len(samples.inputs), -1)), host_outputs=None if host is None else host.reshape(len(host), -1),
        labels=samples.labels, class_names=samples.class_names, output_scale=tinfo.output.scale,
        output_zero_point=tinfo.output.zero_point, ticks=ticks, tick_unit=info.tick_unit,
        clock_hz=info.clock_hz or None, arena_bytes=info.arena_bytes, board=info.board, emulated=info.emulated,
    )
    click.echo(render_text(result))
    data_out = result.to_json()
    data_out["model_hash"] = f"0x{info.model_hash:08x}"
    _write_json(data_out, json_out)


def _tensor(spec: Any) -> TensorInfo:
    return TensorInfo(shape=tuple(spec.shape), dtype=spec.dtype, scale=spec.scale, zero_point=spec.zero_point)
