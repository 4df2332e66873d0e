"""``edgekit analyze``, ``generate`` and ``run``: the compiler commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np

from edgekit import pipeline
from edgekit.analyze import analyze_graph, format_analysis
from edgekit.cli.options import board_option, model_argument, precision_option
from edgekit.emit import default_name
from edgekit.errors import DataError
from edgekit.outputs import check_output_file, write_file


@click.command()
@model_argument()
@board_option(required=False, help_text="board to check the fit against (see `edgekit boards`).")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of the table.")
@precision_option()
def analyze(model: Path, board_name: str | None, as_json: bool, precision: str = "int8") -> None:
    """Params, MACs, weight and arena bytes and a per-layer table of MODEL."""
    graph = pipeline.load(model)
    if precision == "float32":
        from edgekit.lower import check_float_model

        check_float_model(graph)
    result, _plan = analyze_graph(graph, precision)
    payload = result.to_json()
    fit_text = ""
    if board_name:
        from edgekit.fit import estimate_fit

        io_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs + graph.outputs)
        fit = estimate_fit(board_name, weights_bytes=result.weights_bytes, arena_bytes=result.arena_bytes,
                           io_bytes=io_bytes, num_layers=len(result.layers))
        payload["board"] = fit.to_json()
        fit_text = fit.format()
    if as_json:
        click.echo(json.dumps(payload, indent=1))
    else:
        click.echo(format_analysis(result))
        if fit_text:
            click.echo("")
            click.echo(fit_text)


@click.command()
@model_argument()
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="folder to write the C library into.")
@click.option("--name", default=None, help="C symbol prefix (default: the model file name).")
@click.option("--force", is_flag=True,
              help="write into a non-empty folder edgekit did not create (its files are never replaced).")
@precision_option()
def generate(model: Path, out_dir: Path, name: str | None, force: bool, precision: str = "int8") -> None:
    """Generate a self-contained C99 inference library for MODEL.

    OUT is a new or empty folder, or one edgekit generated into before (several models can share
    it); edgekit never replaces or deletes a file it did not write."""
    lib = pipeline.generate(model, out_dir, name or default_name(model), force=force, precision=precision)
    click.echo(f"wrote {lib.dir} (ek_{lib.name}_run): arena {lib.info.arena_bytes:,} B, "
               f"weights {lib.info.weights_bytes:,} B, {len(lib.info.layer_names)} layers")


@click.command()
@model_argument()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help=".npy batch (first axis = batch) in the model's input dtype.")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help=".npy file to write the outputs to.")
@precision_option()
def run(model: Path, input_path: Path, output_path: Path, precision: str = "int8") -> None:
    """Run MODEL on the host (the generated C) on a batch of inputs."""
    check_output_file(output_path, [model, input_path], "--output")
    batch = _load_npy(input_path)
    host = pipeline.compile_model(model, name=default_name(model), precision=precision)
    out = host.run(batch)
    buf = io.BytesIO()
    np.save(buf, out)
    write_file(output_path, buf.getvalue(), [model, input_path], "--output")
    click.echo(f"ran {out.shape[0]} samples; wrote {output_path} {list(out.shape)} {out.dtype}")


def _load_npy(path: Path) -> np.ndarray:
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    try:
        batch = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a .npy array file ({err or 'empty'}); save inputs with numpy.save") from None
    if not isinstance(batch, np.ndarray):
        raise DataError(f"{path} is an .npz archive; give one .npy array (first axis = batch)")
    if batch.ndim == 0 or batch.shape[0] == 0:
        raise DataError(f"{path} holds no samples (shape {list(batch.shape)}); the first axis is the batch")
    return batch
