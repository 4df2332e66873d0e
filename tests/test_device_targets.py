"""Board descriptions, fit check and the boards command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgekit.cli.device import boards
from edgekit.device.session import fit_check
from edgekit.errors import DoesNotFitError, EdgekitError
from edgekit.targets import get_board, list_boards
from tests.fixtures.fake_model.library import Info


def test_boards_and_alias() -> None:
    names = [b.name for b in list_boards()]
    assert names == ["host", "nucleo-f446re", "nucleo-h743zi", "nucleo-l4r5zi"]
    b = get_board("nucleo")
    assert b.name == "nucleo-f446re" and b.flash.bytes == 512 * 1024 and b.sram.bytes == 128 * 1024
    assert b.cpu_flags() == ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    assert get_board("nucleo-h743zi").cpu_flags()[0] == "-mcpu=cortex-m7"
    assert get_board("nucleo-l4r5zi").limits(emulated=True) == (1024 * 1024, 192 * 1024)


def test_unknown_board_lists_valid_names() -> None:
    with pytest.raises(EdgekitError, match="nucleo-f446re.*nucleo-l4r5zi"):
        get_board("arduino-uno")


def test_fit_check_refuses_with_a_table() -> None:
    fit_check(Info(), get_board("nucleo"), emulated=True)
    with pytest.raises(DoesNotFitError) as err:
        fit_check(Info(arena_bytes=200 * 1024), get_board("nucleo"), emulated=False)
    msg = str(err.value)
    assert "SRAM" in msg and "DOES NOT FIT" in msg and "131,072 B" in msg
    fit_check(Info(arena_bytes=200 * 1024), get_board("nucleo-l4r5zi"), emulated=False)


def test_boards_command_lists_every_board() -> None:
    out = CliRunner().invoke(boards, []).output
    for name in ("nucleo-f446re", "nucleo-l4r5zi", "nucleo-h743zi", "host", "netduinoplus2"):
        assert name in out
