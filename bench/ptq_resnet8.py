"""PTQ of the MLPerf Tiny float ResNet-8 by edgekit, measured on the CIFAR-10 test set.

Float model ``pretrainedResnet.tflite`` (input: raw pixels 0..255 as float), calibrated on a
seeded class-balanced subset of CIFAR-10 *train* (1,000 images by default), quantized with each
requested observer; top-1 of the float model (float executor) and of each int8 model (the
generated C in host mode) on the test images; calibration wall time; agreement of the int8
model between the TFLM wheel and edgekit host mode on the first images (bit-exact count).

    python bench/ptq_resnet8.py --json bench/results/ptq_resnet8.json --md bench/results/ptq_resnet8.md
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "mlperf_tiny" / "pretrainedResnet.tflite"
TRAIN = SHARED / "datasets" / "cifar10" / "cifar10_train_jpeg.npz"
TEST = SHARED / "datasets" / "cifar10" / "cifar10_test_jpeg.npz"


def tflm_outputs(model: bytes, batch: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    outs = []
    for x in batch:
        it.set_input(x[None], 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)).reshape(-1).copy())
    return np.stack(outs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--observers", default="minmax,percentile,mse,entropy")
    ap.add_argument("--num-calib", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None, help="test images (default: all 10,000)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tflm-check", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-dir", type=Path, default=None, help="keep the int8 models here")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "ptq_resnet8.json")
    ap.add_argument("--md", type=Path, default=REPO / "bench" / "results" / "ptq_resnet8.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from edgekit.data import load_dataset
    from edgekit.pipeline import compile_model, load_float_model
    from edgekit.quant.float_exec import FloatExecutor
    from edgekit.quant.ptq import PTQConfig, quantize_graph

    if not MODEL.exists() or not TEST.exists():
        print("needs ../shared (models/mlperf_tiny and datasets/cifar10)", file=sys.stderr)
        return 2
    fm = load_float_model(MODEL, pixel_scale=1.0, pixel_offset=0.0)
    test = load_dataset(TEST, limit=args.limit)
    calib = load_dataset(TRAIN, limit=args.num_calib, seed=0)
    labels = np.asarray(test.labels)
    t0 = time.perf_counter()
    (y_float,) = FloatExecutor(fm.graph, args.device).run(fm.preprocess.apply(test.images))
    float_top1 = 100.0 * float((y_float.argmax(1) == labels).mean())
    float_s = time.perf_counter() - t0
    print(f"float top-1 {float_top1:.2f} % on {len(test)} ({float_s:.1f} s)", flush=True)
    x_cal = fm.preprocess.apply(calib.images)
    rows = []
    for obs in [o for o in args.observers.split(",") if o]:
        res = quantize_graph(fm.graph, x_cal, fm.preprocess,
                             PTQConfig(observer=obs, device=args.device, progress=False))
        if args.save_dir is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            (args.save_dir / f"resnet8_ptq_{obs}.tflite").write_bytes(res.tflite)
        host = compile_model(res.tflite, name=f"r8_{obs}")
        xq = res.preprocess.apply(test.images)
        t1 = time.perf_counter()
        yq = host.run(xq)
        host_s = time.perf_counter() - t1
        int8_top1 = 100.0 * float((yq.argmax(1) == labels).mean())
        agree = 100.0 * float((yq.argmax(1) == y_float.argmax(1)).mean())
        n = min(args.tflm_check, len(xq))
        ref = tflm_outputs(res.tflite, xq[:n])
        exact = int((ref.reshape(n, -1) == yq[:n].reshape(n, -1)).all(axis=1).sum())
        row = {"observer": obs, "int8_top1": round(int8_top1, 2), "delta_vs_float": round(int8_top1 - float_top1, 2),
               "top1_agreement_with_float": round(agree, 2), "calibration_s": round(res.calibration.seconds, 3),
               "calibration_device": res.calibration.device, "host_eval_s": round(host_s, 1),
               "tflm_bit_exact": f"{exact}/{n}", "model_bytes": len(res.tflite)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"model": MODEL.name, "test_images": len(test), "calib_images": len(calib), "calib_split": "train",
           "float_top1": round(float_top1, 2), "reference": {"float": 75.48, "tflite_int8": 75.53},
           "threads": args.threads, "cpu": platform.processor() or platform.machine(), "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    md = [f"# PTQ of MLPerf Tiny ResNet-8 (`{MODEL.name}`)", "",
          f"{len(calib)} CIFAR-10 train images for calibration, {len(test)} test images; float top-1 "
          f"**{float_top1:.2f} %** (TFLite's own int8 conversion: 75.53 %). Calibration on "
          f"{args.device}, {args.threads} thread(s).", "",
          "| observer | int8 top-1 (generated C) | Δ vs float | top-1 agreement with float | calibration s | "
          "TFLM bit-exact |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['observer']} | {r['int8_top1']:.2f} % | {r['delta_vs_float']:+.2f} | "
                  f"{r['top1_agreement_with_float']:.2f} % | {r['calibration_s']:.2f} | {r['tflm_bit_exact']} |")
    args.md.write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
