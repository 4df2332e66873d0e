"""Range observers: min/max, percentile, MSE and entropy on known distributions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgekit.errors import DataError  # noqa: E402
from edgekit.quant.observers import _quant_mse, make_observer, qparams_for_range  # noqa: E402


def _observe(name: str, batches: list[np.ndarray]) -> tuple[float, float]:
    obs = make_observer(name)
    for b in batches:
        obs.update_range(torch.from_numpy(b))
    if obs.two_pass:
        for b in batches:
            obs.update_hist(torch.from_numpy(b))
    return obs.range()


def _heavy_tailed(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.laplace(size=200_000).astype(np.float32)  # rare large values: clipping pays off
    return list(data.reshape(4, -1))


def test_minmax_is_the_full_range() -> None:
    batches = _heavy_tailed()
    lo, hi = _observe("minmax", batches)
    assert lo == pytest.approx(min(b.min() for b in batches)) and hi == pytest.approx(max(b.max() for b in batches))


@pytest.mark.parametrize("name", ["percentile", "mse", "entropy"])
def test_histogram_observers_clip_the_tails(name: str) -> None:
    batches = _heavy_tailed()
    full_lo, full_hi = _observe("minmax", batches)
    lo, hi = _observe(name, batches)
    assert 2.0 < hi < 0.9 * full_hi, (name, hi, full_hi)
    assert 0.9 * full_lo < lo < -2.0, (name, lo, full_lo)


def test_mse_range_has_lower_error_than_minmax() -> None:
    batches = _heavy_tailed()
    data = np.concatenate(batches).astype(np.float64)
    counts, edges = np.histogram(data, bins=4096)
    centers = (edges[:-1] + edges[1:]) / 2
    mse_range = _observe("mse", batches)
    assert _quant_mse(centers, counts, *mse_range) < 0.8 * _quant_mse(centers, counts, data.min(), data.max())


def test_non_negative_data_keeps_zero_as_the_low_end() -> None:
    rng = np.random.default_rng(1)
    batches = [np.maximum(rng.standard_normal(50_000), 0).astype(np.float32) for _ in range(2)]
    for name in ("minmax", "percentile", "mse", "entropy"):
        lo, hi = _observe(name, batches)
        assert lo == 0.0 and hi > 1.0, name
        assert qparams_for_range(lo, hi)[1] == -128


def test_results_do_not_depend_on_batching() -> None:
    data = np.concatenate(_heavy_tailed(3))
    for name in ("percentile", "mse", "entropy"):
        assert _observe(name, [data]) == _observe(name, list(data.reshape(8, -1))), name


def test_qparams_contain_zero_and_are_float32() -> None:
    scale, zp = qparams_for_range(0.5, 2.0)
    assert zp == -128 and scale == pytest.approx(2.0 / 255, rel=1e-6)
    assert float(np.float32(scale)) == scale
    scale, zp = qparams_for_range(-1.0, 1.0)
    assert -1 <= zp <= 0


def test_unknown_observer_is_a_data_error() -> None:
    with pytest.raises(DataError, match="minmax"):
        make_observer("median")
