"""A tiny int8 demo model that needs no downloads: a CNN on scikit-learn's bundled digits.

``load_digits`` ships 1797 grey 8×8 images of handwritten digits (pixel values 0..16, 10
classes). Everything here is deterministic:

* **split**: image ``i`` is in the held-out test split when ``i % 5 == 0`` (360 images), else
  in the training split (1437 images);
* **preprocessing**: pixel ``p`` (0..16) → real value ``p / 16`` (0..1) → int8
  ``q = 15·p − 128``, i.e. the input tensor has scale ``1/240`` and zero point ``−128``
  (exact: ``(q + 128) / 240 = p / 16``). Input shape 1×8×8×1 (NHWC);
* **model**: Conv3×3(8)+BN+ReLU → Conv3×3/2(16)+BN+ReLU → flatten → FC(10) → softmax,
  trained with torch (fixed seed, CPU), BatchNorm folded into the convolutions;
* **quantization**: edgekit's PTQ engine (:mod:`edgekit.quant.ptq`) on the float graph from
  the PyTorch front end (:mod:`edgekit.frontends.torch_fx`): per-channel symmetric int8
  weights, per-tensor asymmetric activations from calibration min/max over the training
  split, int32 bias with scale ``s_in·s_w[c]``, softmax output ``(1/256, −128)``; the input
  quantization is fixed to the exact map above.

The model is written with :func:`edgekit.tflite.writer.build_tflite`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError

__all__ = [
    "DigitsModel",
    "INPUT_SCALE",
    "INPUT_ZERO_POINT",
    "build_digits_model",
    "digits_model_path",
    "digits_test_npz",
    "load_digits_test",
    "load_digits_split",
    "preprocess",
]

INPUT_SCALE = 1.0 / 240.0
INPUT_ZERO_POINT = -128
MODEL_FILENAME = "digits_int8_v2.tflite"
SEED = 0
EPOCHS = 40
_C1, _C2, _CLASSES = 8, 16, 10


@dataclass(frozen=True)
class DigitsModel:
    """The written model and its held-out accuracies (fractions in [0, 1])."""

    path: Path
    float_accuracy: float
    int8_accuracy: float | None  # TFLM on the int8 model; None when tflite-micro is not installed


# ------------------------------------------------------------------------------------------------
# data


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """Digits pixels (…×8×8, values 0..16) → the model's int8 input, N×8×8×1."""
    p = np.asarray(pixels, dtype=np.int32).reshape(-1, 8, 8, 1)
    return (15 * p + INPUT_ZERO_POINT).astype(np.int8)


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train pixels N×8×8, train labels, test pixels, test labels); test = every 5th image."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32)
    labels = d.target.astype(np.int64)
    test = np.arange(len(labels)) % 5 == 0
    return images[~test], labels[~test], images[test], labels[test]


def load_digits_test() -> tuple[np.ndarray, np.ndarray]:
    """The held-out split, preprocessed to the model's input: (int8 N×8×8×1, labels)."""
    _, _, x_test, y_test = load_digits_split()
    return preprocess(x_test), y_test


# ------------------------------------------------------------------------------------------------
# float training (torch) and BatchNorm folding


def _require_torch() -> Any:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise EdgekitError(
            "building the digits demo model needs torch; install it with `pip install edgekit[torch]`"
        ) from e
    return torch


def _make_model(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, _C1, 3, padding=1, bias=False),
        nn.BatchNorm2d(_C1),
        nn.ReLU(),
        # stride 2 with TF "SAME" padding on 8×8 pads (0, 1): pad right/bottom explicitly
        nn.ZeroPad2d((0, 1, 0, 1)),
        nn.Conv2d(_C1, _C2, 3, stride=2, bias=False),
        nn.BatchNorm2d(_C2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(_C2 * 4 * 4, _CLASSES),
    )


def _fit(torch: Any, model: Any, xt: Any, yt: Any, n: int, gen: Any) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()



def _train_torch(x_train: np.ndarray, y_train: np.ndarray) -> Any:
    """Train the CNN (fixed seed, CPU, one thread); return the torch model in eval mode."""
    torch = _require_torch()
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG state alone
        torch.manual_seed(SEED)
        model = _make_model(torch)
    gen = torch.Generator().manual_seed(SEED)
    xt = torch.from_numpy(x_train[:, None, :, :] / 16.0).float()
    yt = torch.from_numpy(y_train)
    n = len(xt)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: one thread is as fast, and no spinning under load
    try:
        _fit(torch, model, xt, yt, n, gen)
    finally:
        torch.set_num_threads(threads)
    return model.eval()





# ------------------------------------------------------------------------------------------------
# post-training quantization → ModelSpec







# ------------------------------------------------------------------------------------------------
# evaluation and entry points


def tflm_predict(model: bytes | Path, x_int8: np.ndarray) -> np.ndarray | None:
    """Class predictions of the int8 model under the TFLM interpreter (None if not installed)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    buf = model.read_bytes() if isinstance(model, Path) else model
    it = runtime.Interpreter.from_bytes(buf)
    preds = np.empty(len(x_int8), dtype=np.int64)
    for i, x in enumerate(x_int8):
        it.set_input(x[None], 0)
        it.invoke()
        preds[i] = int(np.argmax(it.get_output(0)[0]))
    return preds


def _quantize_with_engine(model: Any, calib01: np.ndarray) -> bytes:
    """The trained torch model → float IR (BatchNorm folded) → edgekit PTQ → int8 TFLite bytes."""
    torch = _require_torch()
    from edgekit.data import Preprocess
    from edgekit.frontends.torch_fx import from_torch
    from edgekit.quant.ptq import PTQConfig, quantize_graph

    graph = from_torch(torch.nn.Sequential(model, torch.nn.Softmax(dim=-1)), torch.zeros(1, 1, 8, 8),
                       name="digits")
    # raw digits pixels p (0..16, as digits_test_npz stores them) → real p/16
    pre = Preprocess(input_shape=(8, 8, 1), dtype="float32", scale=1.0 / 16.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = quantize_graph(graph, calib01.astype(np.float32), pre,
                                PTQConfig(observer="minmax", device="cpu", progress=False),
                                description={"source": "edgekit digits demo"},
                                input_qparams=(INPUT_SCALE, INPUT_ZERO_POINT))
    finally:
        torch.set_num_threads(threads)
    return result.tflite


def _float_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    torch = _require_torch()
    with torch.no_grad():
        logits = model(torch.from_numpy(x[:, None, :, :] / 16.0).float()).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == y))


def build_digits_model(out_path: Path) -> DigitsModel:
    """Train, fold, quantize and write the digits model to ``out_path``; report accuracies."""
    x_train, y_train, x_test, y_test = load_digits_split()
    model = _train_torch(x_train, y_train)
    float_acc = _float_accuracy(model, x_test, y_test)
    buf = _quantize_with_engine(model, x_train[..., None] / 16.0)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buf)
    os.replace(tmp, out_path)
    preds = tflm_predict(buf, preprocess(x_test))
    int8_acc = None if preds is None else float(np.mean(preds == y_test))
    return DigitsModel(out_path, float_acc, int8_acc)


def cache_dir() -> Path:
    """``$EDGEKIT_CACHE/demo`` if set, else ``~/.cache/edgekit/demo``."""
    root = os.environ.get("EDGEKIT_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "edgekit"
    return base / "demo"


def digits_test_npz() -> Path:
    """The held-out split as raw samples (`images` N×8×8×1 uint8 pixels 0..16, `labels`), cached."""
    path = cache_dir() / "digits_test.npz"
    if not path.is_file():
        _x_train, _y_train, x_test, y_test = load_digits_split()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=x_test[..., None].astype(np.uint8), labels=y_test.astype(np.int64),
                 class_names=np.array([str(d) for d in range(_CLASSES)]))
        os.replace(tmp, path)
    return path


def digits_model_path() -> Path:
    """Path of the cached digits int8 model, building it on first use."""
    path = cache_dir() / MODEL_FILENAME
    if not path.is_file() or path.stat().st_size == 0:
        build_digits_model(path)
    return path
