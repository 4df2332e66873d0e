"""PyTorch front end: converters of ``nn.Module`` leaves (Conv2d, BatchNorm, Linear, ...)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.fx
from torch import nn

from edgekit.errors import UnsupportedOpError
from edgekit.frontends.torch_convert import MODULE_HANDLERS, NHWC, _Converter, _Val
from edgekit.frontends.torch_layers import (
    _adaptive_avg,
    _attention_core,
    _bn_affine,
    _conv_padding,
    _fc,
    _layernorm,
    _pair,
    _pool,
    _reshape_to,
    _silu,
    _softmax,
    _unary,
)


def _conv(cv: _Converter, n: torch.fx.Node, mod: nn.Conv2d, args: list, kwargs: dict) -> _Val:
    if mod.padding_mode != "zeros":
        raise UnsupportedOpError(f"Conv2d with padding_mode={mod.padding_mode!r} (only zeros)")
    v = cv.to_perm(args[0], NHWC, n.name)
    w = mod.weight.detach().double().numpy()  # O, I/g, kh, kw
    b = mod.bias.detach().double().numpy() if mod.bias is not None else np.zeros(w.shape[0])
    users = cv.users.get(n.name, [])
    if len(users) == 1 and users[0].op == "call_module" and isinstance(cv.modules[str(users[0].target)],
                                                                       nn.BatchNorm2d):
        scale, shift = _bn_affine(cv.modules[str(users[0].target)])
        w = w * scale[:, None, None, None]
        b = b * scale + shift
        cv.folded_bn.add(users[0].name)
    _, h, wd, cin = cv.shape(v.tid)
    k, s, d = _pair(mod.kernel_size), _pair(mod.stride), _pair(mod.dilation)
    if isinstance(mod.padding, str):
        pad = (0, 0) if mod.padding == "valid" else tuple(((k[i] - 1) * d[i]) // 2 for i in range(2))
    else:
        pad = _pair(mod.padding)
    v, padding = _conv_padding(cv, v, (h, wd), k, s, d, pad, n.name)  # type: ignore[arg-type]
    out_shape = cv.ir_shape(n, NHWC)
    attrs = dict(padding=padding, stride_w=s[1], stride_h=s[0], dilation_w_factor=d[1], dilation_h_factor=d[0],
                 fused_activation_function="NONE")
    bias = cv.const(b.astype(np.float32), f"{n.name}/bias")
    if mod.groups == cin and w.shape[1] == 1 and cin > 1:
        wt = cv.const(w.transpose(1, 2, 3, 0).astype(np.float32), f"{n.name}/weight")  # 1, kh, kw, C·M
        tid = cv.op("DEPTHWISE_CONV_2D", [v.tid, wt, bias], out_shape, n.name,
                    depth_multiplier=w.shape[0] // cin, **attrs)
    else:
        wt = cv.const(w.transpose(0, 2, 3, 1).astype(np.float32), f"{n.name}/weight")  # OHWI
        tid = cv.op("CONV_2D", [v.tid, wt, bias], out_shape, n.name, **attrs)
    return _Val(tid, NHWC)


def _batchnorm(cv: _Converter, n: torch.fx.Node, mod: nn.Module, args: list, kwargs: dict) -> _Val:
    v = args[0]
    if n.name in cv.folded_bn:
        return v
    scale, shift = _bn_affine(mod)
    rank = len(v.perm)
    axis = v.perm.index(1)
    shape = [1] * rank
    shape[axis] = -1
    s = cv.const(scale.reshape(shape).astype(np.float32), f"{n.name}/scale")
    t = cv.const(shift.reshape(shape).astype(np.float32), f"{n.name}/shift")
    out_shape = cv.shape(v.tid)
    m = cv.op("MUL", [v.tid, s], out_shape, f"{n.name}/mul", fused_activation_function="NONE")
    return _Val(cv.op("ADD", [m, t], out_shape, n.name, fused_activation_function="NONE"), v.perm)


def _linear(cv: _Converter, n: torch.fx.Node, mod: nn.Linear, args: list, kwargs: dict) -> _Val:
    return _fc(cv, n, args[0], mod.weight.detach().numpy(), None if mod.bias is None else mod.bias.detach().numpy(),
               n.name)


def _gelu_mod(cv: _Converter, n: torch.fx.Node, mod: nn.GELU, args: list, kwargs: dict) -> _Val:
    v = args[0]
    return _Val(cv.op("GELU", [v.tid], cv.shape(v.tid), n.name, approximate=mod.approximate == "tanh"), v.perm)


def _leaky_relu_mod(cv: _Converter, n: torch.fx.Node, mod: nn.LeakyReLU, args: list, kwargs: dict) -> _Val:
    return _unary("LEAKY_RELU", alpha=float(mod.negative_slope))(cv, n, args, kwargs)


def _hardtanh(cv: _Converter, n: torch.fx.Node, mod: nn.Hardtanh, args: list, kwargs: dict) -> _Val:
    if (mod.min_val, mod.max_val) == (0.0, 6.0):
        return _unary("RELU6")(cv, n, args, kwargs)
    if (mod.min_val, mod.max_val) == (-1.0, 1.0):
        return _unary("RELU_N1_TO_1")(cv, n, args, kwargs)
    raise UnsupportedOpError(f"Hardtanh({mod.min_val}, {mod.max_val}); only (0, 6) and (-1, 1)")


def _alias(cv: _Converter, n: torch.fx.Node, *rest: Any) -> Any:
    return rest[-2][0]


def _maxpool_mod(cv: _Converter, n: torch.fx.Node, mod: nn.MaxPool2d, args: list, kwargs: dict) -> _Val:
    if _pair(mod.dilation) != (1, 1):
        raise UnsupportedOpError("MaxPool2d with dilation")
    k = _pair(mod.kernel_size)
    return _pool(cv, n, args[0], "MAX_POOL_2D", k, _pair(mod.stride or k), _pair(mod.padding), mod.ceil_mode)


def _avgpool_mod(cv: _Converter, n: torch.fx.Node, mod: nn.AvgPool2d, args: list, kwargs: dict) -> _Val:
    k = _pair(mod.kernel_size)
    pad = _pair(mod.padding)
    if pad != (0, 0) and mod.count_include_pad:
        raise UnsupportedOpError("AvgPool2d with padding needs count_include_pad=False (TFLite's rule)")
    return _pool(cv, n, args[0], "AVERAGE_POOL_2D", k, _pair(mod.stride or k), pad, mod.ceil_mode)


def _layernorm_mod(cv: _Converter, n: torch.fx.Node, mod: nn.LayerNorm, args: list, kwargs: dict) -> _Val:
    if len(mod.normalized_shape) != 1:
        raise UnsupportedOpError(f"LayerNorm over {tuple(mod.normalized_shape)} (only the last axis)")
    w = mod.weight.detach().numpy() if mod.weight is not None else None
    b = mod.bias.detach().numpy() if mod.bias is not None else None
    return _layernorm(cv, n, args[0], w, b, mod.eps)


def _softmax_mod(cv: _Converter, n: torch.fx.Node, mod: nn.Softmax, args: list, kwargs: dict) -> _Val:
    return _softmax(cv, n, args[0], -1 if mod.dim is None else mod.dim)


def _zeropad_mod(cv: _Converter, n: torch.fx.Node, mod: nn.ZeroPad2d, args: list, kwargs: dict) -> _Val:
    v = cv.to_perm(args[0], NHWC, n.name)
    left, right, top, bottom = (int(p) for p in mod.padding)
    pads = np.asarray([[0, 0], [top, bottom], [left, right], [0, 0]], dtype=np.int32)
    return _Val(cv.op("PAD", [v.tid, cv.const(pads, f"{n.name}/pads", "int32")], cv.ir_shape(n, NHWC), n.name),
                NHWC)


def _flatten_mod(cv: _Converter, n: torch.fx.Node, mod: nn.Flatten, args: list, kwargs: dict) -> _Val:
    return _reshape_to(cv, n, args[0])


def _mha(cv: _Converter, n: torch.fx.Node, mod: nn.MultiheadAttention, args: list, kwargs: dict) -> tuple:
    if not mod.batch_first:
        raise UnsupportedOpError("nn.MultiheadAttention with batch_first=False (the batch axis must come first)")
    if kwargs.get("attn_mask") is not None or kwargs.get("key_padding_mask") is not None:
        raise UnsupportedOpError("nn.MultiheadAttention with masks")
    if mod.bias_k is not None or mod.add_zero_attn or not mod._qkv_same_embed_dim:
        raise UnsupportedOpError("nn.MultiheadAttention with bias_k/add_zero_attn/kdim/vdim")
    query = args[0]
    key = args[1] if len(args) > 1 else kwargs.get("key", query)
    value = args[2] if len(args) > 2 else kwargs.get("value", key)
    e, h = mod.embed_dim, mod.num_heads
    w = mod.in_proj_weight.detach().double().numpy()
    bias = mod.in_proj_bias.detach().double().numpy() if mod.in_proj_bias is not None else np.zeros(3 * e)
    scale = 1.0 / math.sqrt(e // h)
    q = _fc(cv, None, query, w[:e] * scale, bias[:e] * scale, f"{n.name}/q").tid
    k = _fc(cv, None, key, w[e:2 * e], bias[e:2 * e], f"{n.name}/k").tid
    v = _fc(cv, None, value, w[2 * e:], bias[2 * e:], f"{n.name}/v").tid
    ctx = _attention_core(cv, n.name, q, k, v, h, cv.shape(q))
    ow = mod.out_proj.weight.detach().numpy()
    ob = mod.out_proj.bias.detach().numpy() if mod.out_proj.bias is not None else None
    out = _fc(cv, None, _Val(ctx, (0, 1, 2)), ow, ob, f"{n.name}/out")
    return (out, None)



MODULE_HANDLERS.update({
    nn.Conv2d: _conv,
    nn.BatchNorm2d: _batchnorm,
    nn.BatchNorm1d: _batchnorm,
    nn.Linear: _linear,
    nn.ReLU: _unary("RELU"),
    nn.ReLU6: _unary("RELU6"),
    nn.Hardswish: _unary("HARD_SWISH"),
    nn.LeakyReLU: _leaky_relu_mod,
    nn.SiLU: _silu,
    nn.GELU: _gelu_mod,
    nn.Sigmoid: _unary("LOGISTIC"),
    nn.Tanh: _unary("TANH"),
    nn.Hardtanh: _hardtanh,
    nn.Dropout: _alias,
    nn.Identity: _alias,
    nn.MaxPool2d: _maxpool_mod,
    nn.AvgPool2d: _avgpool_mod,
    nn.AdaptiveAvgPool2d: lambda cv, n, mod, args, kw: _adaptive_avg(cv, n, args[0], mod.output_size),
    nn.Flatten: _flatten_mod,
    nn.LayerNorm: _layernorm_mod,
    nn.Softmax: _softmax_mod,
    nn.MultiheadAttention: _mha,
    nn.ZeroPad2d: _zeropad_mod,
})

#: Module classes kept whole by the tracer.
LEAF_MODULES: tuple[type, ...] = tuple(MODULE_HANDLERS)
