"""Int8 PTQ of the CIFAR-10 zoo models: float top-1 (torch) vs int8 top-1 of the generated C.

    python bench/zoo_ptq.py [--models resnet8 mobilenetv2_64 ...] [--num-calib 1000] [--limit N]

Calibration: N class-balanced CIFAR-10 *train* images; evaluation: the CIFAR-10 test images (all
10,000 unless --limit). Models whose ops have no int8 C kernel yet (the transformer ops of the ViT
and the hybrid) are reported as such, with the op that stops them, plus a *simulated* W8A8
top-1 (fake-quant in torch, :mod:`edgekit.quant.simulate`; not deployable yet) on the same test
images and calibration images. Writes bench/results/zoo_ptq.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CIFAR = REPO.parent / "shared" / "datasets" / "cifar10"
MODELS = ["resnet8", "mobilenetv2_64", "mobilevit_xxs", "deit_tiny"]


def measure(name: str, num_calib: int, limit: int | None, tmp: Path) -> dict:
    import torch

    from edgekit.data import load_dataset
    from edgekit.errors import EdgekitError
    from edgekit.pipeline import evaluate, quantize
    from edgekit.zoo import get_entry, save_for_frontend

    torch.set_num_threads(1)
    row: dict = {"model": name}
    if not get_entry(name).weights.exists():
        return {**row, "error": "no trained weights committed"}
    ckpt = save_for_frontend(name, tmp / f"{name}.pt")
    test = load_dataset(CIFAR / "cifar10_test_jpeg.npz", limit=limit)
    t0 = time.perf_counter()
    row["float_top1"] = evaluate(ckpt, test).top1
    row["float_eval_s"] = round(time.perf_counter() - t0, 1)
    try:
        t0 = time.perf_counter()
        res = quantize(ckpt, CIFAR / "cifar10_train_jpeg.npz", num_calib=num_calib)
        row["calibration_s"] = round(time.perf_counter() - t0, 1)
    except EdgekitError as err:
        row.update(int8_top1=None, error=str(err).splitlines()[0])
        return {**row, **simulated(ckpt, test, num_calib)}
    q = tmp / f"{name}_int8.tflite"
    q.write_bytes(res.tflite)
    row["int8_top1"] = evaluate(q, test, work_dir=tmp / name).top1
    row["delta"] = round(row["int8_top1"] - row["float_top1"], 2)
    row["samples"] = len(test)
    return row


def simulated(ckpt: Path, test, num_calib: int) -> dict:
    """W8A8 fake-quant top-1 (same calibration images as quantize_file) for an undeployable model."""
    import numpy as np

    from edgekit.data import load_dataset
    from edgekit.pipeline import load_float_model
    from edgekit.quant.simulate import LABEL, simulate_ptq

    t0 = time.perf_counter()
    fm = load_float_model(ckpt)
    calib = load_dataset(CIFAR / "cifar10_train_jpeg.npz", limit=num_calib, seed=0)
    sim = simulate_ptq(fm.graph, fm.preprocess.apply(calib.images[:num_calib]), "minmax",
                       preprocess=fm.preprocess, progress=True)
    (logits,) = sim.run(fm.preprocess.apply(test.images))
    preds = np.asarray(logits).reshape(len(test), -1).argmax(axis=1)
    top1 = round(100.0 * float((preds == np.asarray(test.labels)).mean()), 2)
    return {"sim_int8_top1": top1, "sim_label": LABEL, "sim_calibration_images": len(calib),
            "sim_s": round(time.perf_counter() - t0, 1), "samples": len(test)}


def markdown(rows: list[dict], num_calib: int) -> str:
    out = [f"# Int8 PTQ of the CIFAR-10 zoo ({num_calib} calibration images, minmax observer)", "",
           "| model | float top-1 | int8 top-1 (generated C) | Δ | sim_int8_top1 (simulated (fake-quant), "
           "not deployable yet) | test images | note |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        f = f"{r['float_top1']:.2f} %" if r.get("float_top1") is not None else "-"
        i = f"{r['int8_top1']:.2f} %" if r.get("int8_top1") is not None else "-"
        d = f"{r['delta']:+.2f}" if r.get("delta") is not None else "-"
        s = "-"
        if r.get("sim_int8_top1") is not None:
            s = f"{r['sim_int8_top1']:.2f} % ({r['sim_int8_top1'] - r['float_top1']:+.2f})"
        out.append(f"| {r['model']} | {f} | {i} | {d} | {s} | {r.get('samples', '-')} | {r.get('error', '')} |")
    out += ["", "sim_int8_top1: simulated (fake-quant in torch), not deployable yet: W8A8, int8 per-channel "
            "symmetric weights (conv/FC/matmul with a constant), int8 per-tensor asymmetric activations on "
            "every activation tensor (same calibration images and observer), float arithmetic otherwise "
            "(LAYER_NORM, GELU, attention). Δ in brackets is against float."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--num-calib", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "zoo_ptq")
    args = ap.parse_args(argv)
    if not CIFAR.exists():
        print(f"needs {CIFAR} (../shared)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="edgekit-zoo-ptq-") as tmp:
        rows = [measure(m, args.num_calib, args.limit, Path(tmp)) for m in args.models]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    args.out.with_suffix(".md").write_text(markdown(rows, args.num_calib))
    print(markdown(rows, args.num_calib))
    return 0


if __name__ == "__main__":
    sys.exit(main())
