"""Q-HyViT against the ViT PTQ baselines on the zoo hybrids, full quantization, and the deployed result.

    python bench/qhyvit.py --model mobilevit_xxs|efficientformer_xs [--calib 32,1000] [--bits W8A8,W6A6,W4A8]
        [--methods ...] [--limit 10000] [--no-deploy] [--no-ablation]
        (writes bench/results/qhyvit_MODEL.json and .md, after every row)

* **Table**: top-1 on the CIFAR-10 test set (all 10,000 images by default) of the float model and of
  every method at every bit width, in the full quantization simulation
  (:mod:`edgekit.quant.fakequant`: the deployable integer graph op for op, every activation
  quantized, the residual stream 16-bit), for each calibration set size N: the same class-balanced
  draw of N training images (seed 0) for every method; ranges (per tensor and per channel) from all
  N images, searches scored on the first 32 of them in file order (the papers' 32). Method time on
  the CPU.
* **Ablation** (Q-HyViT, 32 images): scale search only; + granularity; + scheme; + bridge blocks;
  and the public code's heuristic (groups-based granularity, symmetric only).
* **Deployed**: Q-HyViT W8A8 and W4A8 with only deployable quantizers (per-tensor activations;
  per-channel LayerNorm outputs folded RepQ-style), lowered to the integer-only graph: top-1 of the
  generated C in host mode against the simulation of the same config, C vs the Python integer
  reference, the emulated NUCLEO-F446RE (instructions, flash, RAM, device vs host bit-exactness),
  and the weight bytes of W4 (packed int4) against W8.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10"
BASELINES = ("minmax", "percentile", "omse", "easyquant", "ptq4vit", "repqvit", "fqvit")


def _top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return round(100.0 * float((logits.reshape(len(labels), -1).argmax(1) == labels).mean()), 2)


def _weight_bytes(graph) -> int:  # type: ignore[no-untyped-def]
    from edgekit.quant.fakequant import WEIGHTED_OPS

    return sum(graph.tensors[n.inputs[1]].nbytes for n in graph.nodes if n.op in WEIGHTED_OPS)


def deployed(fm, x_cal, x_test, labels, bits: str, work: Path, device_images: int) -> dict:  # type: ignore[no-untyped-def]
    from edgekit import pipeline
    from edgekit.device.session import run_library
    from edgekit.quant.fakequant import FakeQuantModel, parse_bits
    from edgekit.quant.int_exec import IntExecutor
    from edgekit.quant.methods import integer_graph, quantize_method
    from edgekit.targets import get_board

    w, a = parse_bits(bits)
    found = quantize_method(fm.graph, x_cal, fm.preprocess, "qhyvit", w, a, deployable=True, progress=False)
    res = integer_graph(found, fm.graph.name, fm.preprocess)
    path = work / f"qhyvit_{bits}.tflite"
    path.write_bytes(res.tflite)
    graph = pipeline.load(path)
    s, z = res.preprocess.input_scale, res.preprocess.input_zero_point
    x_int = np.clip(np.round(x_test / s) + z, -128, 127).astype(np.int8)
    host = pipeline.compile_model(graph, f"qh_{bits.lower()}", work / f"host_{bits}")
    c_out = np.concatenate([host.run(x_int[i:i + 1]) for i in range(len(x_int))]).reshape(len(x_int), -1)
    sim = FakeQuantModel(found.config).run(x_test)
    n_ref = min(500, len(x_int))
    ref = np.concatenate([IntExecutor(graph).run(x_int[i:i + 100])[0] for i in range(0, n_ref, 100)])
    row = {"bits": bits, "search_s": round(found.seconds, 1), "notes": found.config.notes,
           "simulated_top1": _top1(sim, labels), "host_c_top1": _top1(c_out, labels),
           "c_bitexact_with_reference": bool(np.array_equal(ref.reshape(n_ref, -1), c_out[:n_ref])),
           "reference_images": n_ref, "weight_bytes": _weight_bytes(graph), "model_file_bytes": len(res.tflite)}
    row["sim_minus_c"] = round(row["simulated_top1"] - row["host_c_top1"], 2)
    if device_images:
        lib = pipeline.generate(path, work / f"lib_{bits}", f"qh_{bits.lower()}")
        run = run_library(lib, get_board("nucleo"), x_int[:device_images], emulate=True, work_dir=work / f"fw_{bits}",
                          per_layer=False, progress=False)
        row["device"] = {"instructions": int(run.ticks.max()), "rom_bytes": int(run.rom_bytes),
                         "ram_bytes": int(run.ram_bytes), "arena_bytes": int(lib.info.arena_bytes),
                         "images": device_images,
                         "bitexact_with_host": bool(np.array_equal(run.outputs.reshape(device_images, -1),
                                                                   c_out[:device_images]))}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilevit_xxs", choices=["mobilevit_xxs", "efficientformer_xs", "deit_tiny"])
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("--calib", default="32,1000")
    ap.add_argument("--bits", default="W8A8,W6A6,W4A8")
    ap.add_argument("--methods", default=",".join(BASELINES + ("qhyvit",)))
    ap.add_argument("--device-images", type=int, default=5)
    ap.add_argument("--no-deploy", action="store_true")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args(argv)
    args.json = args.json or ROOT / "bench" / "results" / f"qhyvit_{args.model}.json"
    args.md = args.md or ROOT / "bench" / "results" / f"qhyvit_{args.model}.md"

    import torch

    from edgekit import pipeline
    from edgekit.data import load_dataset
    from edgekit.quant.fakequant import FakeQuantModel, parse_bits
    from edgekit.quant.float_exec import FloatExecutor
    from edgekit.quant.methods import quantize_method
    from edgekit.zoo import save_for_frontend

    torch.set_num_threads(1)
    row: dict = json.loads(args.json.read_text()) if args.json.exists() else {}
    row.update({"model": args.model, "machine": "2-core CPU (one thread per bench process)"})
    row.setdefault("table", {})
    row.setdefault("ablation", {})

    def save() -> None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(row, indent=2) + "\n")
        args.md.write_text(markdown(row))

    with tempfile.TemporaryDirectory(prefix="edgekit-qhyvit-") as tmp:
        work = Path(tmp)
        fm = pipeline.load_float_model(save_for_frontend(args.model, work / f"{args.model}.pt"))
        test = load_dataset(CIFAR / "cifar10_test_jpeg.npz", limit=args.limit, seed=0)
        labels = np.asarray(test.labels)
        x_test = fm.preprocess.apply(test.images)
        row["test_images"] = len(test)
        row["float_top1"] = _top1(FloatExecutor(fm.graph).run(x_test)[0], labels)
        sizes = [int(v) for v in args.calib.split(",")]

        def calib_images(n: int) -> np.ndarray:
            return fm.preprocess.apply(load_dataset(CIFAR / "cifar10_train_jpeg.npz", limit=n, seed=0).images)

        x_32 = calib_images(32)
        save()
        for n in sizes:
            x_all = x_32 if n == 32 else calib_images(n)
            for bits in [b for b in args.bits.split(",") if b]:
                w, a = parse_bits(bits)
                for method in args.methods.split(","):
                    found = quantize_method(fm.graph, x_all, fm.preprocess, method, w, a, progress=False)
                    top1 = _top1(FakeQuantModel(found.config).run(x_test), labels)
                    row["table"][f"{n}/{bits}/{method}"] = {
                        "calibration_images": n, "bits": bits, "method": method, "top1": top1,
                        "seconds": round(found.seconds, 1), "device": found.device,
                        "search_images": found.search_images, "deployable": found.config.deployable,
                        "notes": {k: v for k, v in found.config.notes.items() if k != "bridge_blocks"}}
                    row["bridge_blocks"] = found.config.notes.get("bridge_blocks", row.get("bridge_blocks"))
                    print(n, bits, method, top1, round(found.seconds, 1), flush=True)
                    save()
        if not args.no_ablation:
            for bits in ("W6A6",):
                w, a = parse_bits(bits)
                for variant in ("scale", "granularity", "scheme", "paper", "code"):
                    found = quantize_method(fm.graph, x_32, fm.preprocess, "qhyvit", w, a, variant=variant,
                                            progress=False)
                    top1 = _top1(FakeQuantModel(found.config).run(x_test), labels)
                    row["ablation"][f"{bits}/{variant}"] = {"bits": bits, "variant": variant, "top1": top1,
                                                            "seconds": round(found.seconds, 1),
                                                            "notes": found.config.notes}
                    print("ablation", bits, variant, top1, flush=True)
                    save()
        if not args.no_deploy:
            row["deployed"] = {}
            for bits in ("W8A8", "W4A8"):
                row["deployed"][bits] = deployed(fm, x_32, x_test, labels, bits, work, args.device_images)
                print("deployed", row["deployed"][bits], flush=True)
                save()
            w8, w4 = row["deployed"]["W8A8"]["weight_bytes"], row["deployed"]["W4A8"]["weight_bytes"]
            row["w4_weight_flash_cut"] = round(100.0 * (1 - w4 / w8), 1)
            save()
    print(markdown(row))
    return 0


def _same(d: dict) -> str:
    return f"{'yes' if d.get('bitexact_with_host') else 'NO'} ({d.get('images')})" if d else ""


def markdown(r: dict) -> str:
    out = [f"# Q-HyViT and the ViT PTQ baselines: {r['model']} (CIFAR-10, {r.get('test_images', 0):,} test images)",
           "", "Full quantization, simulated (fake-quant in torch) on the deployable integer graph: every activation "
           "quantized (softmax, LayerNorm, GELU/SiLU outputs, attention operands), residual stream 16-bit, weights "
           "per-channel symmetric. Calibration: one class-balanced draw of N training images (seed 0), the same "
           "for every method; ranges from all N, searches score candidates on the first 32 of them. "
           "Seconds: calibration + search on the CPU (1 thread).",
           "", f"Float: **{r.get('float_top1', float('nan')):.2f} %**. Bridge blocks found (first, last node): "
           f"{r.get('bridge_blocks')}", ""]
    table = r.get("table", {})
    sizes = sorted({v["calibration_images"] for v in table.values()})
    bits_all = [b for b in ("W8A8", "W6A6", "W4A8", "W4A4") if any(v["bits"] == b for v in table.values())]
    methods = list(dict.fromkeys(v["method"] for v in table.values()))
    for n in sizes:
        out += [f"## {n} calibration images", "", "| method | " + " | ".join(bits_all) + " | seconds |",
                "|---|" + "---:|" * (len(bits_all) + 1)]
        for m in methods:
            cells, secs = [], []
            for b in bits_all:
                v = table.get(f"{n}/{b}/{m}")
                cells.append("" if v is None else f"{v['top1']:.2f}")
                if v is not None:
                    secs.append(v["seconds"])
            name = f"**{m}**" if m == "qhyvit" else m
            out.append(f"| {name} | " + " | ".join(cells) + f" | {' / '.join(str(s) for s in secs)} |")
        out.append("")
    if r.get("ablation"):
        out += ["## Ablation (Q-HyViT, 32 calibration images)", "", "| variant | bits | top-1 | seconds | choices |",
                "|---|---|---:|---:|---|"]
        for v in r["ablation"].values():
            out.append(f"| {v['variant']} | {v['bits']} | {v['top1']:.2f} | {v['seconds']} | "
                       f"{v['notes'].get('choices', '')} |")
        out.append("")
    dep = r.get("deployed")
    if dep:
        out += ["## Deployed Q-HyViT (deployable quantizers only, integer-only graph)", "",
                "| bits | simulated | generated C (host) | sim − C | C = integer reference | weight bytes | "
                "instructions (F446RE) | ROM | RAM | device = host |",
                "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
        for b, v in dep.items():
            d = v.get("device", {})
            out.append(f"| {b} | {v['simulated_top1']:.2f} | {v['host_c_top1']:.2f} | {v['sim_minus_c']:+.2f} | "
                       f"{'yes' if v['c_bitexact_with_reference'] else 'NO'} ({v['reference_images']}) | "
                       f"{v['weight_bytes']:,} | {d.get('instructions', 0):,} | {d.get('rom_bytes', 0):,} | "
                       f"{d.get('ram_bytes', 0):,} | "
                       f"{_same(d)} |")
        if "w4_weight_flash_cut" in r:
            out += ["", f"W4 (packed int4) weights cut the weight flash by {r['w4_weight_flash_cut']} % against W8."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
