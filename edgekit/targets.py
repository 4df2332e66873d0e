"""Board descriptions (`targets/boards/*.json`) and emulators (`targets/emulators/*.json`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.resources import resource_dir


@dataclass(frozen=True)
class Memory:
    origin: int
    bytes: int


@dataclass(frozen=True)
class Console:
    instance: str
    base: int
    tx: str
    rx: str
    af: int
    baud: int


@dataclass(frozen=True)
class Emulator:
    name: str
    qemu_binary: str
    machine: str
    core: str
    fpu: str
    flash: Memory
    sram: Memory
    tick_unit: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Board:
    name: str
    aliases: tuple[str, ...]
    description: str
    family: str
    core: str
    fpu: str
    float_abi: str
    clock_hz: int
    flash: Memory
    sram: Memory
    tick_unit: str
    upload_methods: tuple[str, ...]
    run_clock_hz: int = 0
    define: str = ""
    mcu: str = ""
    stack_bytes: int = 8192
    console: Console | None = None
    openocd_target: str = ""
    emulator: Emulator | None = None
    linker_script: str = ""
    emulator_linker_script: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_host(self) -> bool:
        return self.family == "host"

    def limits(self, emulated: bool) -> tuple[int, int]:
        """(flash bytes, SRAM bytes) the firmware may use: the board's, capped by the emulator's
        memories when emulated."""
        if emulated and self.emulator is not None:
            return (
                min(self.flash.bytes, self.emulator.flash.bytes),
                min(self.sram.bytes, self.emulator.sram.bytes),
            )
        return (self.flash.bytes, self.sram.bytes)

    def cpu_flags(self, emulated: bool = False) -> list[str]:
        """GCC flags for the core (the emulator's core when emulated)."""
        if self.is_host:
            return []
        core, fpu = (
            (self.emulator.core, self.emulator.fpu) if emulated and self.emulator else (self.core, self.fpu)
        )
        return [f"-mcpu={core}", "-mthumb", f"-mfloat-abi={self.float_abi}", f"-mfpu={fpu}"]


def _mem(d: dict[str, Any]) -> Memory:
    return Memory(int(str(d["origin"]), 0), int(d["bytes"]))


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise EdgekitError(f"board description {path} is unreadable: {err}") from err


@cache
def _emulator(name: str) -> Emulator:
    path = resource_dir("targets") / "emulators" / f"{name}.json"
    d = _load_json(path)
    return Emulator(
        name=d["name"], qemu_binary=d["qemu_binary"], machine=d["machine"], core=d["core"], fpu=d["fpu"],
        flash=_mem(d["flash"]), sram=_mem(d["sram"]), tick_unit=d["tick_unit"], args=tuple(d["args"]),
    )  # fmt: skip


def _board(d: dict[str, Any]) -> Board:
    con = d.get("console")
    up = d.get("upload", {})
    return Board(
        name=d["name"], aliases=tuple(d.get("aliases", ())), description=d["description"],
        family=d["family"], core=d["core"], fpu=d["fpu"], float_abi=d["float_abi"],
        clock_hz=int(d["clock_hz"]), run_clock_hz=int(d.get("run_clock_hz", d["clock_hz"])),
        flash=_mem(d["flash"]), sram=_mem(d["sram"]), tick_unit=d["tick_unit"],
        upload_methods=tuple(up.get("methods", ())), openocd_target=up.get("openocd_target", ""),
        define=d.get("define", ""), mcu=d.get("mcu", ""), stack_bytes=int(d.get("stack_bytes", 8192)),
        console=Console(con["instance"], int(str(con["base"]), 0), con["tx"], con["rx"], int(con["af"]),
                        int(con["baud"])) if con else None,
        emulator=_emulator(d["emulator"]) if d.get("emulator") else None,
        linker_script=d.get("linker_script", ""), emulator_linker_script=d.get("emulator_linker_script", ""),
        raw=d,
    )  # fmt: skip


@cache
def _all_boards() -> dict[str, Board]:
    boards: dict[str, Board] = {}
    for path in sorted((resource_dir("targets") / "boards").glob("*.json")):
        try:
            board = _board(_load_json(path))
        except (KeyError, TypeError, ValueError) as err:
            raise EdgekitError(f"board description {path} lacks or mangles a field: {err}") from err
        boards[board.name] = board
    return boards


def list_boards() -> list[Board]:
    """All known boards, sorted by name."""
    return [b for _, b in sorted(_all_boards().items())]


def get_board(name: str) -> Board:
    """The board called `name` (or one of its aliases, e.g. ``nucleo``)."""
    boards = _all_boards()
    key = name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            return board
    names = ", ".join(
        f"{b.name} (alias {', '.join(b.aliases)})" if b.aliases else b.name for b in list_boards()
    )
    raise EdgekitError(
        f"unknown board {name!r}; valid boards: {names}. `edgekit boards` lists them with details."
    )
