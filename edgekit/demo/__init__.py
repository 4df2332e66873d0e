"""Demo models that need no downloads (e.g. :mod:`edgekit.demo.digits`)."""
