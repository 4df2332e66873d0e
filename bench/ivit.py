"""I-ViT integer-only zoo transformers: accuracy, per-op error, bit-exactness, device cost.

    python bench/ivit.py [--model deit_tiny|mobilevit_xxs|efficientformer_xs] [--limit 10000]
        (writes bench/results/ivit_MODEL.json and .md)

Measures, on the CIFAR-10 test set of ``../shared`` (all 10,000 images by default):

* top-1 of the float model (torch), the simulated W8A8 model (fake-quant in torch,
  :mod:`edgekit.quant.simulate`; LayerNorm/softmax/GELU in float) and the integer-only model
  (``edgekit quantize --method ivit``; the generated C in host mode), 1,000 class-balanced
  calibration images from the training set;
* the generated C against the Python integer reference (:mod:`edgekit.quant.int_exec`) on the
  first ``--ref-images`` test images, bit for bit;
* each integer op type's error against the float function it replaces, op by op (the op's
  float input quantized to its integer input, its integer output dequantized), over the test
  images' activations: max and mean absolute error, in real units and in output LSBs;
* on the emulated NUCLEO-F446RE (QEMU, instruction counts): instructions per inference, the split
  by op type, flash and RAM, device vs host bit-exactness on ``--device-images`` images; and the
  float32 build of the same model (``--precision float32``) when it can be built.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CIFAR = ROOT.parent / "shared" / "datasets" / "cifar10"


def _top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return round(100.0 * float((logits.reshape(len(labels), -1).argmax(1) == labels).mean()), 2)


def _float_fn(op: str, node, args: list[np.ndarray], graph) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The exact float function an integer op approximates, on dequantized inputs."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(args[0])
    if op == "EK_SHIFTMAX":
        return torch.softmax(x * float(node.attrs.get("beta", 1.0)), -1).numpy()
    if op == "EK_SHIFTGELU":
        alpha = float(node.attrs.get("alpha", 1.702))
        return (F.gelu(x) if abs(alpha - 1.702) < 1e-6 else F.silu(x)).numpy()
    if op == "EK_LAYERNORM":
        g = torch.from_numpy(graph.tensors[node.inputs[1]].data.astype(np.float64))
        b = torch.from_numpy(graph.tensors[node.inputs[2]].data.astype(np.float64))
        return F.layer_norm(x, (x.shape[-1],), g, b, float(node.attrs.get("epsilon", 1e-5))).numpy()
    if op == "EK_RESIDUAL_ADD":
        return args[0] + args[1]
    raise ValueError(op)


def op_errors(qgraph, prepared, x_float: np.ndarray) -> dict:  # type: ignore[no-untyped-def]
    """Per integer op type: |integer op − float function| on the float model's own activations,
    where the float result is inside the op's calibrated output range (and the share beyond it)."""
    from edgekit.ops.registry import get_op
    from edgekit.quant.float_exec import FloatExecutor

    _, acts = FloatExecutor(prepared).run(x_float, keep=True)
    by_name = {t.name: tid for tid, t in enumerate(prepared.tensors)}
    stats: dict[str, dict] = defaultdict(lambda: {"max_abs": 0.0, "sum_abs": 0.0, "n": 0, "max_lsb": 0.0})
    for node in qgraph.nodes:
        if not node.op.startswith("EK_"):
            continue
        ints, reals = [], []
        for pos, tid in enumerate(node.inputs):
            t = qgraph.tensors[tid]
            if t.is_const:
                ints.append(None)
                if pos == 1 and node.op == "EK_RESIDUAL_ADD":
                    q = t.quant
                    reals.append((t.data.astype(np.float64) - q.scalar_zero_point) * q.scalar_scale)
                continue
            real = np.asarray(acts[by_name[t.name]], dtype=np.float64)
            s, z = t.quant.scalar_scale, t.quant.scalar_zero_point
            info = np.iinfo(t.dtype)
            q = np.clip(np.round(real / s) + z, info.min, info.max).astype(t.dtype)
            ints.append(q)
            reals.append((q.astype(np.float64) - z) * s)
        (out_int,) = get_op(node).run_int(qgraph, node, ints)
        y = qgraph.tensors[node.outputs[0]]
        got = (out_int.astype(np.float64) - y.quant.scalar_zero_point) * y.quant.scalar_scale
        want = _float_fn(node.op, node, reals, qgraph)
        info = np.iinfo(y.dtype)
        lo = (info.min - y.quant.scalar_zero_point) * y.quant.scalar_scale
        hi = (info.max - y.quant.scalar_zero_point) * y.quant.scalar_scale
        inside = (want >= lo) & (want <= hi)  # the calibrated output range; beyond it the output clips
        st = stats[node.op]
        st["clipped"] = st.get("clipped", 0) + int((~inside).sum())
        err = np.abs(got - want)[inside]
        if err.size == 0:
            continue
        st["max_abs"] = max(st["max_abs"], float(err.max()))
        st["sum_abs"] += float(err.sum())
        st["n"] += int(err.size)
        st["max_lsb"] = max(st["max_lsb"], float(err.max() / y.quant.scalar_scale))
    return {op: {"max_abs": round(v["max_abs"], 5), "mean_abs": round(v["sum_abs"] / max(v["n"], 1), 6),
                 "max_output_lsb": round(v["max_lsb"], 2),
                 "clipped_fraction": round(v.get("clipped", 0) / max(v["n"] + v.get("clipped", 0), 1), 6)}
            for op, v in stats.items()}


def _op_type(label: str) -> str:
    op = label.split("+")[0].split("#")[0]
    return {"EK_SHIFTMAX": "Shiftmax", "EK_SHIFTGELU": "ShiftGELU", "EK_LAYERNORM": "I-LayerNorm",
            "EK_RESIDUAL_ADD": "residual add (int16)", "BATCH_MATMUL": "attention matmuls",
            "FULLY_CONNECTED": "linear (FC)", "CONV_2D": "convolutions", "DEPTHWISE_CONV_2D": "convolutions",
            "ADD": "int8 add", "AVERAGE_POOL_2D": "pooling"}.get(op, "data movement")


def device_figures(model: Path, x: np.ndarray, work: Path, float_model: Path | None,
                   x_float: np.ndarray | None = None) -> dict:
    """The integer model on the emulated NUCLEO-F446RE; the float32 build on the NUCLEO-L4R5ZI."""
    from edgekit.device.session import run_library
    from edgekit.pipeline import compile_model, generate
    from edgekit.targets import get_board

    board = get_board("nucleo")
    lib = generate(model, work / "lib", "deit_ivit")
    run = run_library(lib, board, x, emulate=True, work_dir=work / "fw", per_layer=True, progress=False)
    host = compile_model(model, "deit_ivit", work / "host")
    host_out = np.concatenate([host.run(x[i:i + 1]) for i in range(len(x))])
    split: dict[str, int] = defaultdict(int)
    if run.layer_ticks is not None:
        for name, t in zip(run.layer_names, run.layer_ticks[0].tolist(), strict=False):
            split[_op_type(name)] += int(t)
    out = {"instructions": int(run.ticks.max()), "instructions_min": int(run.ticks.min()),
           "rom_bytes": int(run.rom_bytes), "ram_bytes": int(run.ram_bytes), "arena_bytes": int(lib.info.arena_bytes),
           "device_images": len(x),
           "device_bitexact_with_host": bool(np.array_equal(run.outputs.reshape(host_out.shape), host_out)),
           "split": dict(sorted(split.items(), key=lambda kv: -kv[1]))}
    if float_model is not None:  # float32 weights (4 B each) outgrow the F446RE: the 2 MiB-flash Cortex-M4 board
        out["float32"] = float32_figures(float_model, work / "f32", get_board("nucleo-l4r5zi"), x_float)
    return out


def float32_figures(float_model: Path, work: Path, board, x: np.ndarray) -> dict:  # type: ignore[no-untyped-def]
    """The unquantized model on the same board (float32 kernels, FPU), when edgekit can build it."""
    try:
        from edgekit.device.session import run_library
        from edgekit.pipeline import generate

        lib = generate(float_model, work / "lib", "deit_f32", precision="float32")
        run = run_library(lib, board, x, emulate=True, work_dir=work / "fw", per_layer=False, progress=False)
        return {"instructions": int(run.ticks.max()), "images": len(x), "rom_bytes": int(run.rom_bytes),
                "ram_bytes": int(run.ram_bytes),
                "board": board.name}
    except Exception as err:  # noqa: BLE001 - the baseline is optional: say why it is missing
        return {"error": f"{type(err).__name__}: {err}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10_000)
    ap.add_argument("--num-calib", type=int, default=1000)
    ap.add_argument("--ref-images", type=int, default=1000)
    ap.add_argument("--device-images", type=int, default=20)
    ap.add_argument("--error-images", type=int, default=100)
    ap.add_argument("--no-device", action="store_true")
    ap.add_argument("--model", default="deit_tiny", choices=["deit_tiny", "mobilevit_xxs", "efficientformer_xs"])
    ap.add_argument("--json", type=Path, default=None, help="default bench/results/ivit_MODEL.json")
    ap.add_argument("--md", type=Path, default=None, help="default bench/results/ivit_MODEL.md")
    args = ap.parse_args(argv)
    args.json = args.json or ROOT / "bench" / "results" / f"ivit_{args.model}.json"
    args.md = args.md or ROOT / "bench" / "results" / f"ivit_{args.model}.md"

    from edgekit import pipeline
    from edgekit.data import load_dataset
    from edgekit.quant.int_exec import IntExecutor
    from edgekit.quant.ptq import PTQConfig
    from edgekit.quant.simulate import simulate_ptq
    from edgekit.zoo import save_for_frontend

    row: dict = {"model": args.model, "calibration_images": args.num_calib}
    with tempfile.TemporaryDirectory(prefix="edgekit-ivit-") as tmp:
        work = Path(tmp)
        ckpt = save_for_frontend(args.model, work / f"{args.model}.pt")
        test = load_dataset(CIFAR / "cifar10_test_jpeg.npz", limit=args.limit, seed=0)
        labels = np.asarray(test.labels)
        row["test_images"] = len(test)
        fm = pipeline.load_float_model(ckpt)
        x_float = fm.preprocess.apply(test.images)
        from edgekit.quant.float_exec import FloatExecutor

        t0 = time.perf_counter()
        row["float_top1"] = _top1(FloatExecutor(fm.graph).run(x_float)[0], labels)
        calib = load_dataset(CIFAR / "cifar10_train_jpeg.npz", limit=args.num_calib, seed=0)
        x_cal = fm.preprocess.apply(calib.images)
        sim = simulate_ptq(fm.graph, x_cal, "minmax", preprocess=fm.preprocess)
        row["simulated_w8a8_top1"] = _top1(sim.run(x_float)[0], labels)
        t1 = time.perf_counter()
        result = pipeline.quantize(ckpt, CIFAR / "cifar10_train_jpeg.npz", num_calib=args.num_calib, method="ivit",
                                   config=PTQConfig(progress=False))
        row["quantize_s"] = round(time.perf_counter() - t1, 1)
        row["calibration_device"] = result.calibration.device
        row["calibration_s"] = round(result.calibration.seconds, 1)
        model = work / f"{args.model}_ivit.tflite"
        model.write_bytes(result.tflite)
        row["model_file_bytes"] = len(result.tflite)
        graph = pipeline.load(model)
        s, z = result.preprocess.input_scale, result.preprocess.input_zero_point
        x_int = np.clip(np.round(x_float / s) + z, -128, 127).astype(np.int8)
        host = pipeline.compile_model(graph, "deit_ivit", work / "host")
        t2 = time.perf_counter()
        c_out = np.concatenate([host.run(x_int[i:i + 1]) for i in range(len(x_int))]).reshape(len(x_int), -1)
        row["host_c_s_per_image"] = round((time.perf_counter() - t2) / len(x_int), 5)
        row["integer_top1"] = _top1(c_out, labels)
        row["delta_vs_float"] = round(row["integer_top1"] - row["float_top1"], 2)
        n_ref = min(args.ref_images, len(x_int))
        ref = np.concatenate([IntExecutor(graph).run(x_int[i:i + 100])[0] for i in range(0, n_ref, 100)])
        row["reference_images"] = n_ref
        row["c_bitexact_with_reference"] = bool(np.array_equal(ref.reshape(n_ref, -1), c_out[:n_ref]))
        row["op_errors"] = op_errors(graph, result.prepared, x_float[:args.error_images])
        row["bench_s"] = round(time.perf_counter() - t0, 1)
        if not args.no_device:
            row["device"] = device_figures(model, x_int[:args.device_images], work / "dev", ckpt,
                                           x_float[:2].astype(np.float32))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(row, indent=2) + "\n")
    args.md.write_text(markdown(row))
    print(markdown(row))
    return 0


def markdown(r: dict) -> str:
    out = [f"# I-ViT integer-only {r['model']} (CIFAR-10, {r['test_images']:,} test images, "
           f"{r['calibration_images']} calibration images)", "",
           "| model | top-1 |", "|---|---:|",
           f"| float32 (torch) | {r['float_top1']:.2f} % |",
           f"| simulated W8A8 (fake-quant in torch; LayerNorm/softmax/GELU float) | {r['simulated_w8a8_top1']:.2f} % |",
           f"| **integer-only (I-ViT, generated C, host)** | **{r['integer_top1']:.2f} %** "
           f"({r['delta_vs_float']:+.2f}) |", "",
           f"Generated C vs Python integer reference on {r['reference_images']:,} images: "
           f"{'bit-exact' if r['c_bitexact_with_reference'] else 'NOT bit-exact'}. Conversion "
           f"{r['quantize_s']} s (calibration {r.get('calibration_s', '?')} s) on {r['calibration_device']}.", "",
           "Per integer op type, against the float function it replaces (op by op, on the float model's "
           "activations, where the float result lies in the op's calibrated output range; the last column is the "
           "share of outputs beyond it, which saturate):", "",
           "| op | max abs error | mean abs error | max error (output LSB) | beyond the range |",
           "|---|---:|---:|---:|---:|"]
    for op, e in r["op_errors"].items():
        out.append(f"| {op} | {e['max_abs']:.4f} | {e['mean_abs']:.5f} | {e['max_output_lsb']:.2f} "
                   f"| {100 * e['clipped_fraction']:.3f} % |")
    dev = r.get("device")
    if dev:
        out += ["", f"Emulated NUCLEO-F446RE: {dev['instructions']:,} instructions per inference, ROM "
                f"{dev['rom_bytes']:,} B, RAM {dev['ram_bytes']:,} B (arena {dev['arena_bytes']:,} B); device vs host "
                f"on {dev['device_images']} images: {'bit-exact' if dev['device_bitexact_with_host'] else 'DIFFER'}.",
                "", "| op type | instructions | share |", "|---|---:|---:|"]
        total = max(sum(dev["split"].values()), 1)
        for k, v in dev["split"].items():
            out.append(f"| {k} | {v:,} | {100 * v / total:.1f} % |")
        f32 = dev.get("float32", {})
        if "instructions" in f32:
            out += ["", f"float32 build ({f32['board']}, Cortex-M4F FPU; the float weights do not fit the "
                    f"F446RE): {f32['instructions']:,} instructions per inference "
                    f"({f32['instructions'] / dev['instructions']:.2f}× the integer model), "
                    f"ROM {f32['rom_bytes']:,} B, RAM {f32['ram_bytes']:,} B."]
        elif f32:
            out += ["", f"float32 build: not measured ({f32.get('error')})."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
