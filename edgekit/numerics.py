"""Exact Python versions of TFLite / TFLite Micro's shared integer quantization helpers.

The fixed-point primitives and the helpers several ops share (``kernels/internal/common.h``,
``quantization_util.cc``, ``kernel_util.cc``, ``padding.h``), reproduced bit for bit from the
arithmetic they specify. An op's own Prepare() recipe (ADD's multipliers, SOFTMAX's scaling, …)
lives in its op module in :mod:`edgekit.ops`; the C runtime (``firmware/runtime``) performs the
per-element arithmetic.

Rules that matter for bit-exactness:

* ``TfLiteRound`` / ``std::round`` rounds half **away from zero** (Python's ``round`` is
  half-to-even): :func:`round_half_away`.
* float32 arithmetic where TFLite computes in float (activation ranges, the per-tensor FC
  scale product, SUB's multipliers, RELU's ratio) is done with ``numpy.float32``.
* ``MultiplyByQuantizedMultiplier`` is the double-rounding gemmlowp version (TFLM does not
  define ``TFLITE_SINGLE_ROUNDING``).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

_F32 = np.float32

# TFLite fused activation names (schema ActivationFunctionType)
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")


def f32(x: float) -> np.float32:
    """The float32 value of `x` (as stored in a flatbuffer)."""
    return _F32(x)


def round_half_away(x: float) -> int:
    """``std::round``: nearest integer, ties away from zero (exact for floats and doubles)."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"cannot round {x}")
    fl = math.floor(x)
    diff = x - fl  # exact for binary floats
    if diff > 0.5:
        return fl + 1
    if diff < 0.5:
        return fl
    return fl + 1 if x > 0 else fl


def wrap_int32(x: int) -> int:
    """Two's-complement wrap of an integer to int32 (what the C code does)."""
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


# ---------------------------------------------------------------------------------------------
# multiplier encoding (quantization_util.cc)


def quantize_multiplier(m: float) -> tuple[int, int]:
    """``QuantizeMultiplier``: ``m ≈ q·2^(shift−31)`` with ``q`` an int32 in [2^30, 2^31).

    frexp, round half away from zero, the ``q == 2^31`` fix-up, and the flush to zero of
    multipliers whose shift would be below −31.
    """
    m = float(m)
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed > (1 << 31):
        raise ValueError(f"quantize_multiplier({m}): q_fixed overflow")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if q_fixed > INT32_MAX:
        raise ValueError(f"quantize_multiplier({m}): q_fixed overflow")
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(m: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: requires 0 < m < 1; returns (q, left_shift ≤ 0)."""
    if not 0.0 < m < 1.0:
        raise ValueError(f"multiplier {m} not in (0, 1)")
    q, shift = quantize_multiplier(m)
    if shift > 0:
        raise ValueError(f"multiplier {m}: positive shift {shift}")
    return q, shift


def quantize_multiplier_greater_than_one(m: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``: requires m > 1; returns (q, left_shift ≥ 0)."""
    if not m > 1.0:
        raise ValueError(f"multiplier {m} not > 1")
    q, shift = quantize_multiplier(m)
    if shift < 0:
        raise ValueError(f"multiplier {m}: negative shift {shift}")
    return q, shift


# ---------------------------------------------------------------------------------------------
# gemmlowp fixed-point primitives (int32)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` (ARM VQRDMULH)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    # C division truncates toward zero
    q = abs(num) >> 31
    return wrap_int32(q if num >= 0 else -q)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp ``RoundingDivideByPOT``: arithmetic shift, ties away from zero."""
    if not 0 <= exponent <= 31:
        raise ValueError(f"exponent {exponent} out of [0, 31]")
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, m: int, shift: int) -> int:
    """``MultiplyByQuantizedMultiplier`` (double rounding), int32 in and out.

    The left shift ``x·2^shift`` wraps to int32 like the C code does on overflow.
    """
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap_int32(x * (1 << left)), m), right)


def multiply_by_quantized_multiplier_np(x: np.ndarray, m: int | np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """Vectorised :func:`multiply_by_quantized_multiplier` over an int array; `m` and `shift` may
    be arrays that broadcast against `x` (per-channel requantization)."""
    x = np.asarray(x, dtype=np.int64)
    m64 = np.asarray(m, dtype=np.int64)
    shift64 = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift64, 0)
    right = np.maximum(-shift64, 0)
    xs = ((x << left) + 2**31) % 2**32 - 2**31  # wrap to int32
    ab = xs * m64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    num = ab + nudge
    hi = np.where(num >= 0, num >> 31, -((-num) >> 31))
    hi = np.where((xs == INT32_MIN) & (m64 == INT32_MIN), INT32_MAX, hi)
    mask = (np.int64(1) << right) - 1
    rem = hi & mask
    thr = (mask >> 1) + (hi < 0).astype(np.int64)
    return (hi >> right) + (rem > thr).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# activation ranges


def quantize_float32(value: float, scale: float, zero_point: int) -> int:
    """kernel_util.cc ``Quantize``: ``zp + TfLiteRound(value / scale)`` with a float32 divide."""
    with np.errstate(all="raise"):
        tmp = _F32(value) / _F32(scale)
    return int(zero_point) + round_half_away(float(tmp))


def calculate_activation_range_quantized(
    act: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127
) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for a fused activation on an int8 output."""
    act = act or "NONE"
    if act == "RELU":
        return max(qmin, quantize_float32(0.0, scale, zero_point)), qmax
    if act == "RELU6":
        return (
            max(qmin, quantize_float32(0.0, scale, zero_point)),
            min(qmax, quantize_float32(6.0, scale, zero_point)),
        )
    if act == "RELU_N1_TO_1":
        return (
            max(qmin, quantize_float32(-1.0, scale, zero_point)),
            min(qmax, quantize_float32(1.0, scale, zero_point)),
        )
    if act == "NONE":
        return qmin, qmax
    raise ValueError(f"fused activation {act} has no quantized range")


# ---------------------------------------------------------------------------------------------
# multipliers shared by several ops


def per_channel_multipliers(
    input_scale: float, weight_scales: np.ndarray, output_scale: float, num_channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Conv/depthwise/per-channel FC multipliers: ``double(s_in)·double(s_w[c])/double(s_out)``.

    A single weight scale is broadcast over `num_channels` (``PopulateConvolutionQuantizationParams``).
    """
    ws = np.asarray(weight_scales, dtype=np.float32).reshape(-1)
    s_in = float(_F32(input_scale))
    s_out = float(_F32(output_scale))
    mult = np.zeros(num_channels, dtype=np.int32)
    shift = np.zeros(num_channels, dtype=np.int32)
    for c in range(num_channels):
        s_w = float(ws[c] if ws.size > 1 else ws[0])
        q, sh = quantize_multiplier(s_in * s_w / s_out)
        mult[c] = q
        shift[c] = sh
    return mult, shift


def requantize_multiplier(s_in: float, s_out: float) -> tuple[int, int]:
    """QUANTIZE int→int and MEAN: ``double(s_in)/double(s_out)``."""
    return quantize_multiplier(float(_F32(s_in)) / float(_F32(s_out)))


def float_to_quantized_int8(value: float, scale: float, zero_point: int) -> int:
    """micro_utils ``FloatToQuantizedType<int8_t>``: ``round(value/scale) + zp`` (float32), clamped."""
    r = round_half_away(float(_F32(value) / _F32(scale))) + int(zero_point)
    return max(-128, min(127, r))



# ---------------------------------------------------------------------------------------------
# fixed-point radius (softmax, logistic)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """``CalculateInputRadius`` (double arithmetic, floor)."""
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * float(1 << (total_signed_bits - input_integer_bits))
        / float(1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))



# ---------------------------------------------------------------------------------------------
# padding


def compute_out_size(padding: str, image_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """``ComputeOutSize`` (padding.h)."""
    eff = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (image_size + stride - 1) // stride
    if padding == "VALID":
        return max(0, (image_size + stride - eff) // stride)
    raise ValueError(f"unknown padding {padding!r}")


def compute_padding_with_offset(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """``ComputePaddingWithOffset``: the leading pad (total // 2; the odd extra pad goes after)."""
    eff = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    total = max(total, 0)
    return total // 2


def compute_padding_height_width(
    stride_h: int,
    stride_w: int,
    dil_h: int,
    dil_w: int,
    in_h: int,
    in_w: int,
    k_h: int,
    k_w: int,
    padding: str,
) -> tuple[int, int, int, int]:
    """``ComputePaddingHeightWidth`` → (pad_h, pad_w, out_h, out_w)."""
    out_w = compute_out_size(padding, in_w, k_w, stride_w, dil_w)
    out_h = compute_out_size(padding, in_h, k_h, stride_h, dil_h)
    pad_h = compute_padding_with_offset(stride_h, dil_h, in_h, k_h, out_h)
    pad_w = compute_padding_with_offset(stride_w, dil_w, in_w, k_w, out_w)
    return pad_h, pad_w, out_h, out_w


def same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis (the odd extra pad goes after)."""
    k_eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2
