"""Kernel selection and generation-time packing for the optimised (SIMD) int8 kernels.

The optimised kernels (``firmware/runtime/ek_conv_dsp.c``, ``ek_dwconv_dsp.c``) use the
Cortex-M DSP instructions through ACLE when the compiler targets a core with the DSP extension
and bit-identical portable C elsewhere, so they are valid on every target. The portable
reference kernels stay the fallback for shapes the fast kernels do not cover and can be forced
with ``EDGEKIT_KERNELS=portable`` (or :func:`kernel_set`) to test them.

Generation-time work done here:

* weights packed for the 2-channel register-blocked GEMM (see ``ek_convf_params_t``);
* the input zero point folded into the bias, ``bias + input_offset·Σw`` wrapped to int32 (the
  kernels sum in wrapping int32, so the result is the same as TFLM's for every input);
* a proof that ``|acc| < 2^30`` for every input (bias and Σ|w|·max|x|), which lets the kernels
  requantize with one SMMULR instead of a 64-bit multiply (same result).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from edgekit.ops.params import Requant, RequantMode

_FORCED: list[str] = []


def kernels() -> str:
    """'fast' (default) or 'portable'."""
    if _FORCED:
        return _FORCED[-1]
    return "portable" if os.environ.get("EDGEKIT_KERNELS", "").lower() == "portable" else "fast"


@contextlib.contextmanager
def kernel_set(name: str) -> Iterator[None]:
    if name not in ("fast", "portable"):
        raise ValueError(name)
    _FORCED.append(name)
    try:
        yield
    finally:
        _FORCED.pop()


def wrap32(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64) & 0xFFFFFFFF
    return np.where(a >= 2**31, a - 2**32, a).astype(np.int32)


def words(b: np.ndarray) -> np.ndarray:
    """int8 bytes (length multiple of 4) → little-endian int32 words."""
    b = np.ascontiguousarray(b.astype(np.int8).reshape(-1))
    return b.view("<i4").astype(np.int32)


def pack_gemm_weights(w2: np.ndarray) -> tuple[np.ndarray, int]:
    """[out_c, K] int8 → packed int32 words for ek_conv2d_s8_gemm and k4."""
    out_c, k = w2.shape
    k4 = (k + 3) // 4 * 4
    wp = np.zeros((out_c, k4), dtype=np.int8)
    wp[:, :k] = w2
    g = wp.reshape(out_c, k4 // 4, 4)
    parts = []
    pairs = out_c // 2
    if pairs:
        pr = g[: 2 * pairs].reshape(pairs, 2, k4 // 4, 4).transpose(0, 2, 1, 3)  # pair, group, ch, 4
        parts.append(pr.reshape(-1))
    if out_c % 2:
        parts.append(g[-1].reshape(-1))
    return words(np.concatenate(parts)), k4


def small_requant(acc_bound: np.ndarray, shift: np.ndarray) -> bool:
    """True when the SMMULR requantization applies to every channel."""
    return bool(np.all(acc_bound < 2**30) and np.all(np.asarray(shift) <= -1))


def rq_triples(mult: np.ndarray, rshift: np.ndarray, output_offset: int) -> np.ndarray | None:
    """Per channel {m, r, 2^(r-1) + output_offset·2^r} for the kernels' folded requantization, when
    requant_small holds (rshift = r >= 1) and |x + d| stays below 2^31 (|x| < 2^30, so r <= 21)."""
    r = np.asarray(rshift, dtype=np.int64)
    if r.size == 0 or np.any(r < 1) or np.any(r > 21) or abs(int(output_offset)) > 255:
        return None
    d = (np.int64(1) << (r - 1)) + np.int64(output_offset) * (np.int64(1) << r)
    t = np.stack([np.asarray(mult, dtype=np.int64), r, d], axis=1).reshape(-1)
    return t.astype(np.int32)


def fast_requant(rq: Requant, mult: np.ndarray, shift: np.ndarray, small: bool,
                 uniform_ok: bool) -> tuple[Requant, RequantMode, np.ndarray]:
    """The optimised kernels' requantization: (rq fields, mode, triples) for TFLM's per-channel
    `rq` with the kernel's `mult`/`shift` (the right shift r when `small`). When the triples of
    :func:`rq_triples` apply they replace mult/shift (emitted empty); with `uniform_ok` one triple
    serves every channel when they are all equal."""
    keep = Requant(output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max, mult=mult, shift=shift)
    t = rq_triples(mult, shift, rq.output_offset) if small else None
    if t is None:
        return keep, RequantMode.GENERIC, np.zeros(0, dtype=np.int32)
    full = rq.act_min == -128 and rq.act_max == 127
    t = t.reshape(-1, 3)
    empty = np.zeros(0, dtype=np.int32)
    without = Requant(output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max, mult=empty, shift=empty)
    if uniform_ok and bool(np.all(t == t[:1])):
        return without, RequantMode.UNIFORM_SSAT if full else RequantMode.UNIFORM_CLAMP, t[0].copy()
    return without, RequantMode.TRIPLES_SSAT if full else RequantMode.TRIPLES_CLAMP, t.reshape(-1).copy()


def gemm_params(w2: np.ndarray, bias: np.ndarray, input_offset: int, mult: np.ndarray,
                shift: np.ndarray) -> dict:
    """Packed weights, folded bias and requantization fields for ek_convf_params_t."""
    w64 = w2.astype(np.int64)
    folded = wrap32(bias.astype(np.int64) + int(input_offset) * w64.sum(axis=1))
    bound = np.abs(folded.astype(np.int64)) + 128 * np.abs(w64).sum(axis=1)
    packed, k4 = pack_gemm_weights(w2)
    shift = np.asarray(shift, dtype=np.int32)
    small = small_requant(bound, shift)
    return dict(
        k4=k4,
        pad_value=-int(input_offset),
        requant_small=int(small),
        weights=packed,
        bias=folded,
        out_mult=np.asarray(mult, dtype=np.int32),
        out_shift=(-shift).astype(np.int32) if small else shift,
    )


def gemm_scratch(k4: int, in_c: int, pixels: int) -> int:
    """Column buffer (two int16 columns, one when the layer has a single output pixel) + staging."""
    return (4 if pixels > 1 else 2) * k4 + (0 if in_c % 4 == 0 else k4)


def pack_dw_weights(w: np.ndarray) -> np.ndarray:
    """[k_h·k_w, C] int8 (C % 4 == 0) → per 4-channel group and tap, the int16 lane words
    (w[c], w[c+2]) and (w[c+1], w[c+3])."""
    taps, c = w.shape
    g = w.astype(np.int32).reshape(taps, c // 4, 4).transpose(1, 0, 2)  # group, tap, 4
    lo = (g[..., [0, 1]] & 0xFFFF) | (g[..., [2, 3]] << 16)  # (c, c+2), (c+1, c+3)
    return wrap32(lo.reshape(-1))


# ---- int4 weights (ek_int4.h) -------------------------------------------------------------------

def is_int4(dtype: str) -> bool:
    """A filter stored as packed int4 (the IR's "int4": one int8 value in [-8, 7] per element)."""
    return dtype == "int4"


def pack_int4(values: np.ndarray) -> np.ndarray:
    """int values in [-8, 7] → packed bytes as int8, TFLite's order: two per byte, the first in the
    low nibble; an odd count ends with a 0 high nibble (ceil(n/2) bytes)."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 values must lie in [-8, 7]")
    nib = (v & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    return (nib[0::2] | (nib[1::2] << 4)).view(np.int8)


def int4_words(values: np.ndarray) -> np.ndarray:
    """:func:`pack_int4` padded with 0 bytes to a multiple of 4, as little-endian int32 words (for the
    optimised kernels, whose `weights` are int32 words)."""
    b = pack_int4(values)
    b = np.concatenate([b, np.zeros(-b.size % 4, np.int8)])
    return b.view("<i4").astype(np.int32)


def int32_bytes(w: np.ndarray) -> np.ndarray:
    """int32 words → their little-endian int8 bytes (the inverse of :func:`words`)."""
    return np.ascontiguousarray(np.asarray(w, dtype="<i4")).view(np.int8).copy()


def gemm_int4_weights(packed_words: np.ndarray) -> np.ndarray:
    """ek_conv2d_s8_gemm's packed weight words → ek_conv2d_s4_gemm's: the same byte stream, nibble
    packed (k4/2 bytes per channel; a channel pair starts on a word), padded to whole words."""
    return int4_words(int32_bytes(packed_words))


def dw_int4_weights(w: np.ndarray) -> np.ndarray:
    """[k_h·k_w, C] (C % 4 == 0) → ek_dwconv2d_s4_fast's words: per 4-channel group and tap,
    w[c..c+3] in 2 bytes, padded to whole words."""
    taps, c = w.shape
    g = np.asarray(w).reshape(taps, c // 4, 4).transpose(1, 0, 2)  # group, tap, 4
    return int4_words(g.reshape(-1))
