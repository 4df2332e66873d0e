"""``edgekit zoo list`` and ``edgekit zoo export NAME -o FILE.pt``: the CIFAR-10 model zoo."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from edgekit.errors import DataError
from edgekit.outputs import check_output_file, user_umask


@click.group("zoo")
def zoo() -> None:
    """The CIFAR-10 model zoo: float PyTorch models with trained weights (needs torch)."""


@zoo.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the models as JSON.")
def zoo_list(as_json: bool) -> None:
    """The zoo's models: input size, parameters, description."""
    from edgekit.frontends.loader import require_torch

    require_torch("use the model zoo")
    from edgekit.zoo import ZOO

    rows = [{"name": e.name, "input": [3, *e.input_size], "params": e.params, "weights": e.weights.exists(),
             "description": e.description} for e in ZOO.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{'model':<16}{'input':<11}{'params':>9}  description")
    for r in rows:
        size = "x".join(str(d) for d in r["input"][1:])
        missing = "" if r["weights"] else "  (no trained weights)"
        click.echo(f"{r['name']:<16}{size:<11}{r['params']:>9,}  {r['description']}{missing}")


@zoo.command("export")
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the .pt file to write (the PyTorch front end's checkpoint form).")
@click.option("--force", is_flag=True, help="replace OUTPUT if it exists.")
def zoo_export(name: str, output: Path, force: bool) -> None:
    """Write zoo model NAME as a .pt file every edgekit command reads, with its preprocessing."""
    from edgekit.frontends.loader import TORCH_SUFFIXES, require_torch

    require_torch("use the model zoo")
    from edgekit.zoo import get_entry, save_for_frontend

    entry = get_entry(name)
    if output.suffix.lower() not in TORCH_SUFFIXES:
        raise DataError(f"{output}: give a {' or '.join(TORCH_SUFFIXES)} file name (the PyTorch front end reads those)")
    check_output_file(output, what="-o")
    if output.exists() and not force:
        raise DataError(f"{output} exists; give another -o or --force to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_for_frontend(name, Path(tmp))
        os.chmod(tmp, 0o666 & ~user_umask())
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    pre = entry.preprocess(channels_first=False)
    click.echo(f"wrote {output} ({output.stat().st_size:,} bytes): {name}, input 1x{entry.input_size[0]}x"
               f"{entry.input_size[1]}x3, preprocessing real = pixel*{_fmt(pre.scale)} + {_fmt(pre.offset)}")


def _fmt(v: object) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"
    return f"{v:.4g}"
