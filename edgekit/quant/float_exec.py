"""Float IR executor: runs a float graph in torch with TFLite's semantics, on batches.

Used for calibration (every intermediate activation on request) and for float accuracy.
Activations are NHWC as in TFLite; padding follows TFLite's SAME/VALID rules (SAME puts the
odd pad after), average pooling with SAME padding divides by the number of in-bounds taps,
fused activations are applied. The first axis of every activation is the batch axis: the IR
holds batch 1 there and the executor runs any batch size N.

QUANTIZE/DEQUANTIZE are run as identities on real values (a float model's boundary ops).

Example::

    ex = FloatExecutor(load_tflite("m.tflite"))
    outputs = ex.run(batch)                      # list of numpy arrays, one per graph output
    outputs, acts = ex.run(batch, keep=True)     # plus {tensor id: activation}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgekit.errors import DataError, UnsupportedOpError
from edgekit.ir.graph import Graph, Node

__all__ = ["FloatExecutor", "pick_device", "FLOAT_OPS", "same_pads"]

TensorHook = Callable[[int, torch.Tensor], None]


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when available (or asked for), else ``cpu``; a bad request is a DataError."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise DataError(f"device {device!r} asked for but torch sees no CUDA GPU; use --device cpu")
    try:
        return torch.device(str(device))
    except RuntimeError as err:
        raise DataError(f"unknown device {device!r}; use cpu or cuda") from err


def same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis."""
    k_eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def _act(x: torch.Tensor, act: str | None) -> torch.Tensor:
    if act in (None, "NONE"):
        return x
    if act == "RELU":
        return torch.relu(x)
    if act == "RELU6":
        return torch.clamp(x, 0.0, 6.0)
    if act == "RELU_N1_TO_1":
        return torch.clamp(x, -1.0, 1.0)
    if act == "TANH":
        return torch.tanh(x)
    if act == "SIGN_BIT":
        return torch.sign(x)
    raise UnsupportedOpError(f"fused activation {act} is not supported by the float executor")


def _nchw_pad(x: torch.Tensor, node: Node, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
              value: float = 0.0) -> torch.Tensor:
    """Pad an NCHW tensor for TFLite SAME padding (no-op for VALID)."""
    if node.attrs.get("padding", "SAME") != "SAME":
        return x
    ph = same_pads(x.shape[2], kh, sh, dh)
    pw = same_pads(x.shape[3], kw, sw, dw)
    if ph == (0, 0) and pw == (0, 0):
        return x
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)


class FloatExecutor:
    """Runs a float IR graph in torch (constants moved to `device` once)."""

    def __init__(self, graph: Graph, device: str | torch.device | None = None) -> None:
        self.graph = graph
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        for node in graph.nodes:
            if node.op not in FLOAT_OPS:
                raise UnsupportedOpError(
                    f"the float executor cannot run {node.op} ({node.label}); it runs: "
                    f"{', '.join(sorted(FLOAT_OPS))}"
                )
        self._consts: dict[int, torch.Tensor] = {}
        self._prepared: dict[tuple[int, str], torch.Tensor] = {}
        self._batch = 1  # the batch size of the current forward()

    # ---- constants -------------------------------------------------------------------------
    def const(self, tid: int) -> torch.Tensor:
        if tid not in self._consts:
            t = self.graph.tensors[tid]
            assert t.data is not None
            data = t.data
            if data.dtype.kind == "f":
                arr = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
            elif t.quant is not None and data.dtype.kind in "iu":  # dequantize int constants
                scale = t.quant.scale.astype(np.float64)
                zp = t.quant.zero_point.astype(np.float64)
                if scale.size > 1:
                    shape = [1] * data.ndim
                    shape[t.quant.axis] = -1
                    scale, zp = scale.reshape(shape), zp.reshape(shape)
                arr = torch.from_numpy(((data.astype(np.float64) - zp) * scale).astype(np.float32))
            else:
                arr = torch.from_numpy(np.ascontiguousarray(data))
            self._consts[tid] = arr.to(self.device)
        return self._consts[tid]

    def prepared(self, tid: int, kind: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        key = (tid, kind)
        if key not in self._prepared:
            self._prepared[key] = fn(self.const(tid)).contiguous()
        return self._prepared[key]

    def const_ints(self, tid: int) -> list[int]:
        data = self.graph.tensors[tid].data
        assert data is not None
        return [int(v) for v in np.asarray(data).reshape(-1)]

    # ---- running -----------------------------------------------------------------------------
    def forward(self, inputs: list[torch.Tensor], hook: TensorHook | None = None,
                keep: Iterable[int] | bool = False) -> dict[int, torch.Tensor]:
        """Run on torch tensors already on the device; returns the kept (and output) tensors.

        `hook(tensor_id, value)` is called for every graph input and every node output.
        """
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise DataError(f"the model takes {len(g.inputs)} inputs, got {len(inputs)}")
        keep_all = keep is True
        keep_set = set() if isinstance(keep, bool) else set(keep)
        keep_set.update(g.outputs)
        last_use: dict[int, int] = {}
        for node in g.nodes:
            for tid in node.inputs:
                if tid >= 0:
                    last_use[tid] = node.index
        env: dict[int, torch.Tensor] = {}
        self._batch = int(inputs[0].shape[0]) if inputs and inputs[0].dim() > 0 else 1
        for tid, x in zip(g.inputs, inputs, strict=True):
            env[tid] = x
            if hook is not None:
                hook(tid, x)
        for node in g.nodes:
            args = [None if i < 0 else (env[i] if i in env else self.const(i) if g.tensors[i].is_const else None)
                    for i in node.inputs]
            if any(a is None for i, a in zip(node.inputs, args, strict=True) if i >= 0):
                missing = [i for i, a in zip(node.inputs, args, strict=True) if i >= 0 and a is None]
                raise DataError(f"{node.label} reads tensor(s) {missing} before they are computed")
            outs = FLOAT_OPS[node.op](self, node, args)
            for tid, y in zip(node.outputs, outs, strict=True):
                env[tid] = y
                if hook is not None:
                    hook(tid, y)
            if not keep_all:
                for tid in node.inputs:
                    if tid >= 0 and last_use.get(tid) == node.index and tid not in keep_set and tid in env:
                        del env[tid]
        return env

    @torch.no_grad()
    def run(self, batch: np.ndarray | torch.Tensor | list, *, keep: Iterable[int] | bool = False,
            batch_size: int = 256) -> Any:
        """Run a batch (or a list of batches, one per graph input) and return numpy outputs.

        With `keep` (True or tensor ids) returns ``(outputs, {tensor id: numpy activation})``.
        """
        xs = batch if isinstance(batch, list) else [batch]
        n = int(xs[0].shape[0])
        outs: list[list[np.ndarray]] = [[] for _ in self.graph.outputs]
        kept: dict[int, list[np.ndarray]] = {}
        for start in range(0, n, batch_size):
            chunk = [self._to_tensor(x[start:start + batch_size]) for x in xs]
            env = self.forward(chunk, keep=keep)
            for k, tid in enumerate(self.graph.outputs):
                outs[k].append(env[tid].cpu().numpy())
            if keep is not False:
                for tid, v in env.items():
                    kept.setdefault(tid, []).append(v.cpu().numpy())
        outputs = [np.concatenate(o) for o in outs]
        if keep is False:
            return outputs
        return outputs, {tid: np.concatenate(v) for tid, v in kept.items()}

    def _to_tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.to(self.device, torch.float32)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def out_shape(self, node: Node, x: torch.Tensor, k: int = 0) -> tuple[int, ...]:
        """The IR shape of output `k` for the running batch size.

        The IR holds batch 1; a leading axis of size B there (a model that folds patches into
        the batch, like MobileViT's unfold) is B·N for a batch of N.
        """
        shape = self.graph.tensors[node.outputs[k]].shape
        return (int(shape[0]) * self._batch, *shape[1:]) if shape else ()


# ------------------------------------------------------------------------------------------------
# op implementations: fn(executor, node, args) -> list of outputs

OpFn = Callable[[FloatExecutor, Node, list], list[torch.Tensor]]
FLOAT_OPS: dict[str, OpFn] = {}


def _op(*names: str) -> Callable[[OpFn], OpFn]:
    def deco(fn: OpFn) -> OpFn:
        for name in names:
            FLOAT_OPS[name] = fn
        return fn
    return deco


@_op("CONV_2D")
def _conv2d(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x, w = args[0], args[1]
    if ex.graph.tensors[node.inputs[1]].is_const:
        wt = ex.prepared(node.inputs[1], "oihw", lambda t: t.permute(0, 3, 1, 2))  # OHWI → OIHW, once
    else:
        wt = w.permute(0, 3, 1, 2)
    b = args[2] if len(args) > 2 else None
    sh, sw = int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1))
    dh, dw = int(node.attrs.get("dilation_h_factor", 1)), int(node.attrs.get("dilation_w_factor", 1))
    xc = _nchw_pad(x.permute(0, 3, 1, 2), node, wt.shape[2], wt.shape[3], sh, sw, dh, dw)
    groups = x.shape[3] // wt.shape[1]
    y = F.conv2d(xc, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
    return [_act(y.permute(0, 2, 3, 1), node.attrs.get("fused_activation_function"))]


@_op("DEPTHWISE_CONV_2D")
def _dwconv(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    wt = ex.prepared(node.inputs[1], "dw", lambda t: t.permute(3, 0, 1, 2))  # (C·M, 1, H, W)
    b = args[2] if len(args) > 2 else None
    sh, sw = int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1))
    dh, dw = int(node.attrs.get("dilation_h_factor", 1)), int(node.attrs.get("dilation_w_factor", 1))
    xc = _nchw_pad(x.permute(0, 3, 1, 2), node, wt.shape[2], wt.shape[3], sh, sw, dh, dw)
    y = F.conv2d(xc, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=x.shape[3])
    return [_act(y.permute(0, 2, 3, 1), node.attrs.get("fused_activation_function"))]


@_op("FULLY_CONNECTED")
def _fc(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    depth = w.shape[1]
    if node.attrs.get("keep_num_dims", False):
        y = F.linear(x, w, b)
    else:
        y = F.linear(x.reshape(-1, depth), w, b)
        y = y.reshape(ex.out_shape(node, x)) if y.numel() == int(np.prod(ex.out_shape(node, x))) else y
    return [_act(y, node.attrs.get("fused_activation_function"))]


@_op("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE")
def _binary(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    a, b = args[0], args[1]
    fn = {"ADD": torch.add, "SUB": torch.sub, "MUL": torch.mul, "DIV": torch.div, "MAXIMUM": torch.maximum,
          "MINIMUM": torch.minimum, "SQUARED_DIFFERENCE": lambda p, q: (p - q) ** 2}[node.op]
    return [_act(fn(a, b), node.attrs.get("fused_activation_function"))]


def _pool_geom(node: Node) -> tuple[int, int, int, int]:
    return (int(node.attrs.get("filter_height", 1)), int(node.attrs.get("filter_width", 1)),
            int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1)))


@_op("AVERAGE_POOL_2D")
def _avgpool(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    kh, kw, sh, sw = _pool_geom(node)
    xc = args[0].permute(0, 3, 1, 2)
    padded = _nchw_pad(xc, node, kh, kw, sh, sw, 1, 1)
    if padded is xc:
        y = F.avg_pool2d(xc, (kh, kw), (sh, sw))
    else:  # divide by the number of in-bounds taps, as TFLite does
        ones = _nchw_pad(torch.ones_like(xc[:1, :1]), node, kh, kw, sh, sw, 1, 1)
        y = F.avg_pool2d(padded, (kh, kw), (sh, sw), divisor_override=1) / F.avg_pool2d(
            ones, (kh, kw), (sh, sw), divisor_override=1)
    return [_act(y.permute(0, 2, 3, 1), node.attrs.get("fused_activation_function"))]


@_op("MAX_POOL_2D")
def _maxpool(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    kh, kw, sh, sw = _pool_geom(node)
    xc = _nchw_pad(args[0].permute(0, 3, 1, 2), node, kh, kw, sh, sw, 1, 1, value=float("-inf"))
    y = F.max_pool2d(xc, (kh, kw), (sh, sw))
    return [_act(y.permute(0, 2, 3, 1), node.attrs.get("fused_activation_function"))]


@_op("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")
def _reduce(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    axes = sorted({a % x.dim() for a in ex.const_ints(node.inputs[1])})
    keep = bool(node.attrs.get("keep_dims", False))
    if node.op == "MEAN":
        y = x.mean(dim=axes, keepdim=keep)
    elif node.op == "SUM":
        y = x.sum(dim=axes, keepdim=keep)
    else:
        y = x.amax(dim=axes, keepdim=keep) if node.op == "REDUCE_MAX" else x.amin(dim=axes, keepdim=keep)
    return [y]


@_op("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def _reshape(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    return [args[0].reshape(ex.out_shape(node, args[0]))]


@_op("QUANTIZE", "DEQUANTIZE")
def _identity(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    return [args[0].float()]


@_op("CONCATENATION")
def _concat(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    axis = int(node.attrs.get("axis", 0))
    parts = [a for a in args if a is not None]
    n = max(int(a.shape[0]) for a in parts)
    if axis % parts[0].dim() != 0:  # constants (batch 1 in the IR) join every sample of the batch
        parts = [a.expand(n, *a.shape[1:]) if a.shape[0] == 1 and n > 1 else a for a in parts]
    y = torch.cat(parts, dim=axis)
    return [_act(y, node.attrs.get("fused_activation_function"))]


@_op("PAD", "PADV2")
def _pad(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    pads = np.asarray(ex.const_ints(node.inputs[1])).reshape(-1, 2)
    flat: list[int] = []
    for before, after in pads[::-1]:
        flat += [int(before), int(after)]
    value = float(args[2].reshape(-1)[0]) if node.op == "PADV2" and len(args) > 2 else 0.0
    return [F.pad(x, flat, value=value)]


@_op("SOFTMAX")
def _softmax(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    beta = float(node.attrs.get("beta", 1.0) or 1.0)
    return [torch.softmax(args[0] * beta, dim=-1)]


@_op("LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "GELU", "LEAKY_RELU", "EXP",
     "SQRT", "RSQRT", "NEG", "ABS")
def _unary(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    op = node.op
    if op == "LOGISTIC":
        return [torch.sigmoid(x)]
    if op == "TANH":
        return [torch.tanh(x)]
    if op in ("RELU", "RELU6", "RELU_N1_TO_1"):
        return [_act(x, op)]
    if op == "HARD_SWISH":
        return [F.hardswish(x)]
    if op == "GELU":
        return [F.gelu(x, approximate="tanh" if node.attrs.get("approximate") else "none")]
    if op == "LEAKY_RELU":
        return [F.leaky_relu(x, float(node.attrs.get("alpha", 0.2)))]
    fn = {"EXP": torch.exp, "SQRT": torch.sqrt, "RSQRT": torch.rsqrt, "NEG": torch.neg, "ABS": torch.abs}[op]
    return [fn(x)]


@_op("TRANSPOSE")
def _transpose(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    return [args[0].permute(*ex.const_ints(node.inputs[1]))]


@_op("BATCH_MATMUL")
def _bmm(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    a, b = args[0], args[1]
    if node.attrs.get("adj_x"):
        a = a.transpose(-1, -2)
    if node.attrs.get("adj_y"):
        b = b.transpose(-1, -2)
    return [torch.matmul(a, b)]


@_op("LAYER_NORM")
def _layer_norm(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    gamma = args[1] if len(args) > 1 else None
    beta = args[2] if len(args) > 2 else None
    eps = float(node.attrs.get("epsilon", 1e-5))
    return [F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)]


@_op("STRIDED_SLICE")
def _strided_slice(ex: FloatExecutor, node: Node, args: list) -> list[torch.Tensor]:
    x = args[0]
    begin, end, strides = (ex.const_ints(node.inputs[i]) for i in (1, 2, 3))
    bm, em = int(node.attrs.get("begin_mask", 0)), int(node.attrs.get("end_mask", 0))
    index = []
    for d in range(x.dim()):
        if d == 0:  # the batch axis is always taken whole
            index.append(slice(None))
            continue
        b = None if bm >> d & 1 else begin[d]
        e = None if em >> d & 1 else end[d]
        index.append(slice(b, e, strides[d]))
    return [x[tuple(index)].reshape(ex.out_shape(node, x))]
