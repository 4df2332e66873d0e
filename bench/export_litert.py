"""`edgekit export --format tflite` of the edgekit-quantized MLPerf Tiny ResNet-8, run in LiteRT.

The float ``pretrainedResnet.tflite`` is quantized by edgekit (1,000 seeded class-balanced
CIFAR-10 *train* images, pixels 0..255 as the float input, i.e. ``--pixel-scale 1``), exported
with :func:`edgekit.export.export_graph`, and run on the CIFAR-10 test images in
LiteRT (``ai-edge-litert``; reference kernels when ``--kernels ref``, XNNPACK/builtin otherwise)
and in edgekit host mode (the generated C). Reported: top-1 agreement LiteRT vs host mode, the
share of bit-identical output vectors, max |Δ| of the int8 outputs, and both top-1 accuracies.

    python bench/export_litert.py --json bench/results/export_litert.json --md bench/results/export_litert.md
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


def litert_outputs(model: bytes, batch: np.ndarray, kernels: str) -> np.ndarray:
    """Run `batch` (N × per-sample input) one sample at a time in LiteRT; int8 outputs (N × K)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {}
    if kernels == "ref":
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    elif kernels == "builtin":
        kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_content=model, num_threads=1, **kw)
    it.allocate_tensors()
    din, dout = it.get_input_details()[0], it.get_output_details()[0]
    outs = np.zeros((len(batch), int(np.prod(dout["shape"]))), dtype=dout["dtype"])
    for i, x in enumerate(batch):
        it.set_tensor(din["index"], x.reshape(din["shape"]).astype(din["dtype"]))
        it.invoke()
        outs[i] = it.get_tensor(dout["index"]).reshape(-1)
    return outs


_HOST_CACHE: dict[int, tuple[np.ndarray, float]] = {}


def compare(model: bytes, images: np.ndarray, labels: np.ndarray | None, kernels: str = "ref") -> dict:
    """LiteRT vs edgekit host mode on `images` (raw pixels) for an exported int8 model."""
    from edgekit.frontends.tflite import parse_tflite
    from edgekit.metadata import preprocess_for
    from edgekit.pipeline import compile_model

    x = preprocess_for(parse_tflite(model)).apply(images)
    key = hash((model, images.shape))
    if key not in _HOST_CACHE:  # host mode once per model and data, whatever the LiteRT kernels
        t0 = time.perf_counter()
        _HOST_CACHE[key] = (compile_model(model, name="export_check").run(x).reshape(len(x), -1),
                            time.perf_counter() - t0)
    host, host_s = _HOST_CACHE[key]
    t0 = time.perf_counter()
    lite = litert_outputs(model, x, kernels).reshape(len(x), -1)
    lite_s = time.perf_counter() - t0
    diff = np.abs(lite.astype(np.int32) - host.astype(np.int32))
    row = {"samples": len(x), "kernels": kernels,
           "top1_agreement": round(100.0 * float((lite.argmax(1) == host.argmax(1)).mean()), 2),
           "bit_identical_outputs": round(100.0 * float((diff.max(axis=1) == 0).mean()), 2),
           "max_abs_diff_lsb": int(diff.max()), "litert_s": round(lite_s, 1), "host_s": round(host_s, 1)}
    if labels is not None:
        row["litert_top1"] = round(100.0 * float((lite.argmax(1) == labels).mean()), 2)
        row["host_top1"] = round(100.0 * float((host.argmax(1) == labels).mean()), 2)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="an int8 edgekit model (default: quantize ResNet-8)")
    ap.add_argument("--num-calib", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None, help="test images (default: all 10,000)")
    ap.add_argument("--kernels", default="ref,xnnpack", help="comma list of ref, builtin, xnnpack")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "export_litert.json")
    ap.add_argument("--md", type=Path, default=REPO / "bench" / "results" / "export_litert.md")
    args = ap.parse_args(argv)
    if not TEST.exists() or (args.model is None and not MODEL.exists()):
        print("needs ../shared (models/mlperf_tiny and datasets/cifar10)", file=sys.stderr)
        return 2
    from edgekit.data import load_dataset
    from edgekit.export import export_graph
    from edgekit.frontends.tflite import parse_tflite

    if args.model is None:
        from edgekit.pipeline import quantize
        from edgekit.quant.ptq import PTQConfig

        src = quantize(MODEL, TRAIN, num_calib=args.num_calib, pixel_scale=1.0,
                            config=PTQConfig(progress=False)).tflite
        source = f"{MODEL.name} quantized by edgekit ({args.num_calib} calibration images)"
    else:
        src = args.model.read_bytes()
        source = str(args.model)
    exported = export_graph(parse_tflite(src, name="resnet8"))
    test = load_dataset(TEST, limit=args.limit)
    labels = np.asarray(test.labels)
    rows = []
    for k in [k for k in args.kernels.split(",") if k]:
        row = compare(exported.tflite, test.images, labels, k)
        rows.append(row)
        print(json.dumps(row), flush=True)
    import ai_edge_litert

    out = {"model": source, "exported_bytes": len(exported.tflite), "ops": exported.ops,
           "litert": getattr(ai_edge_litert, "__version__", "?"), "cpu": platform.processor() or platform.machine(),
           "target_top1_agreement": 99.5, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    md = ["# `edgekit export --format tflite` in LiteRT: ResNet-8", "",
          f"{source}; exported {len(exported.tflite):,} bytes; LiteRT {out['litert']}; {len(test)} CIFAR-10 "
          "test images, one at a time. Agreement = same argmax as edgekit host mode (the generated C).", "",
          "| LiteRT kernels | top-1 agreement with host mode | bit-identical outputs | max abs diff (LSB) | "
          "LiteRT top-1 | host-mode top-1 |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['kernels']} | {r['top1_agreement']:.2f} % | {r['bit_identical_outputs']:.2f} % | "
                  f"{r['max_abs_diff_lsb']} | {r.get('litert_top1', '-')} % | {r.get('host_top1', '-')} % |")
    args.md.write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
