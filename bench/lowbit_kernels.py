"""Instructions per MAC of the pointwise (1x1) convolution by activation bit width on the emulated
Cortex-M4F: int8 (the existing ``ek_conv2d_s8_gemm`` fast path) against the packed uint4 / uint2
kernels of ``firmware/runtime/ek_lowbit.c`` (each variant), on MCUNet / MobileNetV2 first-stage
shapes.

QEMU netduinoplus2 with ``-icount shift=0,align=off,sleep=off``; TIM2 advances once per guest
instruction, so the counts are exact and repeatable (instructions, not cycles: an LDM of n words
is one instruction here and n+1 cycles on silicon). Every measured call is also checked bit for
bit against the Python reference (a hash of its output bytes). The harness (C driver, builds, QEMU)
is the one of ``tests/test_lowbit_kernels.py``.

    .venv/bin/python bench/lowbit_kernels.py            # writes bench/results/lowbit_kernels.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_lowbit_kernels import (  # noqa: E402
    Case,
    build_m4,
    conv_case,
    driver_source,
    fnv1a,
    pack_case,
    parse,
    run_qemu,
)

# (label, pixels, in_c, out_c): 16x16 maps of an MCUNet / MobileNetV2 first stage, + one 32x32 map
SHAPES = [
    ("expand 16->96", 256, 16, 96),
    ("project 96->16", 256, 96, 16),
    ("pw 32->32", 256, 32, 32),
    ("pw 64->64", 256, 64, 64),
    ("project 96->24", 256, 96, 24),
    ("pw 32->32 @32x32", 1024, 32, 32),
]
KERNELS = ["s8", "s8_col", "u4", "u4_inreg", "u4_mla", "u2", "u2_lut", "u2_mla"]
RQ = "triples"  # every kernel requantizes with the int8 GEMM's cheapest exact path (per-channel triples)
BITS = {"s8": 8, "s8_col": 8, "u4": 4, "u4_inreg": 4, "u4_mla": 4, "u2": 2, "u2_lut": 2, "u2_mla": 2}
DESCRIPTION = {
    "s8": "int8 ek_conv2d_s8_gemm (im2col to int16 columns, 2ch x 2px SMLAD asm)",
    "s8_col": "int8 ek_conv1x1_s8_col (control: int8 activations through the low-bit kernels' column + GEMM + "
              "requantization code)",
    "u4": "u4 ek_conv1x1_u4 (unpack to int16 column per pixel pair, same 2x2 SMLAD asm)",
    "u4_inreg": "u4 ek_conv1x1_u4_inreg (unpack in registers per channel pair, C)",
    "u4_mla": "u4 ek_conv1x1_u4_mla (two pixels per register, 32-bit MLA = 2 MACs, int32 weights in scratch, "
              "1ch x 4px asm, 16-bit fields flushed every 16 taps)",
    "u2": "u2 ek_conv1x1_u2 (unpack to int16 column per pixel pair, same 2x2 SMLAD asm)",
    "u2_lut": "u2 ek_conv1x1_u2_lut (256-entry table per channel pair and 4 taps, built per call, C)",
    "u2_mla": "u2 ek_conv1x1_u2_mla (as u4_mla, fields flushed every 84 taps)",
}


def scratch_bytes(k: int, c: int) -> int:
    """Enough for every kernel: the u2 LUT's tables or the MLA kernels' int32 weights + column."""
    k4 = (k + 3) // 4 * 4
    return max(1024 * 4 * ((k + 15) // 16), 4 * k4 * c + 8 * ((k + 7) // 8 * 8)) + 64


def measure(shape: tuple[str, int, int, int], work: Path, seed: int) -> list[dict[str, object]]:
    label, px, k, c = shape
    rng = np.random.default_rng(seed)
    cases: list[Case] = [conv_case(rng, kern, kern, px, k, c, "relu", extremes=False, rq_kind=RQ)
                         for kern in KERNELS]
    cases += [pack_case(rng, f"pack_u{b}", b, px, k) for b in (4, 2)]
    elf = build_m4(driver_source(cases, hex_out=False, scratch_bytes=scratch_bytes(k, c)), work)
    res, overhead = parse(run_qemu(elf))
    rows = []
    for case in cases:
        ticks, digest = res[case.name]
        assert int(digest) == fnv1a(case.expected), f"{label} {case.name}: output differs from the reference"
        instr = ticks - overhead
        rows.append({"shape": label, "pixels": px, "in_c": k, "out_c": c, "kernel": case.kernel,
                     "bits": BITS[case.kernel] if case.kernel in BITS else int(case.kernel[-1]), "macs": case.macs,
                     "instructions": instr, "instr_per_mac": instr / case.macs if case.kernel in BITS else None,
                     "instr_per_value": instr / case.macs if case.kernel not in BITS else None,
                     "bit_exact": True})
    base = next(r for r in rows if r["kernel"] == "s8")["instructions"]
    for r in rows:
        if r["kernel"] in BITS:
            r["speedup_vs_int8"] = base / r["instructions"]
    return rows


DECOMP_GRID = [(px, k, c) for px in (64, 256) for k in (32, 96) for c in (16, 48)]
TERMS = ["per MAC (P*K*C)", "per output (P*C)", "per input value (P*K)", "per weight (K*C)", "per call",
         "largest relative residual"]


def decompose(work: Path, seed: int) -> dict[str, list[float]]:
    """Least-squares fit, per kernel, of instructions = a*P*K*C + b*P*C + d*P*K + f*K*C + e over a
    grid of shapes: a is the MAC loop's cost per MAC, b the per-output cost (requantization, store,
    channel loop), d the per-activation cost (unpacking into columns), f the per-weight cost (the
    LUT's tables), e the fixed cost."""
    counts: dict[str, list[int]] = {k: [] for k in KERNELS}
    for i, (px, k, c) in enumerate(DECOMP_GRID):
        rng = np.random.default_rng(seed + 100 + i)
        cases = [conv_case(rng, kern, kern, px, k, c, "relu", extremes=False, rq_kind=RQ) for kern in KERNELS]
        elf = build_m4(driver_source(cases, hex_out=False, scratch_bytes=scratch_bytes(k, c)),
                       work / f"d{i}")
        res, overhead = parse(run_qemu(elf))
        for case in cases:
            assert int(res[case.name][1]) == fnv1a(case.expected), f"{case.name} {px, k, c}: not bit-exact"
            counts[case.kernel].append(res[case.name][0] - overhead)
    a = np.array([[px * k * c, px * c, px * k, k * c, 1] for px, k, c in DECOMP_GRID], dtype=np.float64)
    fit: dict[str, list[float]] = {}
    for kern, n in counts.items():
        y = np.array(n, dtype=np.float64)
        coef = np.linalg.lstsq(a, y, rcond=None)[0]
        worst = float(np.max(np.abs(a @ coef - y) / y))  # the largest relative residual
        fit[kern] = [float(v) for v in coef] + [worst]
    return fit


def markdown(rows: list[dict[str, object]], seconds: float, fit: dict[str, list[float]] | None = None) -> str:
    out = ["# Pointwise conv by activation bit width on the emulated Cortex-M4F", "",
           "QEMU netduinoplus2, `-icount shift=0,align=off,sleep=off`, TIM2 = guest instructions "
           "(not cycles). `arm-none-eabi-gcc -O2 -mcpu=cortex-m4 -mfloat-abi=hard`. Every call below was "
           "checked bit-exact against `edgekit/ops/_lowbit.py` (int8: the same reference on int8 values). "
           "All kernels use the same requantization: TFLM double rounding through the int8 GEMM's per-channel "
           "triples (SMMULR, `EK_RQ_TRIPLES_CLAMP`, the path the generator picks when it can prove it), ReLU clamp, "
           f"so the differences are the MAC loops and operand preparation. Run time {seconds:.0f} s.", "",
           "Kernels:", ""]
    out += [f"- `{k}`: {d}" for k, d in DESCRIPTION.items()]
    out += ["", "| shape (px, K->C) | kernel | bits | MACs | instructions | instr/MAC | speedup vs int8 |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kernel"] not in BITS:
            continue
        out.append(f"| {r['shape']} ({r['pixels']}, {r['in_c']}->{r['out_c']}) | {r['kernel']} | {r['bits']} | "
                   f"{r['macs']} | {r['instructions']} | {r['instr_per_mac']:.3f} | {r['speedup_vs_int8']:.2f}x |")
    out += ["", "Packing an int8 map (requantize to b bits + pack), instructions per value:", "",
            "| shape | kernel | values | instructions | instr/value |", "|---|---|---|---|---|"]
    for r in rows:
        if r["kernel"] in BITS:
            continue
        out.append(f"| {r['shape']} ({r['pixels']} px x {r['in_c']} ch) | {r['kernel']} | {r['macs']} | "
                   f"{r['instructions']} | {r['instr_per_value']:.2f} |")
    if fit:
        out += ["", "Where the instructions go: least-squares fit of instructions = a·P·K·C + b·P·C + d·P·K + "
                "f·K·C + e over P in {64, 256}, K in {32, 96}, C in {16, 48} (8 bit-exact runs per kernel):", "",
                "| kernel | a: per MAC | b: per output | d: per input value | f: per weight | e: per call | "
                "worst residual |",
                "|---|---|---|---|---|---|---|"]
        for kern, v in fit.items():
            out.append(f"| {kern} | {v[0]:.3f} | {v[1]:.1f} | {v[2]:.2f} | {v[3]:.2f} | {v[4]:.0f} | "
                       f"{100 * v[5]:.2f} % |")
        out += ["", "Small negative terms are fit noise for kernels that have no such cost (f is the LUT's tables "
                "and the MLA kernels' weight expansion)."]
    if fit:
        out += ["", analysis(rows, fit)]
    return "\n".join(out) + "\n"


def analysis(rows: list[dict[str, object]], fit: dict[str, list[float]]) -> str:
    """The paragraph on where the differences come from, with this run's numbers."""
    def sp(kern: str) -> str:
        v = [float(r["speedup_vs_int8"]) for r in rows if r["kernel"] == kern]  # type: ignore[arg-type]
        return f"{min(v):.2f}-{max(v):.2f}x"

    def vs_col(kern: str) -> str:
        col = {r["shape"]: r["instructions"] for r in rows if r["kernel"] == "s8_col"}
        v = [float(col[r["shape"]]) / float(r["instructions"]) for r in rows if r["kernel"] == kern]  # type: ignore
        return f"{min(v):.2f}-{max(v):.2f}x"

    f = fit
    lut_break_even = f["u2_lut"][3] / max(f["u2"][0] - f["u2_lut"][0], 1e-9)
    return (
        "**Where the speedup comes from.** The u4 and u2 SMLAD kernels are "
        f"{sp('u4')} (u4) and {sp('u2')} (u2) faster than the existing int8 kernel, but the bit width "
        "is almost none of it. Against the control `s8_col`, which runs int8 activations through the same "
        f"column, GEMM and requantization code, they gain only {vs_col('u4')} (u4) and {vs_col('u2')} (u2). "
        "The fit splits the cost into terms. "
        f"(1) The MAC loop costs the same at every bit width: {f['s8'][0]:.3f} / {f['s8_col'][0]:.3f} / "
        f"{f['u4'][0]:.3f} / {f['u2'][0]:.3f} instructions per MAC for s8 / s8_col / u4 / u2. SMLAD consumes "
        "16-bit lanes whatever the stored width, and per 16 MACs the loop is 2 LDM + 4 SXTB16 (weights) + "
        "8 SMLAD. "
        "(2) The bit width only shows in the per-activation unpacking, and that cost is shared by all "
        f"output channels: {f['s8_col'][2]:.2f} / {f['u4'][2]:.2f} / {f['u2'][2]:.2f} instructions per input "
        "value for int8 / u4 / u2. The savings are fewer loads (8 or 16 activations per word instead of 4) "
        "and one AND per lane pair instead of one SXTB16. "
        f"(3) The per-output epilogue: {f['s8'][1]:.1f} instructions for the existing int8 kernel "
        f"against {f['s8_col'][1]:.1f} for the low-bit code. Among other things the int8 GEMM tests for a "
        "fused residual ADD at every output store; the difference has not been broken down further. This "
        "term, not the bit width, is what makes u4/u2 beat "
        "`ek_conv2d_s8_gemm`. The same epilogue would speed up int8 just as much. "
        "More MACs per instruction: "
        f"the u2 lookup-table kernel does reach fewer instructions per MAC in its loop ({f['u2_lut'][0]:.3f}: "
        "one table load and one add per 4 taps x 2 channels). But its tables cost "
        f"{f['u2_lut'][3]:.0f} instructions per weight per call. Counting the MAC loop and the tables only, it "
        f"catches up with the SMLAD kernel at about {lut_break_even:.0f} pixels per call, and its per-output "
        f"cost is higher ({f['u2_lut'][1]:.1f}). It is {sp('u2_lut')} of int8 on these shapes, "
        "and patch-based inference makes calls smaller still. "
        "The MLA kernels put two pixels in one register, so one MLA is 2 MACs with no unpacking in the loop "
        "(11 instructions per 16 MACs in the asm body). They lose because of the 16-bit field flush: every "
        "16 taps for u4, every 84 for u2, each with compiler spills around the asm block "
        f"(fitted {f['u4_mla'][0]:.3f} / {f['u2_mla'][0]:.3f} instructions per MAC). They also pay for the "
        f"pixel-pair column ({f['u4_mla'][2]:.1f} instructions per value, PKHBT/PKHTB) and for expanding "
        f"int32 weights ({f['u4_mla'][3]:.1f} per weight). "
        "In short: on the Cortex-M4, in instruction counts, u4 is not faster than int8 beyond the "
        "unpacking term (a few percent). u2 gains a little more, and only a table kernel over many pixels "
        "gets below the SMLAD bound. The real gain of packed maps is SRAM: 2x (u4) or 4x (u2) smaller "
        "maps. Packing costs 11-15 instructions per value: a 256-entry table of the requantization, then "
        "shift-or. "
        "Caveat: QEMU counts instructions, not cycles. An LDM of n words counts as 1 here but takes n+1 "
        "cycles on silicon, which favours the LDM-heavy loops (all of them). A real-board DWT measurement "
        "has not been made."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lowbit_kernels")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, shape in enumerate(SHAPES):
            rows += measure(shape, Path(tmp) / f"s{i}", args.seed + i)
            print(f"{shape[0]}: done", flush=True)
        fit = decompose(Path(tmp), args.seed)
    seconds = time.time() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"machine": "qemu netduinoplus2 (Cortex-M4F), icount",
                                                         "unit": "guest instructions", "rows": rows,
                                                         "fit_terms": TERMS, "fit": fit}, indent=1))
    md = markdown(rows, seconds, fit)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
