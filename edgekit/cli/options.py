"""Options shared by several commands, declared once, and their parsing."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from edgekit.errors import DataError

F = TypeVar("F", bound=Callable[..., Any])

DATA_HELP = ".npz (images/labels or x/y), CIFAR-10 JPEG npz, or a folder of class sub-folders of images."


def parse_floats(value: str | None, what: str = "value") -> float | tuple[float, ...] | None:
    """``"0.5"`` → 0.5, ``"1,2,3"`` → (1.0, 2.0, 3.0); finite numbers only."""
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError as err:
        raise DataError(f"{what}: expected a number or comma-separated numbers, got {value!r}") from err
    if not all(math.isfinite(v) for v in parts):
        raise DataError(f"{what}: {value!r} is not a finite number")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


def pixel_options(help_prefix: str = "float input preprocessing") -> Callable[[F], F]:
    """``--pixel-scale S[,S,S]`` and ``--pixel-offset O[,O,O]``: real = pixel·S + O."""
    return _compose(
        click.option("--pixel-scale", default=None, metavar="S[,S,S]",
                     help=f"{help_prefix}: real = pixel*S + O (default pixel/255; per channel with commas)."),
        click.option("--pixel-offset", default=None, metavar="O[,O,O]", help="see --pixel-scale."),
    )


def pixels(pixel_scale: str | None, pixel_offset: str | None) -> dict[str, Any]:
    """The parsed pixel options as keyword arguments of the pipeline functions."""
    return {"pixel_scale": parse_floats(pixel_scale, "--pixel-scale"),
            "pixel_offset": parse_floats(pixel_offset, "--pixel-offset")}


def calib_options(required: bool, help_text: str) -> Callable[[F], F]:
    """``--calib DATA`` and ``--num-calib N``."""
    return _compose(
        click.option("--calib", "calib", required=required, type=click.Path(path_type=Path), help=help_text),
        click.option("--num-calib", type=click.IntRange(min=1), default=1000, show_default=True,
                     help="calibration samples (a seeded, class-balanced subset)."),
    )


def data_option(required: bool = False, help_text: str = DATA_HELP) -> Callable[[F], F]:
    return click.option("--data", required=required, type=click.Path(path_type=Path), help=help_text)


def limit_option() -> Callable[[F], F]:
    return click.option("--limit", type=click.IntRange(min=1), default=None,
                        help="a seeded, class-balanced subset of N samples.")


def seed_option() -> Callable[[F], F]:
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help="seed of the class-balanced subsets.")


def json_flag() -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help="print one JSON object.")


def report_outputs() -> Callable[[F], F]:
    """``--json FILE`` and ``--html FILE`` for the validation report."""
    return _compose(
        click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
                     help="write the report as JSON."),
        click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
                     help="write an HTML report."),
    )


def precision_option() -> Callable[[F], F]:
    """``--precision int8|float32``: what the generated library computes in (edgekit.lower.PRECISIONS)."""
    return click.option("--precision", type=click.Choice(["int8", "float32"]), default="int8", show_default=True,
                        help="int8: a quantized MODEL; float32: a float MODEL run unquantized on the float32 "
                             "kernels (the library takes and returns float32).")


PATCH_HELP = ("patch-based inference of the memory-hungry first stage (int8): off, auto (the split and grid "
              "with the smallest arena, or under --board's SRAM the least recompute that fits), or "
              "GRIDxGRID@LAYER (a GRID×GRID patch grid over the output of node LAYER, the # of `edgekit analyze`).")


def patch_option() -> Callable[[F], F]:
    """``--patch off|auto|GRIDxGRID@LAYER`` (edgekit.patch)."""
    return click.option("--patch", "patch_mode", default="off", show_default=True, metavar="off|auto|NxN@LAYER",
                        help=PATCH_HELP)


def board_option(required: bool = True, help_text: str = "board name or alias (`edgekit boards`).") -> Callable[[F], F]:
    return click.option("--board", "board_name", required=required, help=help_text)


def model_argument() -> Callable[[F], F]:
    return click.argument("model", type=click.Path(path_type=Path))
