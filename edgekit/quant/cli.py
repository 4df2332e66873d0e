"""``edgekit quantize`` and ``edgekit eval``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from edgekit.errors import DataError

OBSERVER_NAMES = ("minmax", "percentile", "mse", "entropy")  # edgekit.quant.observers.OBSERVERS (needs torch)


def _floats(value: str | None) -> float | tuple[float, ...] | None:
    if value is None:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError as err:
        raise DataError(f"expected a number or comma-separated numbers, got {value!r}") from err
    return parts[0] if len(parts) == 1 else tuple(parts)


_PIXEL_OPTIONS = [
    click.option("--pixel-scale", default=None, metavar="S[,S,S]",
                 help="float input preprocessing: real = pixel*S + O (default pixel/255; per channel "
                      "with commas)."),
    click.option("--pixel-offset", default=None, metavar="O[,O,O]", help="see --pixel-scale."),
]


def _pixel_options(fn):  # type: ignore[no-untyped-def]
    for opt in reversed(_PIXEL_OPTIONS):
        fn = opt(fn)
    return fn


@click.command("quantize")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--calib", "calib", required=True, type=click.Path(path_type=Path),
              help="calibration data (npz, CIFAR JPEG npz, image folder).")
@click.option("--method", type=click.Choice(["ptq"]), default="ptq", show_default=True)
@click.option("--observer", type=click.Choice(OBSERVER_NAMES), default="minmax", show_default=True,
              help="activation range observer.")
@click.option("--num-calib", type=click.IntRange(min=1), default=1000, show_default=True,
              help="calibration samples (a seeded, class-balanced subset).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--per-tensor-fc", is_flag=True, help="per-tensor FULLY_CONNECTED weights (TFLite's default).")
@_pixel_options
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="the int8 .tflite to write.")
@click.option("--quiet", is_flag=True, help="no progress bar.")
def quantize(model: Path, calib: Path, method: str, observer: str, num_calib: int, seed: int,
             device: str | None, batch_size: int, per_tensor_fc: bool, pixel_scale: str | None,
             pixel_offset: str | None, output: Path, quiet: bool) -> None:
    """Quantize a float MODEL (.tflite or PyTorch .pt) to a full-int8 .tflite."""
    from edgekit.quant.api import quantize_file, require_torch

    require_torch("quantize")
    from edgekit.quant.ptq import PTQConfig

    cfg = PTQConfig(observer=observer, device=device, batch_size=batch_size, progress=not quiet,
                    per_channel_fc=not per_tensor_fc)
    result = quantize_file(model, calib, num_calib=num_calib, seed=seed, config=cfg,
                           pixel_scale=_floats(pixel_scale), pixel_offset=_floats(pixel_offset))
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(result.tflite)
    os.replace(tmp, output)
    cal = result.calibration
    pre = result.preprocess
    click.echo(f"wrote {output} ({len(result.tflite)} bytes): {method}, observer {observer}, "
               f"{cal.samples} calibration samples in {cal.seconds:.2f} s on {cal.device}; "
               f"input int8 scale {pre.input_scale:g} zero point {pre.input_zero_point}")


@click.command("eval")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path), help="labelled data.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="a seeded class-balanced subset.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="float models: cpu or cuda.")
@_pixel_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object.")
def eval_cmd(model: Path, data: Path, limit: int | None, seed: int, device: str | None,
             pixel_scale: str | None, pixel_offset: str | None, as_json: bool) -> None:
    """Top-1 (and per-class) accuracy of a float or int8 MODEL on the host.

    Int8 models run the generated C (host mode); float models run in the float executor.
    """
    from edgekit.quant.api import evaluate

    res = evaluate(model, data, limit=limit, seed=seed, device=device, pixel_scale=_floats(pixel_scale),
                   pixel_offset=_floats(pixel_offset))
    if as_json:
        click.echo(json.dumps({"model": str(model), "data": str(data), **res.to_dict()}))
        return
    click.echo(f"{model}: top-1 {res.top1:.2f} % ({res.correct}/{res.samples}) — {res.runtime}, "
               f"{res.seconds:.1f} s")
    for name, acc in res.per_class.items():
        click.echo(f"  {name:>12}: {acc:6.2f} %")


eval = eval_cmd  # noqa: A001 - the command registry looks the command up by its CLI name
