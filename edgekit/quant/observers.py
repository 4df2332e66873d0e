"""Range observers for activation calibration: min/max, percentile, MSE-optimal, entropy (KL).

An observer sees every calibration batch of one tensor and returns the real range
``(lo, hi)`` that int8 quantization of the tensor should cover. Min/max needs one pass; the
histogram observers (percentile, mse, entropy) need two: pass 1 finds the min/max, pass 2
fills a fixed-range histogram (``num_bins`` bins over [min, max]) from which the range is
chosen. All statistics are accumulated in float64 on the CPU, so results do not depend on
the device or on batch boundaries beyond float32 rounding of the activations themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from edgekit.errors import DataError

__all__ = ["Observer", "MinMaxObserver", "PercentileObserver", "MSEObserver", "EntropyObserver",
           "OBSERVERS", "make_observer", "qparams_for_range"]

QMIN, QMAX = -128, 127


def qparams_for_range(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering [lo, hi] ∪ {0}, TFLite style (float32 scale)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise DataError(f"activation range [{lo}, {hi}] is not finite; check the calibration data")
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = float(np.float32((hi - lo) / (QMAX - QMIN)))
    zp = int(np.clip(round(QMIN - lo / scale), QMIN, QMAX))
    return scale, zp


@dataclass
class Observer:
    """Base: tracks min/max (pass 1). Subclasses needing a histogram set ``two_pass``."""

    two_pass = False
    lo: float = math.inf
    hi: float = -math.inf

    def update_range(self, x: torch.Tensor) -> None:
        lo, hi = torch.aminmax(x.detach().reshape(-1))
        self.lo = min(self.lo, float(lo))
        self.hi = max(self.hi, float(hi))

    def update_hist(self, x: torch.Tensor) -> None:  # pass 2 (histogram observers)
        pass

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise DataError("an activation was never observed; give calibration data")
        return self.lo, self.hi


class MinMaxObserver(Observer):
    """The full observed range."""


@dataclass
class _HistObserver(Observer):
    num_bins: int = 2048
    hist: np.ndarray | None = None

    two_pass = True

    def update_hist(self, x: torch.Tensor) -> None:
        if self.hi <= self.lo:
            return
        h = torch.histc(x.detach().reshape(-1).float(), bins=self.num_bins, min=self.lo, max=self.hi)
        h64 = h.cpu().double().numpy()
        self.hist = h64 if self.hist is None else self.hist + h64

    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.num_bins + 1)

    def range(self) -> tuple[float, float]:
        lo, hi = super().range()
        if self.hist is None or hi <= lo or self.hist.sum() == 0:
            return lo, hi
        return self.choose()

    def choose(self) -> tuple[float, float]:
        raise NotImplementedError


@dataclass
class PercentileObserver(_HistObserver):
    """Clip to the `percentile` (and 100 − `percentile`) of the observed values."""

    percentile: float = 99.99

    def choose(self) -> tuple[float, float]:
        assert self.hist is not None
        cdf = np.cumsum(self.hist) / self.hist.sum()
        e = self.edges()
        p = self.percentile / 100.0
        hi_bin = int(np.searchsorted(cdf, p))
        lo_bin = int(np.searchsorted(cdf, 1.0 - p))
        hi = float(e[min(hi_bin + 1, self.num_bins)])
        lo = float(e[lo_bin])
        return (self.lo if self.lo >= 0 else lo), (self.hi if self.hi <= 0 else hi)


def _quant_mse(centers: np.ndarray, counts: np.ndarray, lo: float, hi: float) -> float:
    """Expected squared int8 quantization error of a histogram for the range [lo, hi]."""
    scale, zp = qparams_for_range(lo, hi)
    q = np.clip(np.round(centers / scale) + zp, QMIN, QMAX)
    deq = (q - zp) * scale
    inside = (q > QMIN) & (q < QMAX)
    err = (centers - deq) ** 2
    err = np.where(inside, scale * scale / 12.0, err)  # rounding noise of an in-range value
    return float((err * counts).sum())


@dataclass
class MSEObserver(_HistObserver):
    """The range (a shrunken min/max, searched on a grid) minimizing quantization MSE."""

    steps: int = 100

    def choose(self) -> tuple[float, float]:
        assert self.hist is not None
        e = self.edges()
        centers = (e[:-1] + e[1:]) / 2
        best = (_quant_mse(centers, self.hist, self.lo, self.hi), self.lo, self.hi)
        for k in range(1, self.steps):
            alpha = 1.0 - k / self.steps * 0.9
            # shrink each side that is not at zero; try both together and each alone
            for lo, hi in ((self.lo * alpha, self.hi * alpha), (self.lo, self.hi * alpha),
                           (self.lo * alpha, self.hi)):
                err = _quant_mse(centers, self.hist, lo, hi)
                if err < best[0] * (1 - 1e-12):
                    best = (err, lo, hi)
        return best[1], best[2]


@dataclass
class EntropyObserver(_HistObserver):
    """TensorRT-style KL-divergence threshold on the histogram of |x|."""

    def choose(self) -> tuple[float, float]:
        assert self.hist is not None
        amax = max(abs(self.lo), abs(self.hi))
        # histogram of |x| over [0, amax]: fold the signed histogram
        e = self.edges()
        centers = np.abs((e[:-1] + e[1:]) / 2)
        nb = self.num_bins
        absh, _ = np.histogram(centers, bins=nb, range=(0.0, amax), weights=self.hist)
        absh[0] = absh[1]  # the spike of exact zeros (ReLU) would otherwise dominate the divergence
        levels = 256 if self.lo >= 0 or self.hi <= 0 else 128
        best_t, best_kl = nb, math.inf
        start = max(levels, nb // 16)
        for i in range(start, nb + 1, max(1, nb // 256)):
            kl = _kl_for_threshold(absh, i, levels)
            if kl < best_kl:
                best_kl, best_t = kl, i
        t = best_t / nb * amax
        return max(self.lo, -t), min(self.hi, t)


def _kl_for_threshold(hist: np.ndarray, i: int, levels: int) -> float:
    p = hist[:i].copy()
    p[i - 1] += hist[i:].sum()  # outliers clipped into the last bin
    nonzero = p > 0
    # merge the i bins into `levels` quantized bins, spread back over the non-empty source bins
    idx = np.minimum((np.arange(i) * levels) // i, levels - 1)
    sums = np.bincount(idx, weights=hist[:i], minlength=levels)
    counts = np.bincount(idx, weights=nonzero.astype(np.float64), minlength=levels)
    q = np.where(nonzero, sums[idx] / np.maximum(counts[idx], 1), 0.0)
    ps, qs = p.sum(), q.sum()
    if ps <= 0 or qs <= 0:
        return math.inf
    p, q = p / ps, q / qs
    m = nonzero & (q > 0)
    if not np.all(q[nonzero] > 0):
        return math.inf
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MSEObserver,
    "entropy": EntropyObserver,
}


def make_observer(name: str, **kwargs: float) -> Observer:
    """An observer by name (minmax, percentile, mse, entropy); kwargs set its options."""
    cls = OBSERVERS.get(name)
    if cls is None:
        raise DataError(f"unknown observer {name!r}; use one of {', '.join(OBSERVERS)}")
    accepted = {k: v for k, v in kwargs.items() if k in cls.__dataclass_fields__}  # type: ignore[attr-defined]
    return cls(**accepted)
