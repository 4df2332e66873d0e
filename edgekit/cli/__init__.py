"""The `edgekit` command line: one click group; the commands live in this package, one file per
command group (compile, quantize, device, export, zoo), and call the pipeline
(:mod:`edgekit.pipeline`). Every :class:`EdgekitError` becomes a one-line message and a
non-zero exit."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import click

from edgekit.cli import compile as compile_cmds
from edgekit.cli import device as device_cmds
from edgekit.cli import export as export_cmds
from edgekit.cli import quantize as quantize_cmds
from edgekit.cli import zoo as zoo_cmds
from edgekit.errors import EdgekitError


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so child processes (QEMU, builds) are stopped and
    temporary folders removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _terminate)
        try:
            return super().invoke(ctx)
        except EdgekitError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(err.exit_code)
        except Terminated as err:
            click.echo(f"error: stopped by {signal.Signals(err.signum).name}; nothing was left running", err=True)
            sys.exit(128 + err.signum)
        except KeyboardInterrupt:
            click.echo("error: interrupted; nothing was left running", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # output piped into a reader that stopped (`| head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second failure when Python flushes stdout at exit
            sys.exit(141)
        except Exception as err:  # noqa: BLE001 - a bug: one line for the user, the traceback on request
            if os.environ.get("EDGEKIT_DEBUG"):
                traceback.print_exc()
            where = traceback.extract_tb(err.__traceback__)[-1]
            click.echo(f"error: internal error {type(err).__name__}: {err} (at {Path(where.filename).name}:"
                       f"{where.lineno}); please report it — EDGEKIT_DEBUG=1 shows the traceback", err=True)
            sys.exit(3)


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
