"""``edgekit export``: a quantized model → a full-int8 TFLite flatbuffer for LiteRT (mobile)."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit import pipeline
from edgekit.cli.options import model_argument, pixel_options, pixels, seed_option


@click.command("export")
@model_argument()
@click.option("--format", "fmt", type=click.Choice(["tflite"]), default="tflite", show_default=True,
              help="output format: a full-int8 TFLite flatbuffer (LiteRT / TFLite runtimes).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the file to write.")
@click.option("--calib", type=click.Path(path_type=Path),
              help="MODEL is a float model: quantize it on the way with this calibration data.")
@click.option("--num-calib", type=click.IntRange(min=1), default=1000, show_default=True,
              help="calibration samples (with --calib).")
@seed_option()
@pixel_options("with --calib: float input preprocessing")
def export(model: Path, fmt: str, output: Path, calib: Path | None, num_calib: int, seed: int,
           pixel_scale: str | None, pixel_offset: str | None) -> None:
    """Write MODEL (a quantized edgekit model, or a float model with --calib) as a full-int8 TFLite
    flatbuffer that LiteRT runs (`ai_edge_litert.interpreter.Interpreter`)."""
    res = pipeline.export_model(model, output, calib=calib, num_calib=num_calib, seed=seed,
                                **pixels(pixel_scale, pixel_offset))
    ops = ", ".join(f"{n}×{c}" for n, c in sorted(res.ops.items()))
    click.echo(f"wrote {output} ({len(res.tflite):,} bytes, {fmt}): {sum(res.ops.values())} ops ({ops}), "
               f"{res.weights_bytes:,} B of constants; signature 'serving_default'")
