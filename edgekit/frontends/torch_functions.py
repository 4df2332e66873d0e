"""PyTorch front end: converters of torch functions and tensor methods (add, cat, reshape, ...)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from edgekit.errors import UnsupportedOpError
from edgekit.frontends.torch_convert import FN_HANDLERS, _Converter, _inv, _Val
from edgekit.frontends.torch_layers import (
    _adaptive_avg,
    _drop_axes,
    _fc,
    _layernorm,
    _pair,
    _pool,
    _reshape_to,
    _silu,
    _softmax,
)


def _binary(op: str, reverse: bool = False) -> Callable[..., Any]:
    def handler(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> Any:
        a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other")
        if reverse:
            a, b = b, a
        if "alpha" in kwargs and kwargs["alpha"] != 1:
            raise UnsupportedOpError(f"{op} with alpha={kwargs['alpha']}")
        va = a if isinstance(a, _Val) else None
        vb = b if isinstance(b, _Val) else None
        if op == "DIV" and vb is None:  # x / c → x · (1/c)
            return _binary("MUL")(cv, n, [a, 1.0 / np.asarray(b.detach().numpy() if isinstance(b, torch.Tensor)
                                                             else b, dtype=np.float64)], {})
        like = va or vb
        assert like is not None
        if va is not None and vb is not None and va.perm != vb.perm:
            if len(va.perm) != len(vb.perm):
                va, vb = cv.ident(va, f"{n.name}/a"), cv.ident(vb, f"{n.name}/b")
            else:
                vb = cv.to_perm(vb, va.perm, f"{n.name}/b")
            like = va
        ta = cv.operand(va or a, like, f"{n.name}/a")
        tb = cv.operand(vb or b, like, f"{n.name}/b")
        perm = like.perm if len(like.perm) == len(cv.torch_shape(n)) else tuple(range(len(cv.torch_shape(n))))
        return _Val(cv.op(op, [ta.tid, tb.tid], cv.ir_shape(n, perm), n.name, fused_activation_function="NONE"),
                    perm)
    return handler


def _reshape_fn(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    return _reshape_to(cv, n, args[0])


def _permute(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    x: _Val = args[0]
    rank = len(x.perm)
    if n.target in (torch.transpose, "transpose"):
        d0, d1 = (int(a) % rank for a in args[1:3])
        p = list(range(rank))
        p[d0], p[d1] = p[d1], p[d0]
    else:
        dims = args[1:] if len(args) > 2 or isinstance(args[1], int) else args[1]
        p = [int(d) % rank for d in dims]
    p_inv = _inv(tuple(p))
    return _Val(x.tid, tuple(p_inv[j] for j in x.perm))


def _fn_pad(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    """``F.pad(x, pad, mode="constant", value=0)`` → PAD in IR axes (pairs from the last torch dim)."""
    x: _Val = args[0]
    pad = [int(p) for p in (args[1] if len(args) > 1 else kwargs["pad"])]
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    value = args[3] if len(args) > 3 else kwargs.get("value", None)
    if mode != "constant" or value not in (None, 0, 0.0):
        raise UnsupportedOpError(f"F.pad with mode={mode!r}, value={value!r}: only constant zero padding")
    if any(p < 0 for p in pad) or len(pad) % 2:
        raise UnsupportedOpError(f"F.pad with pad={pad}: only non-negative (before, after) pairs")
    rank = len(x.perm)
    pairs = [[0, 0] for _ in range(rank)]
    for k in range(len(pad) // 2):
        pairs[x.perm.index(rank - 1 - k)] = [pad[2 * k], pad[2 * k + 1]]
    if pairs[0] != [0, 0]:
        raise UnsupportedOpError("F.pad of the batch axis")
    paddings = cv.const(np.asarray(pairs, np.int32), f"{n.name}/paddings", "int32")
    tid = cv.op("PAD", [x.tid, paddings], cv.ir_shape(n, x.perm), n.name)
    return _Val(tid, x.perm)


def _cat(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    items = list(args[0])
    dim = int(args[1] if len(args) > 1 else kwargs.get("dim", 0))
    first = next(a for a in items if isinstance(a, _Val))
    vals = [cv.to_perm(a, first.perm, f"{n.name}/{i}") if isinstance(a, _Val) else cv.operand(a, first, n.name)
            for i, a in enumerate(items)]
    rank = len(first.perm)
    axis = first.perm.index(dim % rank)
    return _Val(cv.op("CONCATENATION", [v.tid for v in vals], cv.ir_shape(n, first.perm), n.name, axis=axis,
                      fused_activation_function="NONE"), first.perm)


def _matmul(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    a, b = args[0], args[1]
    if not isinstance(b, _Val):  # x @ constant matrix → FULLY_CONNECTED
        wm = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
        if wm.ndim > 2 and all(d == 1 for d in wm.shape[:-2]):
            wm = wm.reshape(wm.shape[-2:])  # a matrix with leading 1s broadcasts like the matrix
        if wm.ndim != 2 or not isinstance(a, _Val):
            raise UnsupportedOpError(f"matmul of {'a constant' if not isinstance(a, _Val) else 'a tensor'} by a "
                                     f"constant of shape {list(wm.shape)}: only a tensor times a constant matrix")
        return _fc(cv, n, a, wm.T, None, n.name)
    rank = len(cv.torch_shape(n))
    va, vb = cv.ident(a, f"{n.name}/a"), b
    adj_y = False
    rb = len(vb.perm)
    swapped = tuple(range(rb - 2)) + (rb - 1, rb - 2)
    if vb.perm == swapped:  # held transposed already (e.g. k.transpose(-2, -1))
        adj_y = True
    else:
        vb = cv.ident(vb, f"{n.name}/b")
    return _Val(cv.op("BATCH_MATMUL", [va.tid, vb.tid], cv.torch_shape(n), n.name, adj_x=False, adj_y=adj_y),
                tuple(range(rank)))


def _sdpa(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    q, k, v = (cv.ident(a, f"{n.name}/{t}") for a, t in zip(args[:3], "qkv", strict=True))
    if kwargs.get("attn_mask") is not None or kwargs.get("is_causal") or (len(args) > 3 and args[3] is not None):
        raise UnsupportedOpError("scaled_dot_product_attention with a mask")
    d = cv.shape(q.tid)[-1]
    scale = kwargs.get("scale") or 1.0 / math.sqrt(d)
    qs = cv.op("MUL", [q.tid, cv.const(np.asarray([scale], np.float32), f"{n.name}/scale")], cv.shape(q.tid),
               f"{n.name}/q_scaled", fused_activation_function="NONE")
    shp = cv.torch_shape(n)
    s_shape = (*cv.shape(q.tid)[:-1], cv.shape(k.tid)[-2])
    s = cv.op("BATCH_MATMUL", [qs, k.tid], s_shape, f"{n.name}/scores", adj_x=False, adj_y=True)
    p = cv.op("SOFTMAX", [s], s_shape, f"{n.name}/softmax", beta=1.0)
    return _Val(cv.op("BATCH_MATMUL", [p, v.tid], shp, n.name, adj_x=False, adj_y=False), tuple(range(len(shp))))


def _mean(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    x: _Val = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keep = bool(args[2] if len(args) > 2 else kwargs.get("keepdim", False))
    rank = len(x.perm)
    dims = list(range(rank)) if dims is None else ([dims] if isinstance(dims, int) else list(dims))
    axes = sorted(x.perm.index(int(d) % rank) for d in dims)
    out_perm = x.perm if keep else _drop_axes(x.perm, [int(d) % rank for d in dims])
    shape = cv.ir_shape(n, out_perm)
    return _Val(cv.op("MEAN", [x.tid, cv.ints(axes, f"{n.name}/axes")], shape, n.name, keep_dims=keep), out_perm)


def _fn_unary(op: str) -> Callable[..., _Val]:
    def handler(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
        v = args[0]
        if op == "GELU":
            approx = kwargs.get("approximate", "none") == "tanh"
            return _Val(cv.op(op, [v.tid], cv.shape(v.tid), n.name, approximate=approx), v.perm)
        if op == "LEAKY_RELU":
            slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
            return _Val(cv.op(op, [v.tid], cv.shape(v.tid), n.name, alpha=float(slope)), v.perm)
        return _Val(cv.op(op, [v.tid], cv.shape(v.tid), n.name), v.perm)
    return handler


def _fn_softmax(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    return _softmax(cv, n, args[0], int(dim))


def _fn_layer_norm(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    shape = args[1]
    if len(shape) != 1:
        raise UnsupportedOpError("layer_norm over more than the last axis")
    w = args[2] if len(args) > 2 else kwargs.get("weight")
    b = args[3] if len(args) > 3 else kwargs.get("bias")
    eps = args[4] if len(args) > 4 else kwargs.get("eps", 1e-5)
    w_np = w.detach().numpy() if isinstance(w, torch.Tensor) else None
    b_np = b.detach().numpy() if isinstance(b, torch.Tensor) else None
    return _layernorm(cv, n, args[0], w_np, b_np, float(eps))


def _fn_pool(kind: str) -> Callable[..., _Val]:
    def handler(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
        k = _pair(args[1] if len(args) > 1 else kwargs["kernel_size"])
        s = args[2] if len(args) > 2 else kwargs.get("stride")
        s = _pair(s) if s else k
        pad = _pair(args[3] if len(args) > 3 else kwargs.get("padding", 0))
        return _pool(cv, n, args[0], kind, k, s, pad, bool(kwargs.get("ceil_mode", False)))
    return handler


def _fn_adaptive(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    return _adaptive_avg(cv, n, args[0], args[1] if len(args) > 1 else kwargs.get("output_size"))


def _fn_flatten(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    return _reshape_to(cv, n, args[0])


def _getitem(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> Any:
    """Tuple items, and tensor indexing with ints and slices → STRIDED_SLICE in IR axes."""
    obj, idx = args[0], args[1]
    if isinstance(obj, (tuple, list, torch.Size)):
        return obj[idx]
    if isinstance(obj, torch.Tensor):
        return obj[idx]
    x: _Val = obj
    if not isinstance(idx, tuple):
        idx = (idx,)
    rank = len(x.perm)
    if len(idx) > rank or any(i is Ellipsis or i is None for i in idx):
        raise UnsupportedOpError("tensor indexing with ellipsis/None")
    src = cv.shape(x.tid)
    begin, end, strides = [0] * rank, list(src), [1] * rank
    shrink, dropped = 0, []
    for d, i in enumerate(idx):  # d: torch axis; ax: the IR axis holding it
        ax = x.perm.index(d)
        if isinstance(i, int):
            begin[ax], end[ax] = i % src[ax], i % src[ax] + 1
            shrink |= 1 << ax
            dropped.append(d)
        elif isinstance(i, slice):
            begin[ax], end[ax], strides[ax] = i.indices(src[ax])
        else:
            raise UnsupportedOpError(f"tensor indexing with {type(i).__name__}")
    if (begin[0], end[0], strides[0]) != (0, src[0], 1) or shrink & 1:
        raise UnsupportedOpError("indexing or slicing the batch axis")
    perm = _drop_axes(x.perm, dropped)
    shape = cv.ir_shape(n, perm)
    ins = [x.tid, cv.ints(begin, f"{n.name}/begin"), cv.ints(end, f"{n.name}/end"),
           cv.ints(strides, f"{n.name}/strides")]
    tid = cv.op("STRIDED_SLICE", ins, shape, n.name, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                shrink_axis_mask=shrink, offset=False)
    return _Val(tid, perm)


def _fn_hardtanh(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    lo = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
    hi = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
    if (lo, hi) == (0.0, 6.0):
        return _fn_unary("RELU6")(cv, n, args, kwargs)
    raise UnsupportedOpError(f"hardtanh({lo}, {hi}); only (0, 6)")


def _silu_fn(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> _Val:
    return _silu(cv, n, args, kwargs)


def _size(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> Any:
    shape = cv.torch_shape(n.args[0])  # type: ignore[arg-type]
    if len(args) > 1:
        return shape[int(args[1])]
    return torch.Size(shape)


def _getattr(cv: _Converter, n: torch.fx.Node, args: list, kwargs: dict) -> Any:
    if args[1] == "shape":
        return torch.Size(cv.torch_shape(n.args[0]))  # type: ignore[arg-type]
    raise UnsupportedOpError(f"tensor attribute {args[1]!r}")



for _k in (operator.add, torch.add, operator.iadd, ("method", "add")):
    FN_HANDLERS[_k] = _binary("ADD")
for _k in (operator.sub, torch.sub, ("method", "sub")):
    FN_HANDLERS[_k] = _binary("SUB")
for _k in (operator.mul, torch.mul, operator.imul, ("method", "mul")):
    FN_HANDLERS[_k] = _binary("MUL")
for _k in (operator.truediv, torch.div, ("method", "div")):
    FN_HANDLERS[_k] = _binary("DIV")
FN_HANDLERS[operator.matmul] = _matmul
FN_HANDLERS[torch.matmul] = _matmul
FN_HANDLERS[torch.bmm] = _matmul
FN_HANDLERS[("method", "matmul")] = _matmul
FN_HANDLERS[F.scaled_dot_product_attention] = _sdpa
for _k in (torch.cat, torch.concat, torch.concatenate):
    FN_HANDLERS[_k] = _cat
for _k in (torch.flatten, ("method", "flatten")):
    FN_HANDLERS[_k] = _fn_flatten
FN_HANDLERS[F.pad] = _fn_pad
for _k in (torch.reshape, ("method", "reshape"), ("method", "view"), torch.unsqueeze, ("method", "unsqueeze"),
           torch.squeeze, ("method", "squeeze")):
    FN_HANDLERS[_k] = _reshape_fn
for _k in (torch.permute, ("method", "permute"), torch.transpose, ("method", "transpose")):
    FN_HANDLERS[_k] = _permute
for _k in (("method", "contiguous"),):
    FN_HANDLERS[_k] = lambda cv, n, args, kw: args[0]
for _k in (torch.mean, ("method", "mean")):
    FN_HANDLERS[_k] = _mean
for _fn, _op in ((F.relu, "RELU"), (torch.relu, "RELU"), (("method", "relu"), "RELU"), (F.relu6, "RELU6"),
                 (F.hardswish, "HARD_SWISH"), (F.gelu, "GELU"), (torch.sigmoid, "LOGISTIC"),
                 (F.sigmoid, "LOGISTIC"), (("method", "sigmoid"), "LOGISTIC"), (torch.tanh, "TANH"),
                 (F.tanh, "TANH"), (("method", "tanh"), "TANH"), (F.leaky_relu, "LEAKY_RELU")):
    FN_HANDLERS[_fn] = _fn_unary(_op)
FN_HANDLERS[F.silu] = _silu_fn
FN_HANDLERS[F.hardtanh] = _fn_hardtanh
FN_HANDLERS[F.dropout] = lambda cv, n, args, kw: args[0]
for _k in (F.softmax, torch.softmax, ("method", "softmax")):
    FN_HANDLERS[_k] = _fn_softmax
FN_HANDLERS[F.layer_norm] = _fn_layer_norm
FN_HANDLERS[F.max_pool2d] = _fn_pool("MAX_POOL_2D")
FN_HANDLERS[F.avg_pool2d] = _fn_pool("AVERAGE_POOL_2D")
FN_HANDLERS[F.adaptive_avg_pool2d] = _fn_adaptive
FN_HANDLERS[operator.getitem] = _getitem
FN_HANDLERS[("method", "size")] = _size
FN_HANDLERS[getattr] = _getattr
