"""edgekit: put neural networks on microcontrollers and prove they work there."""

from edgekit.errors import EdgekitError

__all__ = ["EdgekitError", "__version__"]
__version__ = "0.1.0"
