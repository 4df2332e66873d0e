"""On-device tests over a serial link.

    pytest hw_tests --emulate                              # QEMU netduinoplus2 (CI)
    pytest hw_tests --board nucleo-f446re --port /dev/ttyACM0   # a real Nucleo (flashes it first)

The firmware runs the fake test model (tests/fixtures/fake_model), whose outputs are known
bit-exactly from a numpy reference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgekit.device.client import DeviceClient
from edgekit.device.emulator import Emulator
from edgekit.device.session import flash, open_device
from edgekit.targets import Board, get_board
from edgekit.toolchain import platformio as pio
from tests.fixtures.fake_model.library import fake_library


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("edgekit hardware")
    g.addoption("--board", default="nucleo-f446re", help="board name or alias")
    g.addoption("--port", default=None, help="serial port of a real board")
    g.addoption("--emulate", action="store_true", help="run the firmware in QEMU")
    g.addoption("--no-flash", action="store_true", help="the board already runs the fake-model firmware")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--emulate") or config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="give --emulate or --port PORT to run on-device tests")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def board(request: pytest.FixtureRequest) -> Board:
    return get_board(request.config.getoption("--board"))


@pytest.fixture(scope="session")
def emulated(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--emulate"))


@pytest.fixture(scope="session")
def firmware(request: pytest.FixtureRequest, board: Board, emulated: bool) -> pio.FirmwareBuild:
    work = Path(tempfile.mkdtemp(prefix="edgekit-hwtest-"))
    lib = fake_library()
    project = pio.generate_project(lib, board, work / "fw", emulated)
    build = pio.build(project, board, emulated)
    if not emulated and not request.config.getoption("--no-flash"):
        flash(board, build)
    return build


@pytest.fixture
def emulator(firmware: pio.FirmwareBuild, emulated: bool) -> Iterator[Emulator]:
    if not emulated:
        pytest.skip("needs --emulate")
    with Emulator(firmware.elf) as emu:
        yield emu


@pytest.fixture
def client(request: pytest.FixtureRequest, firmware: pio.FirmwareBuild, board: Board,
           emulated: bool) -> Iterator[DeviceClient]:  # fmt: skip
    """A client on a fresh emulator, or on the board's port."""
    if emulated:
        with Emulator(firmware.elf) as emu:
            assert emu.link is not None
            yield DeviceClient(emu.link, timeout=1.0)
    else:
        with open_device(board, None, False, request.config.getoption("--port"), timeout=1.0) as c:
            yield c
