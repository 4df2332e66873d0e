"""edgekit.numerics and the ops' Prepare() recipes: hand-checked cases, properties, and agreement with the C helpers."""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit import numerics as tm
from edgekit.ops.fully_connected import fc_per_tensor_multiplier
from edgekit.ops.logistic import logistic_params
from edgekit.ops.mean import mean_multiplier
from edgekit.ops.softmax import softmax_params

RUNTIME = Path(__file__).resolve().parents[1] / "firmware" / "runtime"
I32_MIN, I32_MAX = -(2**31), 2**31 - 1


# ---- rounding ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x,want",
    [(0.5, 1), (-0.5, -1), (1.5, 2), (2.5, 3), (-2.5, -3), (0.49999999999999994, 0), (-1.2, -1), (7.0, 7)],
)
def test_round_half_away(x: float, want: int) -> None:
    assert tm.round_half_away(x) == want


# ---- QuantizeMultiplier ------------------------------------------------------------------------
def test_quantize_multiplier_hand_cases() -> None:
    assert tm.quantize_multiplier(0.0) == (0, 0)
    assert tm.quantize_multiplier(0.5) == (1 << 30, 0)
    assert tm.quantize_multiplier(1.0) == (1 << 30, 1)
    assert tm.quantize_multiplier(0.25) == (1 << 30, -1)
    assert tm.quantize_multiplier(3.0) == (3 << 29, 2)
    # q·2^31 rounds up to 2^31: halve and bump the shift
    assert tm.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    # exact tie at q·2^31 = k + 0.5 rounds away from zero (Python's round() would go to even)
    m = (2**30 + 0.5) / 2**31
    assert tm.quantize_multiplier(m) == (2**30 + 1, 0)
    m = (2**30 + 2.5) / 2**31
    assert tm.quantize_multiplier(m) == (2**30 + 3, 0)
    # flush to zero below 2^-32
    assert tm.quantize_multiplier(2.0**-33) == (0, 0)
    assert tm.quantize_multiplier(2.0**-32) == (1 << 30, -31)


@pytest.mark.parametrize("seed", range(5))
def test_quantize_multiplier_is_accurate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for m in 10 ** rng.uniform(-8, 3, size=500):
        q, s = tm.quantize_multiplier(float(m))
        assert 2**30 <= q < 2**31
        assert abs(q * 2.0 ** (s - 31) - m) <= m * 2.0**-30


def test_smaller_and_greater_than_one() -> None:
    q, s = tm.quantize_multiplier_smaller_than_one_exp(0.3)
    assert s <= 0
    q, s = tm.quantize_multiplier_greater_than_one(5.0)
    assert s >= 0
    with pytest.raises(ValueError):
        tm.quantize_multiplier_smaller_than_one_exp(1.5)


# ---- fixed-point primitives --------------------------------------------------------------------
def test_srdhm_hand_cases() -> None:
    f = tm.saturating_rounding_doubling_high_mul
    assert f(I32_MIN, I32_MIN) == I32_MAX
    assert f(1 << 30, 1 << 30) == 1 << 29
    assert f(3, 1 << 30) == 2  # 1.5 → 2 (ties up)
    assert f(-3, 1 << 30) == -1  # −1.5 → −1 (ties toward +inf)
    assert f(1, 1 << 30) == 1  # 0.5 → 1
    assert f(-1, 1 << 30) == 0  # −0.5 → 0
    assert f(I32_MIN, I32_MAX) == -I32_MAX


def test_rdbpot_hand_cases() -> None:
    f = tm.rounding_divide_by_pot
    assert f(5, 1) == 3 and f(-5, 1) == -3  # ties away from zero
    assert f(6, 2) == 2 and f(-6, 2) == -2
    assert f(7, 2) == 2 and f(-7, 2) == -2
    assert f(12345, 0) == 12345
    assert f(I32_MIN, 31) == -1
    assert f(I32_MAX, 31) == 1


def test_mbqm_hand_cases() -> None:
    f = tm.multiply_by_quantized_multiplier
    m, s = tm.quantize_multiplier(0.5)
    # the high-mul rounds ties toward +inf: 1.5 → 2, −1.5 → −1, 0.5 → 1, −0.5 → 0
    assert f(3, m, s) == 2 and f(-3, m, s) == -1 and f(1, m, s) == 1 and f(-1, m, s) == 0
    m, s = tm.quantize_multiplier(2.0)
    assert f(100, m, s) == 200 and f(-100, m, s) == -200
    # double rounding: 0.375·4 = 1.5 exactly; high-mul gives 0.75·4 = 3, then 3/2 → 2 (away)
    m, s = tm.quantize_multiplier(0.375)
    assert s == -1 and f(4, m, s) == 2 and f(-4, m, s) == -2
    # 0.3·5 = 1.5 (inexact multiplier): high-mul 0.6·5 = 3 then /2 → 2
    m, s = tm.quantize_multiplier(0.3)
    assert f(5, m, s) == 2


@pytest.mark.parametrize("seed", range(3))
def test_mbqm_vectorised_matches_scalar(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        m, s = tm.quantize_multiplier(float(10 ** rng.uniform(-6, 1.5)))
        x = rng.integers(-(2**24), 2**24, size=200)
        x[:3] = [0, 2**24 - 1, -(2**24)]
        vec = tm.multiply_by_quantized_multiplier_np(x, m, s)
        assert [int(v) for v in vec] == [tm.multiply_by_quantized_multiplier(int(v), m, s) for v in x]


# ---- parameter preparation ---------------------------------------------------------------------
def test_activation_range_uses_float32_division_and_half_away() -> None:
    # 0/s = 0 → zp; 6/s with s = 0.04 → 150 (+zp) clamps to 127
    assert tm.calculate_activation_range_quantized("RELU6", 0.04, -128) == (-128, 22)
    assert tm.calculate_activation_range_quantized("RELU", 0.1, 5) == (5, 127)
    assert tm.calculate_activation_range_quantized("NONE", 0.1, 5) == (-128, 127)
    assert tm.calculate_activation_range_quantized("RELU_N1_TO_1", 0.5, 0) == (-2, 2)
    # a float32 quotient landing exactly on .5: 6/(6/2.5) → 2.5 → 3 (half away)
    s = float(np.float32(6 / 2.5))
    q = float(np.float32(6.0) / np.float32(s))
    assert tm.calculate_activation_range_quantized("RELU6", s, 0)[1] == tm.round_half_away(q)


def test_fc_per_tensor_uses_double_product() -> None:
    """The pinned TFLM wheel forms s_in·s_w in double (measured end to end in
    test_kernels_ops.py::test_fc_per_tensor_scale_product_precision), not float32 as the
    source of GetQuantizedConvolutionMultipler reads."""
    rng = np.random.default_rng(0)
    for _ in range(1000):
        a, b, c = (float(np.float32(v)) for v in 10 ** rng.uniform(-4, 0, size=3))
        assert fc_per_tensor_multiplier(a, b, c) == tm.quantize_multiplier(a * b / c)


def test_softmax_and_logistic_params() -> None:
    p = softmax_params(1.0, 1 / 16)
    # beta·s·2^26 = 2^22 → multiplier 2^30, left shift 23
    assert p == {
        "input_multiplier": 1 << 30,
        "input_left_shift": 23,
        "diff_min": -tm.calculate_input_radius(5, 23),
    }
    assert tm.calculate_input_radius(5, 23) == math.floor(31 * 2**26 / 2**23)
    lp = logistic_params(1 / 16, 3)
    assert lp["input_multiplier"] == 1 << 30 and lp["input_left_shift"] == 24 and lp["input_zero_point"] == 3


def test_mean_multiplier_folds_count() -> None:
    m0, s0 = tm.requantize_multiplier(0.1, 0.1)
    m, s = mean_multiplier(0.1, 0.1, 49)
    assert s == s0 - 5 and m == (m0 << 5) // 49


def test_padding() -> None:
    assert tm.compute_padding_height_width(2, 2, 1, 1, 7, 7, 3, 3, "SAME") == (1, 1, 4, 4)
    assert tm.compute_padding_height_width(2, 2, 1, 1, 8, 8, 3, 3, "SAME") == (0, 0, 4, 4)
    assert tm.compute_padding_height_width(1, 1, 2, 2, 5, 5, 3, 3, "SAME") == (2, 2, 5, 5)
    assert tm.compute_padding_height_width(1, 1, 1, 1, 5, 6, 3, 3, "VALID") == (0, 0, 3, 4)


# ---- agreement with the C helpers of ek_requant.h ----------------------------------------------
_WRAPPER = r"""
#include "ek_requant.h"
int32_t w_mbqm(int32_t x, int32_t m, int32_t s) { return ek_mbqm(x, m, s); }
int32_t w_srdhm(int32_t a, int32_t b) { return ek_srdhm(a, b); }
int32_t w_rdbpot(int32_t x, int32_t e) { return ek_rdbpot(x, (int)e); }
"""


@pytest.fixture(scope="module")
def clib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    d = tmp_path_factory.mktemp("requant")
    (d / "w.c").write_text(_WRAPPER)
    so = d / "w.so"
    cmd = [
        "gcc",
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fPIC",
        "-shared",
        f"-I{RUNTIME}",
        str(d / "w.c"),
        "-o",
        str(so),
    ]
    subprocess.run(cmd, check=True)
    lib = ctypes.CDLL(str(so))
    for fn in ("w_mbqm", "w_srdhm", "w_rdbpot"):
        getattr(lib, fn).restype = ctypes.c_int32
    lib.w_mbqm.argtypes = [ctypes.c_int32] * 3
    lib.w_srdhm.argtypes = [ctypes.c_int32] * 2
    lib.w_rdbpot.argtypes = [ctypes.c_int32] * 2
    return lib


def test_c_helpers_match_python(clib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(1)
    edge = [0, 1, -1, I32_MIN, I32_MAX, I32_MIN + 1, 1 << 30, -(1 << 30)]
    xs = edge + [int(v) for v in rng.integers(I32_MIN, I32_MAX, size=300, endpoint=True)]
    for a in xs[:60]:
        for b in xs[:60]:
            assert clib.w_srdhm(a, b) == tm.saturating_rounding_doubling_high_mul(a, b)
    for x in xs:
        for e in (0, 1, 2, 7, 15, 30, 31):
            assert clib.w_rdbpot(x, e) == tm.rounding_divide_by_pot(x, e)
    for _ in range(300):
        m, s = tm.quantize_multiplier(float(10 ** rng.uniform(-9, 0.9)))
        for x in edge[:3] + [int(v) for v in rng.integers(-(2**26), 2**26, size=20)]:
            assert clib.w_mbqm(x, m, s) == tm.multiply_by_quantized_multiplier(x, m, s), (x, m, s)
