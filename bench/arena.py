"""Arena and weight bytes per MLPerf Tiny model: edgekit's planner beside TFLite Micro.

TFLite Micro's arena is measured, not quoted: the smallest `arena_size` with which the pinned
`tflite-micro` wheel still allocates the model (bisection). Writes JSON and a markdown table.

    python bench/arena.py --json bench/results/arena.json --md bench/results/arena.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf_tiny"
STEMS = ["pretrainedResnet_quant", "vww_96_int8", "kws_ref_model", "ad01_int8"]


@contextlib.contextmanager
def _quiet_fd2():
    """TFLM reports failed allocations on C-level stderr; hide them during the bisection."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def tflm_min_arena(path: Path) -> int:
    from tflite_micro.python.tflite_micro import runtime

    def fits(n: int) -> bool:
        try:
            runtime.Interpreter.from_file(str(path), arena_size=n)
            return True
        except Exception:  # noqa: BLE001 - TFLM raises RuntimeError-like errors of its own
            return False

    lo, hi = 64, 1 << 22
    with _quiet_fd2():
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
    return lo


def measure(stem: str) -> dict:
    from edgekit.analyze import analyze_graph
    from edgekit.frontends.tflite import load_tflite

    path = MODELS / f"{stem}.tflite"
    graph = load_tflite(path)
    analysis, _ = analyze_graph(graph)
    tflm = tflm_min_arena(path)
    return {
        "model": stem, "macs": analysis.macs, "params": analysis.params,
        "edgekit_arena_bytes": analysis.arena_bytes, "edgekit_arena_lower_bound": analysis.arena_lower_bound,
        "edgekit_weights_bytes": analysis.weights_bytes, "tflm_arena_bytes": tflm,
        "arena_ratio": round(analysis.arena_bytes / tflm, 4), "kernels_available": analysis.lowered,
        "model_file_bytes": path.stat().st_size,
    }


def markdown(rows: list[dict]) -> str:
    out = [
        "| model | MACs | edgekit arena (B) | lower bound (B) | TFLM arena (B, bisected, x86-64 wheel) "
        "| ratio | weights (B) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(f"| {r['model']} | {r['macs']:,} | {r['edgekit_arena_bytes']:,} "
                   f"| {r['edgekit_arena_lower_bound']:,} | {r['tflm_arena_bytes']:,} | {r['arena_ratio']:.3f} "
                   f"| {r['edgekit_weights_bytes']:,} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "arena.json")
    ap.add_argument("--md", type=Path, default=REPO / "bench" / "results" / "arena.md")
    args = ap.parse_args(argv)
    if not MODELS.exists():
        print(f"needs {MODELS} (../shared)", file=sys.stderr)
        return 2
    rows = [measure(s) for s in STEMS]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({r["model"]: r for r in rows}, indent=1))
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
