"""Exact integer reference for the packed sub-byte activation kernels (``firmware/runtime/ek_lowbit.h``).

Activations are asymmetric unsigned ``b``-bit values (``real = scale·(q − zp)``, ``q`` in
``[0, 2^b − 1]``, ``b`` = 4 or 2); weights int8 per output channel, bias int32, output int8 with
TFLM's double-rounding requantization. Everything is int64 numpy arithmetic with the C's int32
wrapping where the C wraps, so the C kernels must match these functions bit for bit.

Packed layout (pixel-major, each pixel ``ceil(C/T)`` little-endian 32-bit words, ``T = 32/b`` taps
per word, taps past ``C`` are 0): field ``n`` of a word holds tap ``U4_TAPS[n]`` (u4) or
``U2_TAPS[n]`` (u2) of the word's ``T`` taps, so that one AND with a shifted operand yields the
16-bit SIMD lanes (tap ``t``, tap ``t + 2``) in the int8 weights' SXTB16 order.
"""

from __future__ import annotations

import numpy as np

from edgekit.ops._fast import pack_gemm_weights
from edgekit.ops._int import requant, wrap32

U4_TAPS = (0, 1, 4, 5, 2, 3, 6, 7)
U2_TAPS = (0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15)


def _taps(bits: int) -> tuple[int, ...]:
    if bits == 4:
        return U4_TAPS
    if bits == 2:
        return U2_TAPS
    raise ValueError(f"bits must be 4 or 2, not {bits}")


def lowbit_words(channels: int, bits: int) -> int:
    """32-bit words per pixel of a packed map (``ek_lowbit_words``)."""
    per = 32 // bits
    return (channels + per - 1) // per


def requant_to_bits(q8: np.ndarray, input_offset: int, output_offset: int, mult: int, shift: int,
                    bits: int) -> np.ndarray:
    """``clamp(output_offset + MultiplyByQuantizedMultiplier(q8 + input_offset, mult, shift), 0, 2^b − 1)``
    (``ek_pack_u4`` / ``ek_pack_u2`` before packing), as uint8."""
    x = np.asarray(q8, dtype=np.int64) + int(input_offset)
    v = requant(x.reshape(-1, 1), np.array([mult]), np.array([shift])).reshape(x.shape) + int(output_offset)
    return np.clip(v, 0, (1 << bits) - 1).astype(np.uint8)


def pack_bits(q: np.ndarray, bits: int) -> np.ndarray:
    """[pixels, C] values in ``[0, 2^b − 1]`` → the packed bytes, [pixels, 4·words] uint8."""
    q = np.asarray(q, dtype=np.int64)
    if q.ndim != 2:
        raise ValueError("q must be [pixels, channels]")
    if q.size and (q.min() < 0 or q.max() >= 1 << bits):
        raise ValueError(f"values out of the {bits}-bit range")
    pixels, c = q.shape
    per = 32 // bits
    words = lowbit_words(c, bits)
    padded = np.zeros((pixels, words * per), dtype=np.int64)
    padded[:, :c] = q
    grid = padded.reshape(pixels, words, per)
    out = np.zeros((pixels, words), dtype=np.int64)
    for n, tap in enumerate(_taps(bits)):
        out |= grid[:, :, tap] << (bits * n)
    return out.astype("<u4").view(np.uint8).reshape(pixels, 4 * words)


def unpack_bits(packed: np.ndarray, channels: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: [pixels, 4·words] uint8 → [pixels, channels] uint8."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    pixels = packed.shape[0]
    per = 32 // bits
    words = lowbit_words(channels, bits)
    w = packed.reshape(pixels, 4 * words).view("<u4").astype(np.int64)
    grid = np.zeros((pixels, words, per), dtype=np.int64)
    for n, tap in enumerate(_taps(bits)):
        grid[:, :, tap] = (w >> (bits * n)) & ((1 << bits) - 1)
    return grid.reshape(pixels, words * per)[:, :channels].astype(np.uint8)


def pack_lowbit(q8: np.ndarray, input_offset: int, output_offset: int, mult: int, shift: int,
                bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference of ``ek_pack_u{bits}``: (requantized values [pixels, C], packed bytes)."""
    q = requant_to_bits(q8, input_offset, output_offset, mult, shift, bits)
    return q, pack_bits(q, bits)


def fold_bias(bias: np.ndarray, w: np.ndarray, zp_in: int) -> np.ndarray:
    """``bias[c] − zp_in·Σ_k w[c][k]`` wrapped to int32: the kernels' ``bias`` field."""
    w64 = np.asarray(w, dtype=np.int64)
    return wrap32(np.asarray(bias, dtype=np.int64) - int(zp_in) * w64.sum(axis=1)).astype(np.int32)


def conv1x1_params(w: np.ndarray, bias: np.ndarray, zp_in: int) -> dict[str, np.ndarray | int]:
    """Fields of ``ek_conv1x1_lowbit_params_t`` for int8 weights [out_c, in_c]: the GEMM-packed
    weight words, k4 and the folded bias."""
    packed, k4 = pack_gemm_weights(np.asarray(w, dtype=np.int8))
    return {"weights": packed, "k4": k4, "bias": fold_bias(bias, w, zp_in)}


def conv1x1_lowbit(q: np.ndarray, zp_in: int, w: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                   shift: np.ndarray, output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """The reference of ``ek_conv1x1_u4`` / ``ek_conv1x1_u2`` (and their variants): unsigned
    activations `q` [pixels, in_c] with zero point `zp_in`, int8 weights `w` [out_c, in_c], int32
    `bias`, TFLM per-channel `mult`/`shift` → int8 [pixels, out_c]."""
    q64 = np.asarray(q, dtype=np.int64)
    w64 = np.asarray(w, dtype=np.int64)
    acc = wrap32((q64 - int(zp_in)) @ w64.T + np.asarray(bias, dtype=np.int64)[None, :])
    v = requant(acc, np.asarray(mult), np.asarray(shift)) + int(output_offset)
    return np.clip(v, act_min, act_max).astype(np.int8)
