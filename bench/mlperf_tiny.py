"""MLPerf Tiny int8 models on the emulated Cortex-M4F board: instructions, memory, flash, bit-exactness.

For each model: generate the C library, build the firmware for the emulated NUCLEO-F446RE
(QEMU netduinoplus2 with `-icount shift=0`, where TIM2 counts guest instructions exactly), run a
few seeded inputs, compare the outputs with the TFLite Micro wheel and record

* ``instructions`` per inference (QEMU icount; the same for every input), ``instructions_per_mac``
* ``arena_bytes`` (the generated arena), ``peak_sram_bytes`` (data + bss of the firmware: arena,
  statics and the reserved stack)
* ``flash_bytes`` (text + data of the whole firmware) and ``model_flash_bytes`` (the model's
  code, constants and kernels, from the ELF symbol table)
* ``bitexact``: device outputs == TFLite Micro outputs
* ``layers``: per-layer instructions (for every model; the slowest is also in the markdown)

    python bench/mlperf_tiny.py --json bench/results/mlperf_tiny.json --md bench/results/mlperf_tiny.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
MODELS = REPO.parent / "shared" / "models" / "mlperf_tiny"
STEMS = ["pretrainedResnet_quant", "vww_96_int8", "kws_ref_model", "ad01_int8"]

# TFLite Micro + CMSIS-NN on Cortex-M4F (issue 5): instructions, MACs, reference-kernel
# instructions, arena (bisected minimum on M4), firmware text + data.
ANCHOR = {
    "pretrainedResnet_quant": dict(macs=12_501_632, instructions=29_864_119, ref_instructions=107_401_503,
                                   arena_bytes=55_008, flash_bytes=178_652),
    "vww_96_int8": dict(macs=7_489_664, instructions=24_101_936, ref_instructions=100_249_504,
                        arena_bytes=100_720, flash_bytes=418_584),
    "kws_ref_model": dict(macs=2_656_768, instructions=7_697_868, ref_instructions=43_040_116,
                          arena_bytes=22_832, flash_bytes=139_232),
    "ad01_int8": dict(macs=264_192, instructions=582_970, ref_instructions=1_952_481,
                      arena_bytes=3_024, flash_bytes=309_992),
}
TARGET_INSTR = 0.7
TARGET_ARENA = 0.8


def _nm_defined(path: Path) -> set[str]:
    out = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {ln.split()[-1] for ln in out.splitlines() if len(ln.split()) >= 3}


def model_flash_bytes(build, lib_names: tuple[str, ...]) -> int:
    """Bytes of flash (text/rodata/data) taken by symbols defined in the model and runtime libraries."""
    env_dir = build.elf.parent
    names: set[str] = set()
    for lib in env_dir.glob("lib*"):
        for obj in lib.rglob("*.o"):
            if any(n in obj.parts for n in lib_names) or any(n in str(obj) for n in lib_names):
                names |= _nm_defined(obj)
    out = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(build.elf)], capture_output=True,
                         text=True, check=True).stdout
    total = 0
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 4 and parts[3] in names and parts[2] in "tTrRdD":
            total += int(parts[1], 16)
    return total


def measure(stem: str, work: Path, n_inputs: int, board_name: str) -> dict:
    from edgekit.analyze import analyze_graph
    from edgekit.data import random_inputs
    from edgekit.device.session import run_library
    from edgekit.frontends.tflite import load_tflite
    from edgekit.pipeline import generate
    from edgekit.targets import get_board
    from tests.oracle import tflm_run

    path = MODELS / f"{stem}.tflite"
    analysis, _ = analyze_graph(load_tflite(path))
    name = "m_" + "".join(c for c in stem if c.isalnum())[:24]
    t0 = time.monotonic()
    lib = generate(path, work / stem / "lib", name)
    board = get_board(board_name)
    shape = tuple(lib.info.input.shape)
    x = random_inputs(shape, lib.info.input.dtype, n_inputs, seed=1234)
    builds = []
    run = run_library(lib, board, x, emulate=True, work_dir=work / stem / "fw", per_layer=True, progress=False,
                      on_build=builds.append)
    build = builds[0]
    ref = tflm_run(path, x)
    dev = run.outputs.reshape(ref.shape)
    bitexact = bool(np.array_equal(dev, ref))
    instr = int(run.ticks.max())
    layers = run.layer_ticks[0].tolist() if run.layer_ticks is not None else []
    anchor = ANCHOR[stem]
    macs = int(analysis.macs)
    row = {
        "model": stem, "board": board.name, "emulator": "qemu netduinoplus2 -icount shift=0",
        "macs": macs, "instructions": instr, "instructions_min": int(run.ticks.min()),
        "instructions_per_mac": round(instr / max(macs, 1), 4),
        "arena_bytes": int(lib.info.arena_bytes), "peak_sram_bytes": int(build.data_bytes + build.bss_bytes),
        "flash_bytes": int(build.rom_bytes), "text_bytes": build.text_bytes, "data_bytes": build.data_bytes,
        "bss_bytes": build.bss_bytes, "model_flash_bytes": model_flash_bytes(build, (name, "edgekit_runtime")),
        "weights_bytes": int(lib.info.weights_bytes), "bitexact": bitexact, "n_inputs": int(len(x)),
        "anchor": anchor,
        "ratio_instructions": round(instr / anchor["instructions"], 4),
        "ratio_arena": round(lib.info.arena_bytes / anchor["arena_bytes"], 4),
        "ratio_flash": round(build.rom_bytes / anchor["flash_bytes"], 4),
        "layers": [{"name": n, "instructions": int(t)} for n, t in zip(run.layer_names, layers, strict=False)],
        "seconds": round(time.monotonic() - t0, 1),
    }
    row["meets"] = {
        "instructions": row["ratio_instructions"] <= TARGET_INSTR, "arena": row["ratio_arena"] <= TARGET_ARENA,
        "flash": row["ratio_flash"] < 1.0, "bitexact": bitexact,
    }
    return row


def markdown(rows: list[dict]) -> str:
    out = [
        "| model | MACs | instructions | per MAC | TFLM+CMSIS-NN | ratio (≤0.70) | arena (B) | TFLM arena "
        "| ratio (≤0.80) | peak SRAM (B) | flash (B) | TFLM flash | ratio (<1) | model flash (B) | bit-exact |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        a = r["anchor"]
        out.append(
            f"| {r['model']} | {r['macs']:,} | {r['instructions']:,} | {r['instructions_per_mac']:.2f} "
            f"| {a['instructions']:,} | {r['ratio_instructions']:.3f} | {r['arena_bytes']:,} | {a['arena_bytes']:,} "
            f"| {r['ratio_arena']:.3f} | {r['peak_sram_bytes']:,} | {r['flash_bytes']:,} | {a['flash_bytes']:,} "
            f"| {r['ratio_flash']:.3f} | {r['model_flash_bytes']:,} | {'yes' if r['bitexact'] else 'NO'} |")
    if rows:
        slow = max(rows, key=lambda r: r["instructions"])
        out += ["", f"Per-layer instructions, {slow['model']} (slowest):", "",
                "| # | layer | instructions | share |", "|---:|---|---:|---:|"]
        tot = max(sum(x["instructions"] for x in slow["layers"]), 1)
        for i, x in enumerate(slow["layers"]):
            out.append(f"| {i} | {x['name']} | {x['instructions']:,} | {100 * x['instructions'] / tot:.1f}% |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "mlperf_tiny.json")
    ap.add_argument("--md", type=Path, default=None)
    ap.add_argument("--models", nargs="*", default=STEMS)
    ap.add_argument("--inputs", type=int, default=3, help="seeded inputs per model")
    ap.add_argument("--board", default="nucleo")
    ap.add_argument("--work", type=Path, default=None, help="keep the generated projects here")
    args = ap.parse_args(argv)
    if not MODELS.exists():
        print(f"needs {MODELS} (../shared)", file=sys.stderr)
        return 2
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        print("needs arm-none-eabi-gcc and qemu-system-arm", file=sys.stderr)
        return 2
    tmp = None
    work = args.work
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="ek_bench_")
        work = Path(tmp.name)
    rows = []
    for stem in args.models:
        r = measure(stem, work, args.inputs, args.board)
        print(f"{stem}: {r['instructions']:,} instr ({r['ratio_instructions']:.3f}x), arena {r['arena_bytes']:,}, "
              f"flash {r['flash_bytes']:,}, bitexact {r['bitexact']}", file=sys.stderr)
        rows.append(r)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({r["model"]: r for r in rows}, indent=1))
    md = markdown(rows)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(md)
    print(md)
    if tmp is not None:
        tmp.cleanup()
    return 0 if all(r["bitexact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
