"""Packed uint4 / uint2 activation kernels (``firmware/runtime/ek_lowbit.c``) against the exact Python
integer reference (``edgekit/ops/_lowbit.py``): packed bytes and int8 outputs bit for bit, on the host
(gcc with ASan/UBSan, portable emulation of the DSP intrinsics) and in QEMU on the Cortex-M4F (the
real SXTB16/SMLAD instructions), when arm-none-eabi-gcc and qemu-system-arm are installed.

The module also holds the small harness (C driver generation, host and M4 builds, QEMU run) that
``bench/lowbit_kernels.py`` reuses for its instruction counts.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit import numerics as nm
from edgekit.device.emulator import DEFAULT_MACHINE, QEMU
from edgekit.ops import _fast
from edgekit.ops import _lowbit as lb
from edgekit.toolchain.host import SANITIZE_FLAGS

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "firmware" / "runtime"
BOARDS = REPO / "firmware" / "boards"
HARNESS = REPO / "firmware" / "harness"
HAVE_ARM = bool(shutil.which("arm-none-eabi-gcc") and shutil.which(QEMU))
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

CONV_KERNELS = {  # kernel name -> (C function, activation bits, scratch function or None)
    "u4": ("ek_conv1x1_u4", 4, "ek_conv1x1_u4_scratch_bytes"),
    "u4_inreg": ("ek_conv1x1_u4_inreg", 4, None),
    "u2": ("ek_conv1x1_u2", 2, "ek_conv1x1_u2_scratch_bytes"),
    "u2_lut": ("ek_conv1x1_u2_lut", 2, "ek_conv1x1_u2_lut_scratch_bytes"),
    "u4_mla": ("ek_conv1x1_u4_mla", 4, "ek_conv1x1_u4_mla_scratch_bytes"),
    "u2_mla": ("ek_conv1x1_u2_mla", 2, "ek_conv1x1_u2_mla_scratch_bytes"),
    "s8": ("ek_conv2d_s8_gemm", 8, "ek_conv2d_s8_gemm_scratch_bytes"),
    "s8_col": ("ek_conv1x1_s8_col", 8, "ek_conv1x1_s8_col_scratch_bytes"),
}


@dataclasses.dataclass
class Case:
    """One kernel call: its C setup code, the expected output bytes and the MAC count."""

    name: str
    kernel: str
    setup: str  # C statements declaring `p`, `ins`, `outs` and running the call between T0/T1
    data: str  # C definitions of the case's const arrays
    expected: np.ndarray  # uint8 bytes the output must hold
    macs: int = 0
    shape: tuple[int, int, int] = (0, 0, 0)


def _arr(name: str, ctype: str, values: np.ndarray) -> str:
    v = np.asarray(values).reshape(-1)
    if v.size == 0:
        v = np.zeros(1, dtype=np.int64)
    body = ",".join(str(int(x)) for x in v)
    # INT32_MIN has no literal: write it as an expression
    body = body.replace(str(-(2**31)), "(-2147483647-1)")
    return f"static const {ctype} {name}[{v.size}] __attribute__((aligned(4))) = {{{body}}};\n"


def pack_case(rng: np.random.Generator, name: str, bits: int, pixels: int, channels: int) -> Case:
    q8 = rng.integers(-128, 128, size=(pixels, channels)).astype(np.int8)
    q8.reshape(-1)[: min(4, q8.size)] = [-128, 127, -128, 127][: min(4, q8.size)]
    zp8 = int(rng.integers(-128, 128))
    zp_b = int(rng.integers(0, 1 << bits))
    # s8 / s_b around 2^bits / 256 so that the values spread over (and clip at) the b-bit range
    m, s = nm.quantize_multiplier(float(rng.uniform(0.5, 1.5)) * (1 << bits) / 256.0)
    _, packed = lb.pack_lowbit(q8, -zp8, zp_b, m, s, bits)
    p = f"{name}_"
    data = _arr(p + "in", "int8_t", q8)
    setup = (
        f"const ek_pack_lowbit_params_t p = {{.pixels = {pixels}, .channels = {channels}, .input_offset = {-zp8}, "
        f".output_offset = {zp_b}, .mult = {m}, .shift = {s}}};\n"
        f"const void *ins[1] = {{{p}in}};\n"
        f"void *outs[1] = {{g_out}};\n"
        f"T0; ek_pack_u{bits}(&p, ins, outs, g_scratch); T1;\n"
    )
    return Case(name, f"pack_u{bits}", setup, data, packed.reshape(-1), pixels * channels, (pixels, channels, 0))


def conv_case(rng: np.random.Generator, name: str, kernel: str, pixels: int, in_c: int, out_c: int,
              act: str = "none", extremes: bool = True, big_bias: bool = False, max_w: bool = False,
              rq_kind: str = "fast") -> Case:
    """A random 1x1 conv call of `kernel`. rq_kind "fast": TFLM shifts, ek_requant_fast; "small":
    the SMMULR requantization (requant_small = 1: every TFLM shift <= -1 and |acc| < 2^30, as the
    generator proves it); "triples": requant_small + the per-channel triples (int8: EK_RQ_TRIPLES_*)."""
    small = rq_kind in ("small", "triples")
    func, bits, scratch_fn = CONV_KERNELS[kernel]
    if bits == 8:
        q = rng.integers(-128, 128, size=(pixels, in_c))
        zp_in = int(rng.integers(-128, 128))
        lo_q, hi_q = -128, 127
    else:
        q = rng.integers(0, 1 << bits, size=(pixels, in_c))
        zp_in = int(rng.integers(0, 1 << bits))
        lo_q, hi_q = 0, (1 << bits) - 1
    if extremes and pixels >= 3:
        q[0, :] = lo_q
        q[1, :] = hi_q
    w = rng.integers(-128, 128, size=(out_c, in_c))
    if not small:
        w[::3] = rng.integers(-2, 3, size=w[::3].shape)  # small channels: multipliers > 1 (left shifts)
    if out_c > 1:
        w[1, 0] = -128
    if max_w and out_c > 2:  # |partial sums| at their bound (the LUT's 16-bit fields, the flush)
        w[0, :] = 127
        w[1, :] = -128
    bias = rng.integers(-5000, 5000, size=out_c)
    if big_bias:
        bias[0] = 2**31 - 1 - int(rng.integers(0, 3))  # the int32 sums wrap (as in TFLM)
    acc = (q - zp_in) @ w.T + bias
    std = np.maximum(acc.std(axis=0), 1.0)
    zp_out = int(rng.integers(-20, 20))
    mult, shift = [], []
    for c in range(out_c):
        real = float(60.0 / std[c] * rng.uniform(0.5, 2.0))
        m, s = nm.quantize_multiplier(min(real, 0.49) if small else real)
        mult.append(m)
        shift.append(s)
    if act == "relu":
        amin, amax = zp_out, 127
    elif act == "relu6":
        amin, amax = zp_out, min(127, zp_out + 50)
    else:
        amin, amax = -128, 127
    expected = lb.conv1x1_lowbit(q, zp_in, w.astype(np.int8), bias, np.array(mult), np.array(shift), zp_out,
                                 amin, amax)
    params = lb.conv1x1_params(w.astype(np.int8), bias, zp_in)
    if small:
        bound = np.abs(params["bias"].astype(np.int64)) + max(abs(lo_q), hi_q) * np.abs(w).sum(axis=1)
        assert max(shift) <= -1 and bound.max() < 2**30, "requant_small does not hold for this case"
        shift = [-s for s in shift]
    triples = _fast.rq_triples(np.array(mult), np.array(shift), zp_out) if rq_kind == "triples" else None
    if rq_kind == "triples":
        assert triples is not None, "the triples do not apply to this case"
    p = f"{name}_"
    data = (_arr(p + "w", "int32_t", params["weights"]) + _arr(p + "b", "int32_t", params["bias"])
            + _arr(p + "m", "int32_t", np.array(mult)) + _arr(p + "s", "int32_t", np.array(shift)))
    rq = f".rq = {{.output_offset = {zp_out}, .act_min = {amin}, .act_max = {amax}, .mult = {p}m, .shift = {p}s}}"
    tr = "0"
    if triples is not None:
        data += _arr(p + "t", "int32_t", triples)
        tr = f"{p}t"
    rq_mode = 0 if triples is None else (1 if (amin, amax) == (-128, 127) else 2)
    if kernel == "s8":
        data += _arr(p + "in", "int8_t", q)
        setup = (
            f"const ek_conv2d_gemm_params_t p = {{.geom = {{.batches = 1, .in_h = 1, .in_w = {pixels}, "
            f".in_c = {in_c}, .out_h = 1, .out_w = {pixels}, .out_c = {out_c}, .k_h = 1, .k_w = 1, "
            f".stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_h = 0, .pad_w = 0}}, "
            f".k4 = {params['k4']}, .pad_value = {zp_in}, .requant_small = {int(small)}, .rq_mode = {rq_mode}, {rq}, "
            f".triples = {tr}, .weights = {p}w, .bias = {p}b, .fuse_add = 0}};\n"
        )
    else:
        data += _arr(p + "in", "int8_t", q) if bits == 8 else _arr(p + "in", "uint8_t", lb.pack_bits(q, bits))
        setup = (
            f"const ek_conv1x1_lowbit_params_t p = {{.pixels = {pixels}, .in_c = {in_c}, .out_c = {out_c}, "
            f".k4 = {params['k4']}, .requant_small = {int(small)}, {rq}, .triples = {tr}, .weights = {p}w, "
            f".bias = {p}b}};\n"
        )
    setup += f"const void *ins[1] = {{{p}in}};\nvoid *outs[1] = {{g_out}};\n"
    if scratch_fn:
        setup += f"if ({scratch_fn}(&p) > (int32_t)sizeof(g_scratch)) {{ fail(\"{name} scratch\"); return; }}\n"
    setup += f"T0; {func}(&p, ins, outs, g_scratch); T1;\n"
    return Case(name, kernel, setup, data, expected.view(np.uint8).reshape(-1), pixels * in_c * out_c,
                (pixels, in_c, out_c))


DRIVER_HEAD = r"""
#include <stdint.h>
#include "ek_lowbit.h"
#ifdef EK_EMULATOR
#include "ek_board.h"
static void out_c(char c) { ek_board_putc((uint8_t)c); }
#define TICKS() ek_ticks()
#else
#include <stdio.h>
#include <stdlib.h>
static void out_c(char c) { putchar(c); }
#define TICKS() 0u
#endif
static uint8_t g_out[OUT_BYTES] __attribute__((aligned(4)));
static uint8_t g_scratch[SCRATCH_BYTES] __attribute__((aligned(4)));
static uint32_t g_t0, g_t1;
#define T0 (g_t0 = TICKS())
#define T1 (g_t1 = TICKS())
static void out_s(const char *s) { while (*s) out_c(*s++); }
static void out_u(uint32_t v)
{
    char b[11];
    int n = 0;
    do { b[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (n) out_c(b[--n]);
}
static void fail(const char *s) { out_s("F "); out_s(s); out_c('\n'); }
static void report(const char *name, uint32_t n, int hex)
{
    static const char dig[] = "0123456789abcdef";
    uint32_t i, h = 2166136261u;
    out_s("R "); out_s(name); out_c(' '); out_u(g_t1 - g_t0); out_c(' ');
    for (i = 0; i < n; ++i) {
        if (hex) { out_c(dig[g_out[i] >> 4]); out_c(dig[g_out[i] & 15]); }
        h = (h ^ g_out[i]) * 16777619u;
    }
    if (!hex) out_u(h);
    out_c('\n');
}
"""


def fnv1a(b: np.ndarray) -> int:
    h = 2166136261
    for x in np.asarray(b, dtype=np.uint8).reshape(-1).tolist():
        h = ((h ^ x) * 16777619) & 0xFFFFFFFF
    return h


def driver_source(cases: list[Case], hex_out: bool = True, scratch_bytes: int = 64 * 1024) -> str:
    out_bytes = max(c.expected.size for c in cases) + 4
    parts = [f"#define OUT_BYTES {out_bytes}\n#define SCRATCH_BYTES {scratch_bytes}\n", DRIVER_HEAD]
    for i, c in enumerate(cases):
        parts.append(c.data)
        call = f"report(\"{c.name}\", {c.expected.size}u, {int(hex_out)});"
        parts.append(f"static void run_{i}(void)\n{{\n{c.setup}{call}\n}}\n")
    parts.append("int main(void)\n{\n#ifdef EK_EMULATOR\n    ek_board_init();\n#endif\n    T0; T1;\n"
                 "    out_s(\"O \"); out_u(g_t1 - g_t0); out_c('\\n');\n")
    parts += [f"    run_{i}();\n" for i in range(len(cases))]
    parts.append("    out_s(\"E\\n\");\n#ifdef EK_EMULATOR\n    ek_board_exit(0);\n#endif\n    return 0;\n}\n")
    return "".join(parts)


def _check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-4000:]}")


def build_host(src: str, work: Path, sanitize: bool = True) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "drv.c").write_text(src)
    exe = work / "drv"
    flags = [*SANITIZE_FLAGS, "-O1"] if sanitize else ["-O2"]
    _check(["nice", "-n", "10", "gcc", *WARN, *flags, f"-I{RUNTIME}", str(work / "drv.c"),
            str(RUNTIME / "ek_lowbit.c"), str(RUNTIME / "ek_conv_dsp.c"), "-o", str(exe)])
    return exe


def build_m4(src: str, work: Path, extra: list[str] | None = None) -> Path:
    """The driver + kernels + edgekit's STM32 board support and startup, for QEMU netduinoplus2."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "drv.c").write_text(src)
    elf = work / "drv.elf"
    _check(["nice", "-n", "10", "arm-none-eabi-gcc", *WARN, *M4, "-O2", *(extra or []), "-DEK_EMULATOR", f"-I{RUNTIME}",
            f"-I{HARNESS}", str(work / "drv.c"), str(RUNTIME / "ek_lowbit.c"), str(RUNTIME / "ek_conv_dsp.c"),
            str(BOARDS / "stm32" / "ek_board_stm32.c"), str(BOARDS / "stm32" / "startup_cortexm.c"),
            f"-L{BOARDS / 'ld'}", "-T", str(BOARDS / "ld" / "nucleo-f446re_qemu.ld"), "-nostartfiles",
            "--specs=nano.specs", "--specs=nosys.specs", "-o", str(elf)])
    return elf


def run_host(exe: Path) -> str:
    proc = subprocess.run(["nice", "-n", "10", str(exe)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def run_qemu(elf: Path, timeout: float = 300.0) -> str:
    log = elf.with_suffix(".uart")
    cmd = ["nice", "-n", "10", QEMU, "-M", DEFAULT_MACHINE, "-display", "none", "-monitor", "none", "-nodefaults",
           "-icount", "shift=0,align=off,sleep=off", "-semihosting-config", "enable=on,target=native",
           "-serial", f"file:{log}", "-kernel", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = log.read_text() if log.exists() else ""
    assert proc.returncode == 0, f"QEMU exit {proc.returncode}: {proc.stderr[-2000:]}\n{text[-2000:]}"
    return text


def parse(text: str) -> tuple[dict[str, tuple[int, str]], int]:
    """{case name: (ticks, hex bytes or hash)} and the empty-measurement overhead."""
    res: dict[str, tuple[int, str]] = {}
    overhead = 0
    lines = text.splitlines()
    assert lines and lines[-1] == "E", f"driver did not finish: {text[-500:]}"
    for line in lines:
        f = line.split(" ")
        if f[0] == "F":
            raise AssertionError(f"driver failure: {line}")
        if f[0] == "O":
            overhead = int(f[1])
        if f[0] == "R":
            res[f[1]] = (int(f[2]), f[3] if len(f) > 3 else "")
    return res, overhead


def compare(cases: list[Case], res: dict[str, tuple[int, str]]) -> None:
    for c in cases:
        got = bytes.fromhex(res[c.name][1])
        want = c.expected.astype(np.uint8).tobytes()
        if got != want:
            diff = [i for i in range(len(want)) if i >= len(got) or got[i] != want[i]]
            raise AssertionError(f"{c.name} ({c.kernel} {c.shape}): {len(diff)} bytes differ, first at {diff[:8]}")


# ---------------------------------------------------------------------------------------------

CONV_SHAPES = [  # (pixels, in_c, out_c, act)
    (1, 3, 1, "none"),
    (2, 16, 2, "relu"),
    (7, 13, 5, "none"),
    (15, 37, 9, "relu6"),
    (16, 64, 16, "none"),
    (9, 100, 6, "relu"),  # LUT: 25 bytes per pixel, past the 21-byte flush bound
    (5, 200, 3, "none"),  # 50 bytes: two flushes
    (4, 8, 7, "none"),
]
PACK_SHAPES = [(1, 1), (7, 13), (5, 37), (3, 100), (4, 16), (2, 8)]


def all_cases(seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for bits in (4, 2):
        for i, (px, ch) in enumerate(PACK_SHAPES):
            cases.append(pack_case(rng, f"pack{bits}_{i}", bits, px, ch))
    for kernel in ("u4", "u4_inreg", "u4_mla", "u2", "u2_lut", "u2_mla", "s8", "s8_col"):
        for i, (px, k, c, act) in enumerate(CONV_SHAPES):
            cases.append(conv_case(rng, f"{kernel}_{i}", kernel, px, k, c, act, big_bias=i == 3, max_w=k >= 100))
        for i, (px, k, c, act) in enumerate(CONV_SHAPES[2:6]):
            cases.append(conv_case(rng, f"{kernel}_small{i}", kernel, px, k, c, act, rq_kind="small"))
            cases.append(conv_case(rng, f"{kernel}_tri{i}", kernel, px, k, c, act, rq_kind="triples"))
    return cases


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return all_cases(0)


def test_reference_pack_roundtrip_and_layout() -> None:
    rng = np.random.default_rng(1)
    for bits in (4, 2):
        q = rng.integers(0, 1 << bits, size=(3, 37))
        packed = lb.pack_bits(q, bits)
        assert packed.shape == (3, 4 * lb.lowbit_words(37, bits))
        assert np.array_equal(lb.unpack_bits(packed, 37, bits), q)
    # u4: taps 0..7 = 1..8 -> nibbles (1, 2, 5, 6, 3, 4, 7, 8) from bit 0 up
    word = int(lb.pack_bits(np.arange(1, 9)[None, :], 4).view("<u4")[0, 0])
    assert [(word >> (4 * n)) & 15 for n in range(8)] == [1, 2, 5, 6, 3, 4, 7, 8]
    # the lane extraction the kernels do: (x >> 4j) & 0x000F000F == (tap t_j, tap t_j + 2)
    for j, t in enumerate((0, 1, 4, 5)):
        lanes = (word >> (4 * j)) & 0x000F000F
        assert (lanes & 0xFFFF, lanes >> 16) == (t + 1, t + 3)
    q2 = np.arange(16)[None, :] % 4
    w2 = int(lb.pack_bits(q2, 2).view("<u4")[0, 0])
    for j, t in enumerate((0, 1, 4, 5, 8, 9, 12, 13)):
        lanes = (w2 >> (2 * j)) & 0x00030003
        assert (lanes & 0xFFFF, lanes >> 16) == (q2[0, t], q2[0, t + 2])


def test_reference_conv_matches_float_free_direct_sum() -> None:
    """The reference against a plain per-element loop (TFLM's int8 conv arithmetic)."""
    rng = np.random.default_rng(2)
    q = rng.integers(0, 16, size=(3, 11))
    w = rng.integers(-128, 128, size=(4, 11)).astype(np.int8)
    bias = rng.integers(-1000, 1000, size=4)
    mult = np.array([nm.quantize_multiplier(0.01 * (c + 1))[0] for c in range(4)])
    shift = np.array([nm.quantize_multiplier(0.01 * (c + 1))[1] for c in range(4)])
    got = lb.conv1x1_lowbit(q, 5, w, bias, mult, shift, -3, -128, 127)
    for p in range(3):
        for c in range(4):
            acc = int(bias[c]) + sum(int(w[c, k]) * (int(q[p, k]) - 5) for k in range(11))
            v = nm.multiply_by_quantized_multiplier(acc, int(mult[c]), int(shift[c])) - 3
            assert got[p, c] == max(-128, min(127, v))


def test_comparison_can_fail(cases: list[Case]) -> None:
    """A corrupted nibble changes the reference output, and compare() reports a corrupted byte."""
    rng = np.random.default_rng(3)
    q = rng.integers(0, 16, size=(4, 24))
    w = rng.integers(-128, 128, size=(8, 24)).astype(np.int8)
    args = (np.zeros(8, dtype=np.int64), np.full(8, 1 << 30), np.full(8, -4), 0, -128, 127)
    base = lb.conv1x1_lowbit(q, 3, w, *args)
    packed = lb.pack_bits(q, 4)
    packed[2, 1] ^= 0x10
    q_bad = lb.unpack_bits(packed, 24, 4)
    assert not np.array_equal(lb.conv1x1_lowbit(q_bad, 3, w, *args), base)
    c = cases[0]
    bad = c.expected.copy()
    bad[0] ^= 1
    with pytest.raises(AssertionError):
        compare([c], {c.name: (0, bad.tobytes().hex())})


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_lowbit_kernels_host_sanitized_bitexact(cases: list[Case], tmp_path: Path) -> None:
    exe = build_host(driver_source(cases), tmp_path)
    res, _ = parse(run_host(exe))
    assert len(res) == len(cases)
    compare(cases, res)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_lowbit_runtime_files_warning_free(tmp_path: Path) -> None:
    cmd = ["nice", "-n", "10", "gcc", *WARN, "-pedantic", "-O2", f"-I{RUNTIME}", "-c", str(RUNTIME / "ek_lowbit.c"),
           "-o", str(tmp_path / "a.o")]
    _check(cmd)
    if shutil.which("arm-none-eabi-gcc"):
        _check(["nice", "-n", "10", "arm-none-eabi-gcc", *WARN, *M4, "-O2", f"-I{RUNTIME}", "-c",
                str(RUNTIME / "ek_lowbit.c"), "-o", str(tmp_path / "b.o")])


@pytest.mark.skipif(not HAVE_ARM, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("asm", [True, False], ids=["asm", "c_intrinsics"])
def test_lowbit_kernels_cortex_m4_qemu_bitexact(cases: list[Case], asm: bool, tmp_path: Path) -> None:
    """The hand-scheduled loops, and the C loops on the real DSP intrinsics (EK_NO_INLINE_ASM)."""
    elf = build_m4(driver_source(cases), tmp_path, None if asm else ["-DEK_NO_INLINE_ASM"])
    res, _ = parse(run_qemu(elf, timeout=120))
    assert len(res) == len(cases)
    compare(cases, res)
