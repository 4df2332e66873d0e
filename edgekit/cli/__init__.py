"""The `edgekit` command line: one click group; the commands live in this package, one file per
command group (compile, quantize, device, export, zoo), and call the pipeline
(:mod:`edgekit.pipeline`). Every :class:`EdgekitError` becomes a one-line message and a
non-zero exit."""

from __future__ import annotations

import sys

import click

from edgekit.cli import compile as compile_cmds
from edgekit.cli import device as device_cmds
from edgekit.cli import export as export_cmds
from edgekit.cli import quantize as quantize_cmds
from edgekit.cli import zoo as zoo_cmds
from edgekit.errors import EdgekitError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except EdgekitError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="edgekit")
def main() -> None:
    """edgekit: quantize → C → PlatformIO → flash → validate."""


for _cmd in (compile_cmds.analyze, compile_cmds.generate, compile_cmds.run, quantize_cmds.quantize,
             quantize_cmds.eval_cmd, export_cmds.export, device_cmds.deploy, device_cmds.validate,
             device_cmds.boards, device_cmds.demo, zoo_cmds.zoo):
    main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
