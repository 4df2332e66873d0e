"""``edgekit quantize`` and ``edgekit eval``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit import pipeline
from edgekit.cli.options import (
    calib_options,
    data_option,
    json_flag,
    limit_option,
    model_argument,
    patch_option,
    pixel_options,
    pixels,
    precision_option,
    seed_option,
)
from edgekit.data.preprocess import describe
from edgekit.metadata import preprocess_recorded
from edgekit.outputs import check_output_file, write_file

OBSERVER_NAMES = ("minmax", "percentile", "mse", "entropy", "omse")  # edgekit.quant.observers (needs torch)
SEARCH_METHODS = ("qhyvit", "easyquant", "repqvit", "ptq4vit", "fqvit")  # edgekit.pipeline.SEARCH_METHODS


@click.command("quantize")
@model_argument()
@calib_options(required=True, help_text="calibration data (npz, CIFAR JPEG npz, image folder).")
@click.option("--method", type=click.Choice(["ptq", "ivit", *SEARCH_METHODS]), default="ptq", show_default=True,
              help="ptq: full int8 (TFLite builtins); ivit: integer-only transformer (I-ViT: Shiftmax, "
                   "ShiftGELU, I-LayerNorm, int16 residual stream; edgekit custom ops); qhyvit, easyquant, repqvit, "
                   "ptq4vit, fqvit: searched quantizers on the same integer-only graph (Q-HyViT: Hessian-guided "
                   "scale/granularity/scheme search with bridge-block reconstruction).")
@click.option("--bits", type=click.Choice(["W8A8", "W6A6", "W4A8", "W4A4"], case_sensitive=False), default="W8A8",
              show_default=True, help="weight and activation bit widths (deployable: W8A8, W4A8 with packed int4 "
                                      "weights; W6A6/W4A4 are measured in simulation: bench/qhyvit.py).")
@click.option("--search-images", type=click.IntRange(min=1), default=32, show_default=True,
              help="calibration images the searched methods score candidates on (ranges use all --num-calib).")
@click.option("--observer", type=click.Choice(OBSERVER_NAMES), default="minmax", show_default=True,
              help="activation range observer (omse: also L2-optimal weight scales per channel).")
@seed_option()
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--per-tensor-fc", is_flag=True, help="per-tensor FULLY_CONNECTED weights (TFLite's default).")
@pixel_options()
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="the int8 .tflite to write.")
@click.option("--quiet", is_flag=True, help="no progress bar.")
def quantize(model: Path, calib: Path, num_calib: int, method: str, bits: str, search_images: int, observer: str,
             seed: int,
             device: str | None, batch_size: int, per_tensor_fc: bool, pixel_scale: str | None,
             pixel_offset: str | None, output: Path, quiet: bool) -> None:
    """Quantize a float MODEL (.tflite, PyTorch .pt or Keras .h5) to a full-int8 .tflite."""
    from edgekit.frontends.loader import require_torch

    check_output_file(output, [model, calib], "-o")  # before the work
    require_torch("quantize")
    from edgekit.quant.ptq import PTQConfig

    cfg = PTQConfig(observer=observer, device=device, batch_size=batch_size, progress=not quiet,
                    per_channel_fc=not per_tensor_fc)
    result = pipeline.quantize(model, calib, num_calib=num_calib, seed=seed, config=cfg, method=method,
                               bits=bits.upper(), search_images=search_images, **pixels(pixel_scale, pixel_offset))
    write_file(output, result.tflite, [model, calib], "-o")
    cal = result.calibration
    pre = result.preprocess
    how = f"observer {observer}" if method in ("ptq", "ivit") else bits.upper()
    click.echo(f"wrote {output} ({len(result.tflite)} bytes): {method}, {how}, "
               f"{cal.samples} calibration samples in {cal.seconds:.2f} s on {cal.device}; "
               f"input int8 scale {pre.input_scale:g} zero point {pre.input_zero_point}")
    given = pixel_scale is not None or pixel_offset is not None
    text = describe(pre, recorded=preprocess_recorded(result.prepared))
    if given:
        text = text.rsplit(", ", 1)[0] + ", from --pixel-scale/--pixel-offset"
    click.echo(f"preprocessing: {text}")


@click.command("eval")
@model_argument()
@data_option(required=True, help_text="labelled data.")
@limit_option()
@seed_option()
@click.option("--device", default=None, help="float models: cpu or cuda.")
@pixel_options()
@json_flag()
@precision_option()
@patch_option()
def eval_cmd(model: Path, data: Path, limit: int | None, seed: int, device: str | None,
             pixel_scale: str | None, pixel_offset: str | None, as_json: bool, precision: str = "int8",
             patch_mode: str = "off") -> None:
    """Top-1 (and per-class) accuracy of a float or int8 MODEL on the host.

    Int8 models run the generated C (host mode); float models run in the float executor, or with
    --precision float32 their float32 generated C (host mode).
    """
    res = pipeline.evaluate(model, data, limit=limit, seed=seed, device=device, precision=precision,
                            patch_mode=patch_mode, **pixels(pixel_scale, pixel_offset))
    if as_json:
        click.echo(json.dumps({"model": str(model), "data": str(data), **res.to_dict()}))
        return
    click.echo(f"{model}: top-1 {res.top1:.2f} % ({res.correct}/{res.samples}) — {res.runtime}, "
               f"{res.seconds:.1f} s")
    click.echo(f"preprocessing: {res.preprocess}")
    for name, acc in res.per_class.items():
        click.echo(f"  {name:>12}: {acc:6.2f} %")
    for w in res.warnings:
        click.echo(f"warning: {w}")
