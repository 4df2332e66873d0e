"""Will a model fit a board? The estimate made before anything is built.

Flash: weights + harness/startup code. SRAM: arena + the firmware's input/output buffers + the
per-layer tick table + stack + harness state. The linked firmware's real ROM/RAM are reported
after the build; this estimate refuses hopeless builds early with a table a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.errors import DoesNotFitError
from edgekit.targets import Board, get_board, list_boards

HARNESS_RAM_BYTES = 1024  # parser buffer, session state (measured: ~520 B) + margin
HARNESS_FLASH_BYTES = 8 * 1024  # harness + startup + board code (measured: ~5.5 KiB at -O2)


def fmt_bytes(n: int | float) -> str:
    """`171234` → `171,234 B`."""
    return f"{int(n):,} B"


def fit_table(needs: dict[str, int], board_has: dict[str, int]) -> str:
    """The budget table shown when a model does not fit: need, have, margin, verdict per resource."""
    header = f"{'resource':<14}{'needs':>15}{'board has':>15}{'margin':>16}   verdict"
    lines = [header, "─" * len(header)]
    for name, need in needs.items():
        have = board_has.get(name)
        if have is None:
            lines.append(f"{name:<14}{fmt_bytes(need):>15}{'?':>15}{'?':>16}   unknown")
            continue
        margin = have - need
        verdict = "fits" if margin >= 0 else "DOES NOT FIT"
        lines.append(f"{name:<14}{fmt_bytes(need):>15}{fmt_bytes(have):>15}{margin:>+14,} B   {verdict}")
    return "\n".join(lines)


@dataclass
class FitEstimate:
    board: str
    emulated: bool
    needs: dict[str, int]
    board_has: dict[str, int]  # 0: no limit (the host)
    bigger: list[str] = field(default_factory=list)  # boards whose limits would hold the model

    @property
    def fits(self) -> bool:
        return all(self.needs[k] <= self.board_has[k] for k in self.needs if self.board_has.get(k))

    def format(self) -> str:
        where = f"{self.board}{' (emulated)' if self.emulated else ''}"
        if not any(self.board_has.values()):
            return f"fit on {where}: no flash or SRAM limit (the model runs in host mode)"
        verdict = "fits" if self.fits else "DOES NOT FIT"
        return f"fit on {where}: {verdict}\n" + fit_table(self.needs, self.board_has)

    def to_json(self) -> dict:
        return {"board": self.board, "emulated": self.emulated, "fits": self.fits,
                "needs": self.needs, "board_has": self.board_has}

    def raise_if_not_fits(self) -> None:
        if not self.fits:
            where = " under emulation" if self.emulated else ""
            hint = (f"Use a board with more memory ({', '.join(self.bigger)}), a smaller model, or fewer-bit weights."
                    if self.bigger else "No board edgekit knows has enough memory"
                    f"{where}: use a smaller model or fewer-bit weights.")
            raise DoesNotFitError(
                f"the model does not fit {self.board}{where}:\n{fit_table(self.needs, self.board_has)}\n{hint}"
            )


def arena_budget(board: Board | str, *, io_bytes: int, num_layers: int, emulated: bool = False) -> int | None:
    """The arena bytes the board's SRAM leaves beside the I/O buffers, tick table, stack and
    harness (what ``--patch auto`` aims under); None for the host (no limit)."""
    b = get_board(board) if isinstance(board, str) else board
    _, sram_lim = b.limits(emulated)
    if not sram_lim:
        return None
    return sram_lim - (io_bytes + 4 * num_layers + b.stack_bytes + HARNESS_RAM_BYTES)


def estimate_fit(board: Board | str, *, weights_bytes: int, arena_bytes: int, io_bytes: int = 0,
                 num_layers: int = 0, emulated: bool = False) -> FitEstimate:
    b = get_board(board) if isinstance(board, str) else board
    flash_lim, sram_lim = b.limits(emulated)
    needs = {
        "flash": weights_bytes + HARNESS_FLASH_BYTES,
        "SRAM": arena_bytes + io_bytes + 4 * num_layers + b.stack_bytes + HARNESS_RAM_BYTES,
    }
    bigger = []
    for other in list_boards():
        if other.name == b.name or other.is_host:
            continue
        f, r = other.limits(emulated)
        if needs["flash"] <= f and other.stack_bytes - b.stack_bytes + needs["SRAM"] <= r:
            bigger.append(other.name)
    return FitEstimate(board=b.name, emulated=emulated, needs=needs, board_has={"flash": flash_lim, "SRAM": sram_lim},
                       bigger=bigger)
