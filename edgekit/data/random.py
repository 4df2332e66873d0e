"""Seeded random model inputs, for validation when no data is given."""

from __future__ import annotations

import numpy as np

from edgekit.errors import DataError


def random_inputs(shape: tuple[int, ...] | list[int], dtype: str, n: int, seed: int = 0) -> np.ndarray:
    """`n` random samples of per-sample `shape` (result n × shape), the same for the same seed.

    Integer dtypes are uniform over their whole range; float dtypes uniform in [-1, 1).
    """
    if n < 0:
        raise DataError(f"number of random inputs must be ≥ 0, got {n}")
    rng = np.random.default_rng(seed)
    full = (int(n), *(int(d) for d in shape))
    try:
        kind = np.dtype(dtype)
    except TypeError as exc:
        raise DataError(f"unknown input dtype {dtype!r}; use e.g. int8 or float32") from exc
    if kind.kind in "iu":
        info = np.iinfo(kind)
        return rng.integers(info.min, int(info.max) + 1, size=full, dtype=kind)
    if kind.kind == "f":
        return rng.uniform(-1.0, 1.0, size=full).astype(kind)
    raise DataError(f"cannot make random inputs of dtype {dtype!r}; use an integer or float dtype")
