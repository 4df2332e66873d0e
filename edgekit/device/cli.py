"""CLI commands `edgekit boards`, `edgekit deploy`, `edgekit validate` (registered by
edgekit/commands.py)."""

from __future__ import annotations

import importlib
import json
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from edgekit.errors import EdgekitError
from edgekit.targets import get_board, list_boards


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


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        return None


def _load_inputs(data: str | None, limit: int | None, shape: tuple[int, ...], dtype: str,
                 default_n: int = 10) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """(inputs, labels). edgekit.data loads --data files; without --data, seeded random inputs."""
    from edgekit.device.deploy import seeded_inputs

    if data is None:
        return seeded_inputs(shape, dtype, limit or default_n), None
    data_mod = _optional("edgekit.data")
    if data_mod is None or not hasattr(data_mod, "load_for_model"):
        raise EdgekitError("--data needs edgekit.data.load_for_model, which this build of edgekit lacks")
    return data_mod.load_for_model(data, shape=shape, dtype=dtype, limit=limit)


def _write_json(report: dict[str, Any], path: str | None) -> None:
    if path:
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"wrote {path}")


@click.command("deploy")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--board", "board_name", required=True, help="Board name or alias (`edgekit boards`).")
@click.option("--emulate", is_flag=True, help="Run the firmware in QEMU instead of a board.")
@click.option("--port", help="Serial port of the board, e.g. /dev/ttyACM0.")
@click.option("--data", type=click.Path(exists=True), help=".npz, CIFAR-10 JPEG npz, or image folder.")
@click.option("--limit", type=int, help="Seeded, class-balanced subset of N samples.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--per-layer", is_flag=True, help="Also measure ticks per layer.")
def deploy(model: str, board_name: str, emulate: bool, port: str | None, data: str | None, limit: int | None,
           json_out: str | None, per_layer: bool) -> None:  # fmt: skip
    """Build MODEL into firmware, run it on the board (or QEMU) and validate it."""
    from edgekit.device.deploy import run_library, ticks_summary

    if emulate and port:
        raise click.UsageError("give either --emulate or --port, not both")
    board = get_board(board_name)
    if board.is_host:
        raise EdgekitError("--board host has no firmware; use `edgekit run` for host mode")
    emit = _optional("edgekit.emit")
    if emit is None:
        raise EdgekitError("edgekit.emit (the C generator) is not available in this build")
    work = Path(tempfile.mkdtemp(prefix="edgekit-deploy-"))
    name = Path(model).stem.replace("-", "_").replace(".", "_").lower()
    lib = emit.generate_library(Path(model), work / "lib", name)
    info = lib.info
    inputs, labels = _load_inputs(data, limit, tuple(info.input.shape), info.input.dtype)
    run = run_library(lib, board, inputs, emulate, port, work / "firmware", per_layer=per_layer)
    host_mod = _optional("edgekit.build.host")
    bitexact = None
    host_out = None
    if host_mod is not None:
        host_out = host_mod.HostModel.from_library(lib).run(inputs)
        bitexact = int(sum(np.array_equal(a, b) for a, b in zip(run.outputs, host_out, strict=True)))
    flash_lim, sram_lim = board.limits(emulate)
    report: dict[str, Any] = {
        "board": board.name,
        "emulated": emulate,
        "samples": len(inputs),
        "device_host_bitexact": bitexact,
        "ticks_per_inference": ticks_summary(run.ticks, run.info.tick_unit),
        "rom_bytes": run.rom_bytes,
        "ram_bytes": run.ram_bytes,
        "arena_bytes": info.arena_bytes,
        "board_flash_bytes": flash_lim,
        "board_sram_bytes": sram_lim,
        "clock_hz": run.info.clock_hz,
        "build_seconds": run.build_seconds,
        "link_recoveries": run.recoveries,
    }
    if run.layer_ticks is not None:
        report["layer_ticks_mean"] = dict(
            zip(run.layer_names, run.layer_ticks.mean(axis=0).tolist(), strict=False)
        )
    validate_mod = _optional("edgekit.validate")
    if validate_mod is not None and hasattr(validate_mod, "build_report"):
        report = validate_mod.build_report(report, device=run.outputs, host=host_out, labels=labels, lib=lib)
    else:
        report["accuracy"] = _accuracy(run.outputs, host_out, labels)
    _print_summary(report)
    _write_json(report, json_out)


def _accuracy(
    device: np.ndarray, host: np.ndarray | None, labels: np.ndarray | None
) -> dict[str, float | None]:
    if labels is None or device.size == 0:
        return {"device": None, "host": None}

    def top1(out: np.ndarray) -> float:
        return float(np.mean(out.reshape(len(out), -1).argmax(axis=1) == np.asarray(labels)))

    return {"device": top1(device), "host": top1(host) if host is not None else None}


def _print_summary(report: dict[str, Any]) -> None:
    t = report["ticks_per_inference"]
    click.echo(
        f"board {report['board']}{' (QEMU)' if report['emulated'] else ''}: {report['samples']} samples"
    )
    if report.get("device_host_bitexact") is not None:
        click.echo(f"device vs host bit-exact: {report['device_host_bitexact']}/{report['samples']}")
    if t["mean"] is not None:
        click.echo(f"{t['unit']} per inference: mean {t['mean']:,.0f}  min {t['min']:,}  max {t['max']:,}")
    if report.get("rom_bytes") is not None:
        click.echo(
            f"ROM {report['rom_bytes']:,} / {report['board_flash_bytes']:,} B   "
            f"RAM {report['ram_bytes']:,} / {report['board_sram_bytes']:,} B"
        )


@click.command("validate")
@click.option("--board", "board_name", required=True, help="Board name or alias.")
@click.option("--port", required=True, help="Serial port of the flashed board, e.g. /dev/ttyACM0.")
@click.option("--data", type=click.Path(exists=True), help="Samples to run (default: 10 seeded random).")
@click.option("--limit", type=int, help="Use N samples.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the report as JSON.")
def validate(board_name: str, port: str, data: str | None, limit: int | None, json_out: str | None) -> None:
    """Talk to an already flashed board: HELLO, then stream samples and report ticks."""
    from edgekit.device.deploy import open_device, stream, ticks_summary

    board = get_board(board_name)
    with open_device(board, None, False, port) as client:
        info = client.hello()
        click.echo(
            f"{info.board}: model {info.model_name} (hash 0x{info.model_hash:08x}), input {info.input.dtype}"
            f"{info.input.shape}, output {info.output.dtype}{info.output.shape}, arena {info.arena_bytes:,} B, "
            f"clock {info.clock_hz / 1e6:g} MHz"
        )
        if info.board != board.name:
            click.echo(f"warning: device reports board {info.board!r}, not {board.name!r}", err=True)
        inputs, labels = _load_inputs(data, limit, info.input.shape, info.input.dtype)
        outs, ticks, _ = stream(client, inputs)
    report: dict[str, Any] = {
        "board": info.board,
        "emulated": info.emulated,
        "samples": len(inputs),
        "model_hash": f"0x{info.model_hash:08x}",
        "ticks_per_inference": ticks_summary(ticks, info.tick_unit),
        "accuracy": _accuracy(outs, None, labels),
        "arena_bytes": info.arena_bytes,
        "clock_hz": info.clock_hz,
    }
    _print_summary(report)
    _write_json(report, json_out)
