"""Patch-based int8 inference (edgekit.patch) against edgekit's own layer-by-layer plan, on the emulated Nucleo.

For each model (MLPerf Tiny VWW from ../shared; the zoo's mobilenetv2_64 and mcunet_128, quantized
here with 1,000 CIFAR-10 training images) and each plan (layer by layer; ``--patch auto``; the fixed plans given):

Plans: ``auto`` (the smallest arena within 25 % recomputed MACs: ``--patch auto`` without a board),
``auto-board`` (what ``deploy --board nucleo --patch auto`` picks: the fewest MACs that fit), or a
fixed ``GxG@N``; a plan ending in ``/inplace`` runs in place the depthwise layers whose in-place
run shrinks the arena (the default only where the board's budget needs it; ``/no-inplace`` never).

* ``arena_bytes`` (the generated arena) and ``peak_sram_bytes`` (the firmware's data + bss: arena,
  the harness's input/output buffers, the tick table, the reserved stack) — the arena of a patch
  model holds no input copy (its first stage reads the input in place), the firmware still has the
  harness's input buffer, so ``peak_sram_bytes`` is the honest total
* ``macs`` (what the C computes, recompute included) and the recompute overhead
* ``instructions`` per inference on the emulated F446RE (QEMU ``-icount shift=0``: exact), total and
  in the patch stage (layer-by-layer: the same layers run once)
* ``device_equals_layer_by_layer``: the device outputs of the patch model equal the layer-by-layer
  model's host outputs, bit for bit; for the zoo models also the host outputs on all 10,000 CIFAR-10
  test images (so its top-1 is the layer-by-layer top-1, reported)

    python bench/patches.py [--models vww_96_int8 mobilenetv2_64 mcunet_128] \
        [--plans auto auto/inplace auto-board 3x3@7]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
CIFAR = SHARED / "datasets" / "cifar10"
RESULTS = REPO / "bench" / "results"


def load_model(stem: str, work: Path):  # type: ignore[no-untyped-def]
    from edgekit import pipeline
    from edgekit.zoo.registry import ZOO, save_for_frontend

    if stem in ZOO:
        pt = work / f"{stem}.pt"
        save_for_frontend(stem, pt)
        res = pipeline.quantize(pt, CIFAR / "cifar10_train_jpeg.npz", num_calib=1000)
        return res.graph
    return pipeline.load(SHARED / "models" / "mlperf_tiny" / f"{stem}.tflite")


def _stage_steps(graph, spec) -> int:  # type: ignore[no-untyped-def]
    """Layers of the lowered model that belong to the patch stage (through the last paste)."""
    from edgekit import pipeline

    lowered = pipeline.lower(graph, patched=spec is not None)
    if spec is None:
        return 0
    return max(k for k, lay in enumerate(lowered.layers) if lay.node.op == "EK_PATCH_PASTE") + 1


def measure(graph, plan: str, work: Path, inputs: np.ndarray, ref_host: np.ndarray | None):  # type: ignore[no-untyped-def]
    from edgekit import pipeline
    from edgekit.device.session import run_library
    from edgekit.targets import get_board

    board = get_board("nucleo")
    t0 = time.monotonic()
    budget = pipeline.patch_budget(graph, board, True) if plan == "auto-board" else None
    mode, _, suffix = plan.partition("/")
    mode = "auto" if mode == "auto-board" else mode
    inplace = {"inplace": True, "no-inplace": False}.get(suffix)
    patched, found = pipeline.patch(graph, mode, budget=budget, inplace=inplace) if plan != "off" else (graph, None)
    name = "pm" if found is not None else "lm"
    folder = work / plan.replace("@", "_").replace("/", "_")
    lib = pipeline.generate(graph, folder / "lib", name, patch_mode=mode if found is not None else "off",
                            patch_budget=budget, inplace=inplace)
    assert found is None or lib.info.arena_bytes == found.arena_bytes
    from edgekit.errors import DoesNotFitError

    builds: list = []
    host = pipeline.build_host(lib, folder / "host").run(inputs)
    row = {"plan": str(found.spec) if found is not None else "layer by layer",
           "arena_bytes": int(lib.info.arena_bytes), "weights_bytes": int(lib.info.weights_bytes), "seconds": 0.0}
    try:
        run = run_library(lib, board, inputs, emulate=True, work_dir=folder / "fw",
                          per_layer=True, progress=False, on_build=builds.append)
    except DoesNotFitError as err:  # measured on the host only: the board cannot hold it
        lines = [ln.strip() for ln in str(err).splitlines()]
        row.update(fits=False, does_not_fit=" ".join(" ".join(ln.split()) for ln in lines if "does not fit" in ln
                                                      or ln.startswith("SRAM")), layer_instructions=[])
        return row, lib
    build = builds[0]
    layers = run.layer_ticks[0].tolist() if run.layer_ticks is not None else []
    row.update({
        "fits": True, "peak_sram_bytes": int(build.data_bytes + build.bss_bytes),
        "flash_bytes": int(build.rom_bytes),
        "instructions": int(run.ticks.max()), "layers": len(layers), "layer_instructions": [int(v) for v in layers],
        "device_equals_host": bool(np.array_equal(run.outputs.reshape(host.shape), host)),
    })
    if found is not None:
        steps = _stage_steps(patched, found.spec)
        row.update(found.to_json())
        row["stage_instructions"] = int(sum(layers[:steps]))
        if ref_host is not None:
            row["device_equals_layer_by_layer"] = bool(np.array_equal(run.outputs.reshape(ref_host.shape), ref_host))
    row["seconds"] = round(time.monotonic() - t0, 1)
    return row, lib


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=["vww_96_int8", "mobilenetv2_64", "mcunet_128"])
    ap.add_argument("--plans", nargs="*", default=["auto"],
                    help="patch plans beside layer by layer: auto (smallest arena within 25 %% recompute), "
                         "auto-board (deploy's choice: the least recompute that fits the Nucleo), GxG@N; "
                         "suffix /inplace: in-place depthwise where it shrinks the arena")
    ap.add_argument("--inputs", type=int, default=3, help="seeded inputs on the device")
    ap.add_argument("--json", type=Path, default=RESULTS / "patches.json")
    ap.add_argument("--md", type=Path, default=RESULTS / "patches.md")
    args = ap.parse_args(argv)
    from edgekit import pipeline
    from edgekit.analyze import analyze_graph
    from edgekit.data import load_dataset, random_inputs
    from edgekit.metadata import preprocess_for

    out: dict = json.loads(args.json.read_text()) if args.json.exists() else {}
    with tempfile.TemporaryDirectory(prefix="ek_patches_") as tmp:
        work = Path(tmp)
        for stem in args.models:
            graph = load_model(stem, work)
            analysis, _ = analyze_graph(graph)
            shape = tuple(graph.tensors[graph.inputs[0]].shape)
            x = random_inputs(shape, "int8", args.inputs, seed=1234)
            base, base_lib = measure(graph, "off", work / stem, x, None)
            entry = {"model": stem, "macs": int(analysis.macs), "layer_by_layer": base, "plans": {}}
            ref = pipeline.build_host(base_lib, work / stem / "refhost").run(x)
            for plan in args.plans:
                row, lib = measure(graph, plan, work / stem, x, ref)
                if row.get("spec") is not None and base["layer_instructions"]:
                    base_steps = [k for k, lay in enumerate(pipeline.lower(graph).layers)
                                  if lay.node.index <= row["split_node"]]
                    stage = sum(base["layer_instructions"][k] for k in base_steps)
                    row["layer_by_layer_stage_instructions"] = int(stage)
                if not stem.startswith("vww"):
                    test = load_dataset(CIFAR / "cifar10_test_jpeg.npz")
                    xt = preprocess_for(graph).apply(test.images)
                    lp = pipeline.build_host(base_lib, work / stem / "h0").run(xt)
                    pp = pipeline.build_host(lib, work / stem / "h1").run(xt)
                    row["host_equals_layer_by_layer_10000"] = bool(np.array_equal(lp, pp))
                    row["top1"] = _top1(pp, test.labels)
                    entry["layer_by_layer"]["top1"] = _top1(lp, test.labels)
                entry["plans"][plan] = row
                print(stem, plan, {k: v for k, v in row.items() if k != "patch_regions"}, flush=True)
            out[stem] = entry
            args.json.write_text(json.dumps(out, indent=1))
    args.md.write_text(markdown(out))
    print(markdown(out))
    return 0


def _top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return round(100.0 * float(np.mean(np.argmax(logits.reshape(len(labels), -1), 1) == labels)), 2)


def markdown(out: dict) -> str:
    lines = ["# Patch-based int8 inference vs edgekit's layer-by-layer plan (emulated NUCLEO-F446RE)", "",
             "Arena: the generated arena (a patch model's first stage reads the input in place: no input copy). "
             "Peak SRAM: the firmware's data + bss (arena, harness I/O buffers, tick table, stack). Instructions: "
             "QEMU `-icount shift=0`, exact. Patch stage: the layers through the last paste.", "",
             "| model | plan | in-place dw nodes | arena B | × | peak SRAM B | × | MACs | recompute | instructions "
             "| patch-stage instr. | device = layer by layer |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    notes: list[str] = []
    for stem, e in out.items():
        b = e["layer_by_layer"]
        if b.get("fits", True):
            lines.append(f"| {stem} | layer by layer | — | {b['arena_bytes']:,} | 1.00 | {b['peak_sram_bytes']:,} "
                         f"| 1.00 | {e['macs']:,} | — | {b['instructions']:,} | — | — |")
        else:
            lines.append(f"| {stem} | layer by layer | — | {b['arena_bytes']:,} | 1.00 | does not fit | — "
                         f"| {e['macs']:,} | — | — | — | — |")
        for name, r in e["plans"].items():
            if r.get("spec") is None:
                continue
            fits = b.get("fits", True)
            sram = f"{r['peak_sram_bytes'] / b['peak_sram_bytes']:.2f}" if fits else "—"
            more = f" (+{r['instructions'] / b['instructions'] - 1:.1%})" if fits else ""
            stage = (f" (layer by layer {r['layer_by_layer_stage_instructions']:,})"
                     if "layer_by_layer_stage_instructions" in r else "")
            same = "yes" if r.get("device_equals_layer_by_layer") else "NO"
            if not fits:
                same += " (layer by layer in host mode)"
            lines.append(
                f"| {stem} | {r['spec']} ({name}) | {len(r.get('inplace_depthwise_nodes', [])) or '—'} "
                f"| {r['arena_bytes']:,} | {r['arena_bytes'] / b['arena_bytes']:.2f} "
                f"| {r['peak_sram_bytes']:,} | {sram} | {r['macs_patched']:,} "
                f"| +{r['recompute_macs'] / max(r['macs_layer_by_layer'], 1):.1%} | {r['instructions']:,}{more} "
                f"| {r['stage_instructions']:,}{stage} | {same} |")
        for name, r in e["plans"].items():
            if r.get("spec") is None:
                notes.append(f"{stem}, {name}: no patches (layer by layer fits the board, or no plan beats it).")
        tops = [r.get("top1") for r in e["plans"].values() if r.get("top1") is not None]
        if tops:
            notes.append(f"{stem}: top-1 on the 10,000 CIFAR-10 test images {b.get('top1')} % layer by layer; the "
                         "patch model's host outputs equal it on all 10,000 images: "
                         f"{all(r.get('host_equals_layer_by_layer_10000') for r in e['plans'].values())}.")
        if not e["layer_by_layer"].get("fits", True):
            notes.append(f"{stem}, layer by layer: {e['layer_by_layer'].get('does_not_fit', 'does not fit')}")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
