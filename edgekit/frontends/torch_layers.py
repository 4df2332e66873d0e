"""PyTorch front end: IR builders shared by the module and function handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from edgekit.errors import UnsupportedOpError
from edgekit.frontends.torch_convert import NHWC, _Converter, _Val
from edgekit.numerics import same_pads


def _pair(x: Any) -> tuple[int, int]:
    return (int(x), int(x)) if isinstance(x, int) else (int(x[0]), int(x[1]))


def _conv_padding(cv: _Converter, v: _Val, in_hw: tuple[int, int], k: tuple[int, int], s: tuple[int, int],
                  d: tuple[int, int], pad: tuple[int, int], name: str) -> tuple[_Val, str]:
    """TFLite padding for a symmetric torch padding: VALID, SAME, or an explicit PAD + VALID."""
    if pad == (0, 0):
        return v, "VALID"
    same = [same_pads(in_hw[i], k[i], s[i], d[i]) for i in range(2)]
    if all(same[i] == (pad[i], pad[i]) for i in range(2)):
        return v, "SAME"
    vv = cv.to_perm(v, NHWC, name)
    n_, h, w, c = cv.shape(vv.tid)
    pads = np.asarray([[0, 0], [pad[0], pad[0]], [pad[1], pad[1]], [0, 0]], dtype=np.int32)
    tid = cv.op("PAD", [vv.tid, cv.const(pads, f"{name}/pads", "int32")], (n_, h + 2 * pad[0], w + 2 * pad[1], c),
                f"{name}/pad")
    return _Val(tid, NHWC), "VALID"


def _bn_affine(bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    var = bn.running_var.detach().double().numpy()
    mean = bn.running_mean.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones_like(var)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros_like(var)
    scale = gamma / np.sqrt(var + bn.eps)
    return scale, beta - mean * scale


def _fc(cv: _Converter, n: torch.fx.Node | None, x: _Val, w: np.ndarray, b: np.ndarray | None, name: str,
        out_shape: tuple[int, ...] | None = None) -> _Val:
    if x.flat_chw is not None:  # columns in torch's C,H,W order → the IR's H,W,C order
        c, h, wd = x.flat_chw
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    v = cv.ident(x, name)
    in_shape = cv.shape(v.tid)
    shape = out_shape or (*in_shape[:-1], int(w.shape[0]))
    inputs = [v.tid, cv.const(w.astype(np.float32), f"{name}/weight")]
    inputs.append(cv.const(b.astype(np.float32), f"{name}/bias") if b is not None else -1)
    tid = cv.op("FULLY_CONNECTED", inputs, shape, name, fused_activation_function="NONE",
                keep_num_dims=len(in_shape) > 2)
    return _Val(tid, tuple(range(len(shape))))


def _unary(op: str, **attrs: Any) -> Callable[..., _Val]:
    def handler(cv: _Converter, n: torch.fx.Node, *rest: Any) -> _Val:
        args = rest[-2]
        v = args[0]
        return _Val(cv.op(op, [v.tid], cv.shape(v.tid), n.name, **attrs), v.perm)
    return handler


def _silu(cv: _Converter, n: torch.fx.Node, *rest: Any) -> _Val:
    v = rest[-2][0]
    sig = cv.op("LOGISTIC", [v.tid], cv.shape(v.tid), f"{n.name}/sigmoid")
    return _Val(cv.op("MUL", [v.tid, sig], cv.shape(v.tid), n.name, fused_activation_function="NONE"), v.perm)


def _pool(cv: _Converter, n: torch.fx.Node, v: _Val, kind: str, k: tuple[int, int], s: tuple[int, int],
          pad: tuple[int, int], ceil_mode: bool = False) -> _Val:
    if ceil_mode:
        raise UnsupportedOpError("pooling with ceil_mode=True")
    v = cv.to_perm(v, NHWC, n.name)
    _, h, w, _ = cv.shape(v.tid)
    padding = "VALID"
    if pad != (0, 0):
        same = [same_pads((h, w)[i], k[i], s[i], 1) for i in range(2)]
        if not all(same[i] == (pad[i], pad[i]) for i in range(2)):
            raise UnsupportedOpError(f"pooling padding {pad} is neither VALID nor TFLite SAME for this shape")
        padding = "SAME"
    tid = cv.op(kind, [v.tid], cv.ir_shape(n, NHWC), n.name, padding=padding, stride_w=s[1], stride_h=s[0],
                filter_width=k[1], filter_height=k[0], fused_activation_function="NONE")
    return _Val(tid, NHWC)


def _adaptive_avg(cv: _Converter, n: torch.fx.Node, v: _Val, size: Any) -> _Val:
    v = cv.to_perm(v, NHWC, n.name)
    _, h, w, _ = cv.shape(v.tid)
    oh, ow = _pair(size) if size is not None else (1, 1)
    oh, ow = oh or h, ow or w
    if h % oh or w % ow:
        raise UnsupportedOpError(f"adaptive average pooling {h}×{w} → {oh}×{ow} (sizes must divide)")
    k = (h // oh, w // ow)
    return _pool(cv, n, v, "AVERAGE_POOL_2D", k, k, (0, 0))


def _layernorm(cv: _Converter, n: torch.fx.Node, x: _Val, w: np.ndarray | None, b: np.ndarray | None,
               eps: float) -> _Val:
    rank = len(x.perm)
    v = x if x.perm[-1] == rank - 1 else cv.ident(x, n.name)
    c = cv.shape(v.tid)[-1]
    ins = [v.tid, cv.const((w if w is not None else np.ones(c)).astype(np.float32), f"{n.name}/gamma"),
           cv.const((b if b is not None else np.zeros(c)).astype(np.float32), f"{n.name}/beta")]
    return _Val(cv.op("LAYER_NORM", ins, cv.shape(v.tid), n.name, epsilon=float(eps)), v.perm)


def _softmax(cv: _Converter, n: torch.fx.Node, x: _Val, dim: int) -> _Val:
    rank = len(x.perm)
    dim = dim % rank
    v = x if x.perm[-1] == dim else cv.ident(x, n.name)
    if v.perm[-1] != dim:
        raise UnsupportedOpError(f"softmax over dim {dim} (only the last axis)")
    return _Val(cv.op("SOFTMAX", [v.tid], cv.shape(v.tid), n.name, beta=1.0), v.perm)


def _reshape_to(cv: _Converter, n: torch.fx.Node, x: _Val) -> _Val:
    target = cv.torch_shape(n)
    src = cv.shape(x.tid)
    rank = len(x.perm)
    if x.perm != tuple(range(rank)) and x.perm == NHWC:
        b, c, h, w = (src[0], src[3], src[1], src[2])
        if target == (b, c, h * w):  # flatten(2): hold as (B, HW, C), perm (0, 2, 1)
            new = (b, h * w, c)
            tid = cv.op("RESHAPE", [x.tid, cv.ints(list(new), f"{n.name}/shape")], new, n.name, new_shape=list(new))
            return _Val(tid, (0, 2, 1))
        users = cv.users.get(n.name, [])
        if (target == (b, c * h * w) and users and c > 1 and h * w > 1
                and all(u.op == "call_module" and isinstance(cv.modules[str(u.target)], nn.Linear) for u in users)):
            new = (b, c * h * w)  # flatten in NHWC order; the Linear's columns are permuted to match
            tid = cv.op("RESHAPE", [x.tid, cv.ints(list(new), f"{n.name}/shape")], new, n.name, new_shape=list(new))
            return _Val(tid, (0, 1), flat_chw=(c, h, w))
        if not (c == 1 or h * w == 1):
            x = cv.ident(x, n.name)
    elif x.perm != tuple(range(rank)):
        x = cv.ident(x, n.name)
    tid = cv.op("RESHAPE", [x.tid, cv.ints(list(target), f"{n.name}/shape")], target, n.name,
                new_shape=list(target))
    return _Val(tid, tuple(range(len(target))))


def _drop_axes(perm: tuple[int, ...], dropped: list[int]) -> tuple[int, ...]:
    kept = [p for p in perm if p not in dropped]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)


def _attention_core(cv: _Converter, name: str, q: int, k: int, v: int, heads: int, out_shape: tuple[int, ...]
                    ) -> int:
    """q, k, v: IR (B, T, E) with the softmax scale already in q; returns (B, Tq, E)."""
    b, tq, e = cv.shape(q)
    tk = cv.shape(k)[1]
    d = e // heads

    def split(t: int, length: int, tag: str) -> int:
        r = cv.op("RESHAPE", [t, cv.ints([b, length, heads, d], f"{name}/{tag}/shape")], (b, length, heads, d),
                  f"{name}/{tag}/split", new_shape=[b, length, heads, d])
        return cv.op("TRANSPOSE", [r, cv.ints([0, 2, 1, 3], f"{name}/{tag}/perm")], (b, heads, length, d),
                     f"{name}/{tag}/heads")

    qh, kh, vh = split(q, tq, "q"), split(k, tk, "k"), split(v, tk, "v")
    s = cv.op("BATCH_MATMUL", [qh, kh], (b, heads, tq, tk), f"{name}/scores", adj_x=False, adj_y=True)
    p = cv.op("SOFTMAX", [s], (b, heads, tq, tk), f"{name}/softmax", beta=1.0)
    o = cv.op("BATCH_MATMUL", [p, vh], (b, heads, tq, d), f"{name}/context", adj_x=False, adj_y=False)
    o = cv.op("TRANSPOSE", [o, cv.ints([0, 2, 1, 3], f"{name}/o/perm")], (b, tq, heads, d), f"{name}/merge")
    return cv.op("RESHAPE", [o, cv.ints(list(out_shape), f"{name}/o/shape")], out_shape, f"{name}/concat",
                 new_shape=list(out_shape))

