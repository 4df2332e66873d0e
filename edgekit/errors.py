"""The one error family of edgekit.

Every user-facing failure is an :class:`EdgekitError` (or a subclass) whose message tells the
user what went wrong and what to do. The CLI prints the message on one line and exits non-zero.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class of all edgekit errors a user can act on."""

    exit_code = 2


class ModelFormatError(EdgekitError):
    """The model file is missing, empty, truncated or not a model edgekit can read."""


class UnsupportedOpError(EdgekitError):
    """The model uses an op (or an op variant) edgekit cannot lower."""


class DoesNotFitError(EdgekitError):
    """The model needs more flash or SRAM than the board has."""


class BuildError(EdgekitError):
    """A compiler, linker or PlatformIO step failed."""


class DeviceError(EdgekitError):
    """The device (or emulator) did not answer, answered garbage, or reported an error."""


class DataError(EdgekitError):
    """An input/data file is missing, malformed or does not match the model."""
