"""Shared integer arithmetic of edgekit's I-ViT ops (the shift exponential), as ``ek_ivit.c`` does it.

The shift exponential computes ``2^(t·m/2^15)·2^(15+S)`` for integer ``t <= 0``:
``xl = t·m`` (Q15; ``m = round(s_eff·log2(e)·2^15)`` folds the input scale — times softmax's beta
or GELU's 1.702 — and log2(e) into one dyadic constant), ``q = floor(-xl/2^15)`` (integer part,
applied as a right shift), ``r = xl + q·2^15`` (fraction in (-2^15, 0]), and ``2^(r/2^15)`` by the
second-order polynomial ``1 + A·f + B·f²`` (max relative error 0.27 %). Against I-ViT's
``int_exp_shift`` (x + (x>>1) − (x>>4), ``x0 = floor(−1/s)``, ``2^f ≈ 1 + f/2``): the scale and
log2(e) are exact to 2^-15 instead of rounded to an integer ``1/s``, the fraction is 20× more
accurate, and small values underflow to 0 instead of clipping at ``2^-n``. Everything else —
integer part by shifts, one integer division per row (softmax) or element (sigmoid) — is I-ViT's.
"""

from __future__ import annotations

import math

import numpy as np

EXP_FRAC = 15
EXP_A = 43903  # 0.6699 · 2^16
EXP_B = 11135  # 0.1699 · 2^16 (= A − 1/2: exact at f = 0 and f = −1)
INT32_MAX = 2**31 - 1
#: the largest exponent multiplier: |t| <= 510 keeps |t·m| < 2^30
MAX_EXP_MULTIPLIER = 1 << 21


def exp_multiplier(s_eff: float) -> int:
    """``round(s_eff·log2(e)·2^15)``: the Q15 exponent per integer step of the input."""
    m = int(round(float(s_eff) * math.log2(math.e) * (1 << EXP_FRAC)))
    if not 0 <= m < MAX_EXP_MULTIPLIER:
        raise ValueError(f"input scale {s_eff:g} too large for the shift exponential (needs < 44)")
    return m


def shift_exp(t: np.ndarray, m: int, headroom: int) -> np.ndarray:
    """``ek_shift_exp`` on an int64 array ``t <= 0``: the exponential with scale 2^-(15+headroom)."""
    t = np.asarray(t, dtype=np.int64)
    xl = t * np.int64(m)
    dead = xl <= -(31 << EXP_FRAC)
    xl = np.where(dead, 0, xl)
    q = (-xl) >> EXP_FRAC
    r = xl + (q << EXP_FRAC)
    e = (1 << EXP_FRAC) + ((r * EXP_A) >> 16) + ((((r * r) >> EXP_FRAC) * EXP_B) >> 16)
    return np.where(dead, 0, (e << headroom) >> q)


def sigmoid_q15(xc: np.ndarray, m: int) -> np.ndarray:
    """sigma(alpha·x) with scale 2^-15 for centred int8 inputs ``xc`` (``m`` for s_in·alpha)."""
    xc = np.asarray(xc, dtype=np.int64)
    e = shift_exp(-np.abs(xc), m, 0)
    factor = INT32_MAX // ((1 << EXP_FRAC) + e)
    s = (e * factor) >> 16
    return np.where(xc >= 0, (1 << EXP_FRAC) - s, s)


def dyadic(real: float) -> tuple[int, int]:
    """I-ViT's dyadic number for `real`: (m, shift) with m = round(real·2^shift), |m| < 2^31 and the
    largest shift in [1, 62] (31 significant bits); the sign is in m."""
    if real == 0.0:
        return 0, 1
    if abs(real) >= 2.0**30:
        raise ValueError(f"requantization factor {real:g} too large for a dyadic number")
    shift = min(62, 30 - math.floor(math.log2(abs(real))))
    m = int(round(real * 2.0**shift))
    while abs(m) >= 1 << 31:
        shift -= 1
        m = int(round(real * 2.0**shift))
    return m, shift


def common_shift_dyadic(reals: list[float]) -> tuple[list[int], int]:
    """Several dyadic multipliers with one shift (the largest that keeps every |m| < 2^31)."""
    shift = min(dyadic(r)[1] for r in reals if r != 0.0) if any(reals) else 1
    ms = [int(round(r * 2.0**shift)) for r in reals]
    while any(abs(m) >= 1 << 31 for m in ms):
        shift -= 1
        ms = [int(round(r * 2.0**shift)) for r in reals]
    return ms, shift


def apply_dyadic(prod: np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """``(prod + 2^(shift−1)) >> shift`` on int64 products (``ek_dyadic``)."""
    shift = np.asarray(shift, dtype=np.int64)
    return (np.asarray(prod, dtype=np.int64) + (np.int64(1) << (shift - 1))) >> shift
