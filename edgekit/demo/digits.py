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

The model is written with :func:`edgekit.export.tflite_builder.build_tflite`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.export.tflite_builder import ModelSpec, OpSpec, TensorSpec

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


def _train_float(x_train: np.ndarray, y_train: np.ndarray) -> list[dict[str, np.ndarray]]:
    """Train the CNN; return folded float layers [conv1, conv2, fc] with OHWI/(O,I) weights."""
    return _fold_layers(_train_torch(x_train, y_train))


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


def _fold_layers(model: Any) -> list[dict[str, np.ndarray]]:
    layers = []
    for conv_i, bn_i in ((0, 1), (4, 5)):
        conv, bn = model[conv_i], model[bn_i]
        w = conv.weight.detach().double().numpy()  # OIHW
        gamma = bn.weight.detach().double().numpy() / np.sqrt(
            bn.running_var.detach().double().numpy() + bn.eps
        )
        b = bn.bias.detach().double().numpy() - bn.running_mean.detach().double().numpy() * gamma
        w = w * gamma[:, None, None, None]
        layers.append({"w": np.transpose(w, (0, 2, 3, 1)), "b": b})  # → OHWI
    fc = model[8]
    wfc = fc.weight.detach().double().numpy().reshape(_CLASSES, _C2, 4, 4)  # torch flattens C,H,W
    wfc = np.transpose(wfc, (0, 2, 3, 1)).reshape(_CLASSES, -1)  # TFLite flattens H,W,C
    layers.append({"w": wfc, "b": fc.bias.detach().double().numpy()})
    return layers


def _conv_same(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Float NHWC conv with TF 'SAME' padding; w is OHWI."""
    n, h, wd, _ = x.shape
    _, kh, kw, _ = w.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((n, oh, ow, w.shape[0]))
    for i in range(kh):
        for j in range(kw):
            sl = xp[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride, :]
            out += sl @ w[:, i, j, :].T
    return out + b


def _forward_float(layers: list[dict[str, np.ndarray]], x01: np.ndarray) -> list[np.ndarray]:
    """Activations [conv1, conv2, logits] of the folded float model for inputs in [0, 1] (N×8×8×1)."""
    a1 = np.maximum(_conv_same(x01, layers[0]["w"], layers[0]["b"], 1), 0.0)
    a2 = np.maximum(_conv_same(a1, layers[1]["w"], layers[1]["b"], 2), 0.0)
    logits = a2.reshape(len(a2), -1) @ layers[2]["w"].T + layers[2]["b"]
    return [a1, a2, logits]


# ------------------------------------------------------------------------------------------------
# post-training quantization → ModelSpec


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-6) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def _quant_weights(w: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    flat = w.reshape(w.shape[0], -1)
    amax = np.abs(flat).max(axis=1) if per_channel else np.array([np.abs(flat).max()])
    scales = (np.maximum(amax, 1e-12) / 127.0).astype(np.float32)
    per_row = np.broadcast_to(scales, (w.shape[0],)) if not per_channel else scales
    q = np.clip(np.round(flat / per_row[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scales


def _quant_bias(b: np.ndarray, s_in: float, w_scales: np.ndarray) -> tuple[np.ndarray, list[float]]:
    s = (np.float32(s_in) * np.broadcast_to(w_scales, b.shape).astype(np.float32)).astype(np.float64)
    return np.round(b / s).astype(np.int32), s.astype(np.float32).tolist()


def _quantize_model(layers: list[dict[str, np.ndarray]], calib01: np.ndarray) -> ModelSpec:
    acts = _forward_float(layers, calib01)
    q_act = [_qparams(float(a.min()), float(a.max())) for a in acts]
    tensors: list[TensorSpec] = []

    def add(t: TensorSpec) -> int:
        tensors.append(t)
        return len(tensors) - 1

    x = add(TensorSpec("input", (1, 8, 8, 1), "int8", scale=[INPUT_SCALE], zero_point=[INPUT_ZERO_POINT]))
    ops: list[OpSpec] = []
    s_in, cur = INPUT_SCALE, x
    shapes = [(1, 8, 8, _C1), (1, 4, 4, _C2)]
    for i, stride in ((0, 1), (1, 2)):
        wq, ws = _quant_weights(layers[i]["w"], per_channel=True)
        bq, bs = _quant_bias(layers[i]["b"], s_in, ws)
        cout = wq.shape[0]
        w_idx = add(
            TensorSpec(f"conv{i + 1}/w", wq.shape, "int8", data=wq, scale=ws.tolist(), zero_point=[0] * cout)
        )
        b_idx = add(TensorSpec(f"conv{i + 1}/b", (cout,), "int32", data=bq, scale=bs, zero_point=[0] * cout))
        scale, zp = q_act[i]
        y = add(TensorSpec(f"conv{i + 1}", shapes[i], "int8", scale=[scale], zero_point=[zp]))
        ops.append(
            OpSpec(
                "CONV_2D",
                [cur, w_idx, b_idx],
                [y],
                {
                    "padding": "SAME",
                    "stride_w": stride,
                    "stride_h": stride,
                    "fused_activation_function": "RELU",
                },
            )
        )
        s_in, cur = scale, y
    flat_dim = _C2 * 16
    shape_idx = add(TensorSpec("flatten/shape", (2,), "int32", data=np.array([1, flat_dim], np.int32)))
    flat = add(TensorSpec("flatten", (1, flat_dim), "int8", scale=[s_in], zero_point=[q_act[1][1]]))
    ops.append(OpSpec("RESHAPE", [cur, shape_idx], [flat], {"new_shape": [1, flat_dim]}))
    wq, ws = _quant_weights(layers[2]["w"], per_channel=False)
    bq, bs = _quant_bias(layers[2]["b"], s_in, ws)
    w_idx = add(TensorSpec("fc/w", wq.shape, "int8", data=wq, scale=ws.tolist(), zero_point=[0]))
    b_idx = add(TensorSpec("fc/b", (_CLASSES,), "int32", data=bq, scale=bs, zero_point=[0] * _CLASSES))
    scale, zp = q_act[2]
    logits = add(TensorSpec("logits", (1, _CLASSES), "int8", scale=[scale], zero_point=[zp]))
    ops.append(
        OpSpec("FULLY_CONNECTED", [flat, w_idx, b_idx], [logits], {"fused_activation_function": "NONE"})
    )
    probs = add(TensorSpec("probs", (1, _CLASSES), "int8", scale=[1.0 / 256.0], zero_point=[-128]))
    ops.append(OpSpec("SOFTMAX", [logits], [probs], {"beta": 1.0}))
    return ModelSpec(tensors, ops, inputs=[x], outputs=[probs], description=_description())


def _description() -> str:
    """Deployment description: pixel p (0..16) → real p/16 → int8 with scale 1/240, zp −128."""
    from edgekit.data import Preprocess
    from edgekit.deployment import deployment_description

    pre = Preprocess(input_shape=(8, 8, 1), dtype="int8", input_scale=float(np.float32(INPUT_SCALE)),
                     input_zero_point=INPUT_ZERO_POINT, scale=1.0 / 16.0, offset=0.0)
    return deployment_description(pre, model="edgekit digits demo (int8)")


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


def build_digits_model(out_path: Path) -> DigitsModel:
    """Train, fold, quantize and write the digits model to ``out_path``; report accuracies."""
    x_train, y_train, x_test, y_test = load_digits_split()
    model = _train_torch(x_train, y_train)
    layers = _fold_layers(model)
    float_acc = float(np.mean(np.argmax(_forward_float(layers, x_test[..., None] / 16.0)[2], 1) == y_test))
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
