"""``edgekit analyze``, ``generate`` and ``run``: the compiler commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np

from edgekit import pipeline
from edgekit.analyze import analyze_graph, format_analysis
from edgekit.cli.options import board_option, model_argument, patch_option, precision_option
from edgekit.emit import default_name
from edgekit.errors import DataError, EdgekitError
from edgekit.outputs import check_output_file, write_file
from edgekit.patch import PatchPlan


@click.command()
@model_argument()
@board_option(required=False, help_text="board to check the fit against (see `edgekit boards`).")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of the table.")
@precision_option()
@patch_option()
def analyze(model: Path, board_name: str | None, as_json: bool, precision: str = "int8",
            patch_mode: str = "off") -> None:
    """Params, MACs, weight and arena bytes and a per-layer table of MODEL.

    With --patch: the patch plan (split, grid, per-patch tile bytes, arena with and without
    patches, recomputed MACs) and the table of the patch-based model."""
    from edgekit.targets import get_board

    graph = pipeline.load(model)
    if precision == "float32":
        from edgekit.lower import check_float_model

        check_float_model(graph)
    board = get_board(board_name) if board_name else None
    plan_text = ""
    payload_patch = None
    if patch_mode != "off":
        if not graph.is_quantized:
            raise EdgekitError("--patch runs quantized int8 models: quantize the model first, or drop --patch")
        budget = pipeline.patch_budget(graph, board, False) if board is not None else None
        layer_arena = pipeline.plan(pipeline.lower(graph)).arena_bytes
        patched, found = pipeline.patch(graph, patch_mode, budget=budget)
        if found is None and budget is not None and layer_arena <= budget:
            plan_text = (f"patches: not needed, layer by layer fits {board.name} (arena {layer_arena:,} B of the "
                         f"{budget:,} B it leaves); the model runs layer by layer")
        elif found is None:
            plan_text = (f"patches: none beats layer by layer (arena {layer_arena:,} B); the model runs layer by "
                         "layer")
        else:
            graph = patched
            payload_patch = {**found.to_json(), "arena_layer_by_layer": layer_arena}
            plan_text = format_patch_plan(found, layer_arena)
    result, _plan = analyze_graph(graph, precision, input_in_place=payload_patch is not None)
    payload = result.to_json()
    if payload_patch is not None:
        payload["patch"] = payload_patch
    fit_text = ""
    if board is not None:
        from edgekit.fit import estimate_fit

        io_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs + graph.outputs)
        fit = estimate_fit(board, weights_bytes=result.weights_bytes, arena_bytes=result.arena_bytes,
                           io_bytes=io_bytes, num_layers=len(result.layers))
        payload["board"] = fit.to_json()
        fit_text = fit.format()
        if not fit.fits and patch_mode == "off":
            proposal = pipeline.patch_proposal(graph, board, False)
            if proposal:
                fit_text += f"\n{proposal}"
                payload["board"]["patch_proposal"] = proposal
    if as_json:
        click.echo(json.dumps(payload, indent=1))
    else:
        click.echo(format_analysis(result))
        if plan_text:
            click.echo("")
            click.echo(plan_text)
        if fit_text:
            click.echo("")
            click.echo(fit_text)


def format_patch_plan(found: PatchPlan, layer_arena: int) -> str:
    """The patch plan as ``analyze`` prints it."""
    h, w = found.split_shape[1:3]
    lines = [f"patch plan {found.spec}: {found.spec.grid}x{found.spec.grid} patches over the {h}x{w}x"
             f"{found.split_shape[3]} output of node {found.spec.split} ({found.stage_nodes} nodes per patch; the "
             "input is read in place)",
             f"  arena        {layer_arena:>10,} B layer by layer → {found.arena_bytes:,} B with patches "
             f"({found.arena_bytes / max(layer_arena, 1):.2f}×)",
             f"  MACs         {found.macs_layer_by_layer:>10,} → {found.macs_patched:,} "
             f"(+{found.recompute_macs:,} recomputed, +{found.recompute_macs / max(found.macs_layer_by_layer, 1):.1%}"
             f"; patch stage {found.stage_macs_layer_by_layer:,} → {found.stage_macs_patched:,})",
             f"  per patch    {'':>10} tiles of {min(found.tile_bytes):,}–{max(found.tile_bytes):,} B (the stage's "
             "outputs of one patch)"]
    if found.inplace_nodes:
        marked = ", ".join(f"#{i}" for i in found.inplace_nodes)
        lines.append(f"  in place     {'':>10} depthwise nodes {marked} write over their input (one channel plane "
                     "of scratch each)")
    return "\n".join(lines)


@click.command()
@model_argument()
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="folder to write the C library into.")
@click.option("--name", default=None, help="C symbol prefix (default: the model file name).")
@click.option("--force", is_flag=True,
              help="write into a non-empty folder edgekit did not create (its files are never replaced).")
@precision_option()
@patch_option()
def generate(model: Path, out_dir: Path, name: str | None, force: bool, precision: str = "int8",
             patch_mode: str = "off") -> None:
    """Generate a self-contained C99 inference library for MODEL.

    OUT is a new or empty folder, or one edgekit generated into before (several models can share
    it); edgekit never replaces or deletes a file it did not write."""
    lib = pipeline.generate(model, out_dir, name or default_name(model), force=force, precision=precision,
                            patch_mode=patch_mode)
    click.echo(f"wrote {lib.dir} (ek_{lib.name}_run): arena {lib.info.arena_bytes:,} B, "
               f"weights {lib.info.weights_bytes:,} B, {len(lib.info.layer_names)} layers")


@click.command()
@model_argument()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help=".npy batch (first axis = batch) in the model's input dtype.")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help=".npy file to write the outputs to.")
@precision_option()
@patch_option()
def run(model: Path, input_path: Path, output_path: Path, precision: str = "int8", patch_mode: str = "off") -> None:
    """Run MODEL on the host (the generated C) on a batch of inputs."""
    check_output_file(output_path, [model, input_path], "--output")
    batch = _load_npy(input_path)
    host = pipeline.compile_model(model, name=default_name(model), precision=precision, patch_mode=patch_mode)
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
