"""A session with a device: fit check → PlatformIO build → flash or emulate → HELLO check (the
device must run the model we built: same name, hash and shapes) → stream samples with a progress
bar → outputs and tick counts. The pipeline (:mod:`edgekit.pipeline`) turns them into the
validation result."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgekit.device.client import DeviceClient
from edgekit.device.emulator import Emulator
from edgekit.device.protocol import DeviceInfo
from edgekit.device.serial_link import SerialLink
from edgekit.errors import BuildError, DeviceError
from edgekit.fit import FitEstimate, estimate_fit
from edgekit.targets import Board
from edgekit.toolchain import platformio as pio


def fit_check(info: pio.ModelInfoLike, board: Board, emulated: bool) -> FitEstimate:
    """Refuse a model that cannot fit before building (DoesNotFitError with the budget table)."""
    io = pio.tensor_bytes(info.input) + pio.tensor_bytes(info.output)
    est = estimate_fit(board, weights_bytes=info.weights_bytes, arena_bytes=info.arena_bytes, io_bytes=io,
                       num_layers=len(info.layer_names), emulated=emulated)
    est.raise_if_not_fits()
    return est


@dataclass
class DeviceRun:
    info: DeviceInfo
    outputs: np.ndarray
    ticks: np.ndarray
    layer_ticks: np.ndarray | None
    layer_names: tuple[str, ...]
    recoveries: int
    rom_bytes: int | None = None
    ram_bytes: int | None = None
    build_seconds: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


def check_device_model(info: DeviceInfo, lib: pio.ModelLibrary, port: str) -> None:
    """The device must run exactly the model we built."""
    want = lib.info
    problems = []
    if info.model_name != lib.name:
        problems.append(f"model name {info.model_name!r} != {lib.name!r}")
    if info.model_hash != want.model_hash:
        problems.append(f"model hash 0x{info.model_hash:08x} != 0x{want.model_hash:08x}")
    if tuple(info.input.shape) != tuple(want.input.shape) or info.input.dtype != want.input.dtype:
        problems.append(
            f"input {info.input.dtype}{info.input.shape} != {want.input.dtype}{tuple(want.input.shape)}"
        )
    if tuple(info.output.shape) != tuple(want.output.shape) or info.output.dtype != want.output.dtype:
        problems.append(
            f"output {info.output.dtype}{info.output.shape} != {want.output.dtype}{tuple(want.output.shape)}"
        )
    if problems:
        raise DeviceError(
            f"the device on {port} runs a different model ({'; '.join(problems)}): flash it with "
            "`edgekit deploy MODEL --board B --port PORT`"
        )


@contextlib.contextmanager
def open_device(
    board: Board, elf: Path | None, emulate: bool, port: str | None, timeout: float = 2.0
) -> Iterator[DeviceClient]:
    """A connected DeviceClient: QEMU running `elf`, or the board on `port`."""
    if emulate:
        if elf is None:
            raise DeviceError("--emulate needs a built firmware")
        machine = board.emulator.machine if board.emulator else "netduinoplus2"
        with Emulator(elf, machine=machine) as emu:
            assert emu.link is not None
            yield DeviceClient(emu.link, timeout=timeout)
        return
    if not port:
        raise DeviceError(f"give --port (e.g. /dev/ttyACM0) for {board.name}, or --emulate to use QEMU")
    with SerialLink(port, baud=board.console.baud if board.console else 115200) as link:
        yield DeviceClient(link, timeout=timeout)


UPLOAD_TOOLS = {"openocd": ("openocd", "openocd"), "st-flash": ("st-flash", "stlink-tools")}


def check_port(board: Board, port: str | None) -> None:
    """Before anything is built for a real board: a serial port is given and exists, and an
    upload tool of the board is installed."""
    if not port:
        raise DeviceError(f"give --port (e.g. /dev/ttyACM0) for {board.name}, or --emulate to use QEMU")
    if "://" not in port and not Path(port).exists():
        raise DeviceError(f"serial port {port} does not exist: is the board plugged in? (`ls /dev/ttyACM*` lists "
                          "ST-LINK ports), or use --emulate")
    tools = [UPLOAD_TOOLS[m] for m in board.upload_methods if m in UPLOAD_TOOLS]
    if tools and not any(shutil.which(exe) for exe, _ in tools):
        hint = " or ".join(f"{exe} (`apt-get install {pkg}`)" for exe, pkg in tools)
        raise BuildError(f"flashing {board.name} needs {hint}; install one, or use --emulate")


def flash(board: Board, build: pio.FirmwareBuild, home: Path | None = None) -> None:
    """Upload to a real board with PlatformIO's upload target (openocd or st-flash)."""
    env = pio.env_name(board, False)
    cmd = pio.pio_command("run", "-d", str(build.project_dir), "-e", env, "-t", "upload")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=pio.pio_env((home or pio.pio_home()).resolve())
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BuildError(
            f"flashing {board.name} failed ({' '.join(cmd)}). Is the board plugged in and is openocd "
            f"(`apt-get install openocd`) or st-flash (`apt-get install stlink-tools`) installed?\n{tail}"
        )


def stream(
    client: DeviceClient, inputs: np.ndarray, per_layer: bool = False, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Run every sample of `inputs` (N, *input_shape) on the device."""
    outs, ticks, layers = [], [], []
    assert client.info is not None
    shape = client.info.input.shape
    for x in tqdm(inputs, desc="device", unit="sample", disable=None if progress else True, leave=False):
        r = client.infer(np.asarray(x).reshape(shape), per_layer=per_layer)
        outs.append(r.output)
        ticks.append(r.ticks)
        if r.layer_ticks is not None:
            layers.append(r.layer_ticks)
    return (
        np.stack(outs) if outs else np.zeros((0,)),
        np.asarray(ticks, dtype=np.int64),
        np.asarray(layers, dtype=np.int64) if per_layer else None,
    )


def run_library(
    lib: pio.ModelLibrary,
    board: Board,
    inputs: np.ndarray,
    emulate: bool,
    port: str | None = None,
    work_dir: Path | None = None,
    per_layer: bool = False,
    progress: bool = True,
    on_build: Callable[[pio.FirmwareBuild], None] | None = None,
) -> DeviceRun:
    """Build `lib` into firmware for `board`, put it on the device (or QEMU) and run `inputs`."""
    fit_check(lib.info, board, emulate)
    project = pio.generate_project(lib, board, Path(work_dir or Path(lib.dir) / "firmware"), emulate)
    build = pio.build(project, board, emulate)
    if on_build:
        on_build(build)
    if not emulate:
        flash(board, build)
    with open_device(board, build.elf, emulate, port) as client:
        info = client.hello()
        check_device_model(info, lib, client.link.name)
        names = client.layer_names() if per_layer else tuple(lib.info.layer_names)
        outs, ticks, layers = stream(client, inputs, per_layer, progress)
        recoveries = client.recoveries
    return DeviceRun(info, outs, ticks, layers, tuple(names), recoveries, build.rom_bytes, build.ram_bytes,
                     build.seconds)  # fmt: skip


def ticks_summary(ticks: np.ndarray, unit: str) -> dict[str, object]:
    if ticks.size == 0:
        return {"mean": None, "min": None, "max": None, "unit": unit}
    return {"mean": float(ticks.mean()), "min": int(ticks.min()), "max": int(ticks.max()), "unit": unit}
