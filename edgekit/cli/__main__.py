"""``python -m edgekit.cli``."""

from edgekit.cli import main

main()
