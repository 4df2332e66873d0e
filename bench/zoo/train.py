"""Train a zoo model on CIFAR-10 (JPEG npz) and record its float top-1.

    nice -n 19 .venv/bin/python bench/zoo/train.py --model resnet8 --epochs 6
    nice -n 19 .venv/bin/python bench/zoo/train.py --model mcunet_128 --init-from mobilenetv2_64 --minutes 40

Writes ``edgekit/zoo/weights/NAME.pt`` (float32 state_dict), ``bench/zoo/results/NAME.json`` and
regenerates ``bench/zoo/results.md`` from all result files. Augmentation (random crop with
zero padding + horizontal flip) is one gather on uint8 tensors per batch. Seeded: the same
command gives the same run (up to floating-point thread effects).

``--init-from`` warm-starts from another model's weights (a zoo name or a state_dict file):
every tensor whose name and shape match is copied, the rest keep their fresh initialisation.
``--minutes`` is a hard wall-clock budget for the training loop: the one-cycle learning rate
then follows the elapsed fraction of the budget (or of ``--epochs``' steps, whichever is
further), so such a run's length depends on the machine's speed and is not reproducible step
for step.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edgekit.data import Preprocess, load_dataset  # noqa: E402
from edgekit.zoo.registry import ZOO, ZooEntry, count_macs, count_params  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "cifar10"
RESULTS = REPO / "bench" / "zoo" / "results"
SUBSET = 500  # seeded class-balanced test subset also recorded, for tests/test_zoo.py


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # "sgd" (nesterov) or "adamw"
    lr: float
    weight_decay: float
    batch_size: int = 128
    label_smoothing: float = 0.1
    pct_start: float = 0.25


RECIPES: dict[str, Recipe] = {
    "resnet8": Recipe("sgd", 0.2, 5e-4),
    "mobilenetv2_64": Recipe("sgd", 0.2, 2e-4),
    # Fine-tuning recipe: meant to be warm-started from mobilenetv2_64 (all but the stem).
    "mcunet_128": Recipe("sgd", 0.05, 2e-4, pct_start=0.15),
    "deit_tiny": Recipe("adamw", 2e-3, 0.05, pct_start=0.2),
    "mobilevit_xxs": Recipe("adamw", 2e-3, 0.02, pct_start=0.2),
    "efficientformer_xs": Recipe("adamw", 2e-3, 0.05, pct_start=0.2),
}


def resize_uint8(images: np.ndarray, size: tuple[int, int], chunk: int = 5000) -> np.ndarray:
    """Resize N×H×W×3 uint8 images exactly as the deployment preprocessing does (Pillow bilinear)."""
    if tuple(images.shape[1:3]) == size:
        return images
    pre = Preprocess(input_shape=(*size, 3), dtype="float32", resize=size)
    out = [pre.apply(images[i : i + chunk]).astype(np.uint8) for i in range(0, len(images), chunk)]
    return np.concatenate(out)


class Normalize(nn.Module):
    """uint8 NHWC batch → float NCHW model input, as ZooEntry.preprocess() does after resizing."""

    def __init__(self, entry: ZooEntry) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(entry.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(entry.std).view(1, 3, 1, 1) * 255.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.permute(0, 3, 1, 2).float() - self.mean) / self.std


def augment(images: torch.Tensor, gen: torch.Generator, pad: int) -> torch.Tensor:
    """Random crop (zero padding `pad`) + random horizontal flip of an N×H×W×C uint8 batch."""
    n, h, w, _ = images.shape
    oy = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen) - pad
    ox = torch.randint(0, 2 * pad + 1, (n, 1), generator=gen) - pad
    flip = torch.rand(n, 1, generator=gen) < 0.5
    cols = torch.arange(w).expand(n, w)
    cols = torch.where(flip, w - 1 - cols, cols) + ox
    rows = torch.arange(h).expand(n, h) + oy
    valid = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    b = torch.arange(n)[:, None, None]
    out = images[b, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    return out * valid[..., None].to(out.dtype)


def evaluate(model: nn.Module, norm: Normalize, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = norm(torch.from_numpy(images[i : i + batch]))
            correct += int((model(x).argmax(1).numpy() == labels[i : i + batch]).sum())
    return 100.0 * correct / len(images)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim > 1 and "pos_embed" not in name and "cls_token" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.99))


def warm_start(model: nn.Module, source: str) -> tuple[int, int]:
    """Copy into `model` every tensor of `source` (a zoo name or a state_dict file) whose name and
    shape match; returns (tensors copied, tensors of `model`)."""
    path = ZOO[source].weights if source in ZOO else Path(source)
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matched, strict=False)
    return len(matched), len(own)


class TimedOneCycle:
    """One-cycle learning rate (cosine up from max/div over `pct_start`, cosine down to
    max/(div·final_div), as OneCycleLR, momentum not cycled) driven by a progress fraction
    that the caller computes, e.g. from the elapsed wall-clock time."""

    def __init__(
        self, opt: torch.optim.Optimizer, max_lr: float, pct_start: float, div: float = 10, final_div: float = 100
    ) -> None:
        self.opt, self.max_lr, self.pct_start = opt, max_lr, pct_start
        self.start, self.end = max_lr / div, max_lr / (div * final_div)
        self.set(0.0)

    def set(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        if p < self.pct_start:
            a, b, t = self.start, self.max_lr, p / self.pct_start
        else:
            a, b, t = self.max_lr, self.end, (p - self.pct_start) / (1.0 - self.pct_start)
        lr = b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * t))
        for group in self.opt.param_groups:
            group["lr"] = lr
        return lr


def write_table() -> None:
    rows, notes = [], []
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['model']} | {r['input']} | {r['top1']:.2f} | {r['params']:,} | {r['macs'] / 1e6:.2f} M "
            f"| {r['train_minutes']:.1f} | {r['epochs']:g} |"
        )
        if r.get("init_from"):
            budget = f" in a {r['minutes_budget']:g}-minute budget" if r.get("minutes_budget") else ""
            notes.append(
                f"- {r['model']}: warm-started from {r['init_from']} ({r['tensors_copied']} of "
                f"{r['tensors']} state_dict tensors copied, the rest trained from scratch), "
                f"{r['steps']} steps{budget}."
            )
    text = (
        "# CIFAR-10 model zoo (float)\n\n"
        "Trained on the 50,000 CIFAR-10 train images and measured on the 10,000 test images of the JPEG\n"
        "re-encoding in `../shared/datasets/cifar10` (the MLPerf Tiny reference ResNet-8 scores 75.48 % on it).\n"
        "Training ran on 1 niced CPU thread of a 2-core machine shared with other jobs (so the times vary\n"
        "2-4x with the load); epochs were sized to fit a ~35-minute budget per model, so these are\n"
        "short-schedule numbers. Params exclude BatchNorm running statistics; MACs count\n"
        "Conv2d, Linear and attention matmuls for one image. Regenerated by `bench/zoo/train.py`.\n\n"
        "| model | input | float top-1 (%) | params | MACs | train time (min) | epochs |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")
    )
    (REPO / "bench" / "zoo" / "results.md").write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(ZOO))
    ap.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="may be fractional (total steps are rounded); required unless --minutes is given",
    )
    ap.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="hard wall-clock budget of the training loop; the LR schedule follows the elapsed time",
    )
    ap.add_argument(
        "--init-from",
        default=None,
        help="warm start from a zoo model name or state_dict file (tensors of equal name and shape)",
    )
    ap.add_argument("--out", type=Path, default=None, help="checkpoint path (default edgekit/zoo/weights/NAME.pt)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=None, help="stop early (smoke tests; no results written)")
    args = ap.parse_args()
    if args.epochs is None and args.minutes is None:
        ap.error("give --epochs, --minutes or both")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    entry = ZOO[args.model]
    recipe = RECIPES[args.model]
    out = args.out or entry.weights

    t0 = time.time()
    train = load_dataset(DATA / "cifar10_train_jpeg.npz")
    test = load_dataset(DATA / "cifar10_test_jpeg.npz")
    train_x = resize_uint8(train.images, entry.input_size)
    test_x = resize_uint8(test.images, entry.input_size)
    train_y = torch.from_numpy(train.labels.astype(np.int64))
    test_y = test.labels.astype(np.int64)
    print(f"data ready in {time.time() - t0:.1f}s: train {train_x.shape}, test {test_x.shape}", flush=True)

    model = entry.build()
    copied = None
    if args.init_from is not None:
        copied = warm_start(model, args.init_from)
        print(f"warm start from {args.init_from}: {copied[0]} of {copied[1]} tensors copied", flush=True)
    norm = Normalize(entry)
    pad = entry.input_size[0] // 8
    steps_per_epoch = math.ceil(len(train_x) / recipe.batch_size)
    total_steps = max(1, round(args.epochs * steps_per_epoch)) if args.epochs is not None else None
    budget_s = 60.0 * args.minutes if args.minutes is not None else None
    opt = make_optimizer(model, recipe)
    if budget_s is None:
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=recipe.lr,
            total_steps=total_steps,
            pct_start=recipe.pct_start,
            div_factor=10,
            final_div_factor=100,
        )
    else:
        timed = TimedOneCycle(opt, recipe.lr, recipe.pct_start)

    def progress(step: int) -> float:
        fractions = [] if total_steps is None else [step / total_steps]
        if budget_s is not None:
            fractions.append((time.time() - t_start) / budget_s)
        return max(fractions)

    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    gen = torch.Generator().manual_seed(args.seed)
    train_t = torch.from_numpy(train_x)

    step, t_start = 0, time.time()
    model.train()
    while progress(step) < 1.0:
        perm = torch.randperm(len(train_t), generator=gen)
        running, seen = 0.0, 0
        for i in range(0, len(perm), recipe.batch_size):
            if progress(step) >= 1.0 or (args.max_steps is not None and step >= args.max_steps):
                break
            if budget_s is not None:
                timed.set(progress(step))
            idx = perm[i : i + recipe.batch_size]
            x = norm(augment(train_t[idx], gen, pad))
            loss = loss_fn(model(x), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if budget_s is None:
                sched.step()
            step += 1
            running += loss.item() * len(idx)
            seen += len(idx)
            if step % 50 == 0:
                el = time.time() - t_start
                done = progress(step)
                print(
                    f"step {step} ({100 * done:.1f} %) loss {running / seen:.4f} lr {opt.param_groups[0]['lr']:.4g} "
                    f"{el / step:.3f}s/step eta {el * (1 - done) / max(done, 1e-9) / 60:.1f} min",
                    flush=True,
                )
        if args.max_steps is not None and step >= args.max_steps:
            break
        print(f"epoch {step / steps_per_epoch:.2f} done, train loss {running / max(seen, 1):.4f}", flush=True)
    train_seconds = time.time() - t_start

    top1 = evaluate(model, norm, test_x, test_y)
    sub = load_dataset(DATA / "cifar10_test_jpeg.npz", limit=SUBSET, seed=0)
    sub_top1 = evaluate(model, norm, resize_uint8(sub.images, entry.input_size), sub.labels.astype(np.int64))
    print(f"{args.model}: float top-1 {top1:.2f} % (subset {SUBSET}: {sub_top1:.2f} %), {train_seconds / 60:.1f} min")
    if args.max_steps is not None:
        return

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out)
    result = {
        "model": args.model,
        "input": "x".join(str(d) for d in entry.input_shape),
        "top1": round(top1, 2),
        "top1_subset500_seed0": round(sub_top1, 2),
        "test_images": len(test_x),
        "params": count_params(model),
        "macs": count_macs(model, entry.input_shape),
        "train_minutes": round(train_seconds / 60, 1),
        "epochs": args.epochs if budget_s is None else round(step / steps_per_epoch, 2),
        "steps": step,
        "seed": args.seed,
        "threads": args.threads,
        "recipe": recipe.__dict__,
        **({} if budget_s is None else {"minutes_budget": args.minutes, "lr_schedule": "one-cycle over the budget"}),
        **({} if copied is None else {"init_from": args.init_from, "tensors_copied": copied[0], "tensors": copied[1]}),
        "augmentation": f"random crop (zero pad {pad}) + horizontal flip",
        "weights": str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out),
        "weights_bytes": out.stat().st_size,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.model}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.results == RESULTS:
        write_table()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
