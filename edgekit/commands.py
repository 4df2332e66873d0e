"""Registry of CLI commands: each feature module exposes click commands, added here."""

from __future__ import annotations

import importlib

import click

# module path -> names of click commands defined there
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "edgekit.core_cli": ("analyze", "generate", "run"),
    "edgekit.device.cli": ("deploy", "validate", "boards", "demo"),
    "edgekit.quant.cli": ("quantize", "eval"),
    "edgekit.export_cli": ("export",),
}


def register_all(group: click.Group) -> None:
    for module_name, names in _COMMAND_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        for name in names:
            cmd = getattr(module, name, None)
            if cmd is not None:
                group.add_command(cmd)
