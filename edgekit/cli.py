"""The `edgekit` command line. Each command lives with the code it drives; this module only
wires them up and turns :class:`EdgekitError` into a one-line message and a non-zero exit."""

from __future__ import annotations

import sys

import click

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


def _register() -> None:
    from edgekit.commands import register_all

    register_all(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
