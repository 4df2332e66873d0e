"""EK_LAYERNORM (edgekit custom op): integer-only LayerNorm over the last axis (I-ViT's I-LayerNorm).

int16 in (the residual stream, zero point 0; or int8, e.g. a conv's output entering a
transformer, whose zero point cancels) → int8 out (own quantization); inputs 1 and 2 are
the float gamma and beta (constants; the integer parameters are computed from them here, like
TFLM's Prepare() computes multipliers from float scales). Per row of C values (C <= 1024):
``y = C·x − Σx`` (C times ``x − mean``, exact: I-ViT's rounded mean is off by up to a quarter of
sigma on rows of small variance), ``var = Σy² + C²·eps`` in 64 bits (a sum, not a mean;
``eps = round(C·epsilon/s²)``), ``k = isqrt(var·4^P)`` exactly (bit by bit — not I-ViT's fixed 10
Newton steps; ``P`` scales the variance into [2^59, 2^61) so that k has 30 significant bits),
``z = (y·2^P·floor(2^60/k)) >> 45`` (one 32×32→64 multiply, |z| <= 2^15, scale
``sqrt(C)·2^-15``; I-ViT's ``floor((2^31−1)/k)`` keeps only 31 − log2(k) bits), and per
channel ``out = zp + round(beta_c/s_out) + dyadic(z·gamma_c·sqrt(C)·2^-15/s_out)`` (I-ViT's dyadic
requantization, per channel) — I-ViT's
per-channel output scale ``S_norm·gamma_c`` requantized straight to the int8 output scale, so the
next layer takes a per-tensor int8 input. Zero variance gives ``out = zp + round(beta/s_out)``.
Float: ``F.layer_norm``. In a quantized file it is a CUSTOM operator with options ``{epsilon}``.
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _float as fl
from edgekit.ops import _ivit
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register

NAME = "EK_LAYERNORM"
MAX_CHANNELS = 1024
NORM_SHIFT = 45
INT32_MAX = 2**31 - 1


@c_struct("ek_layernorm_params_t")
class LayerNormParams(KernelParams):
    rows: int
    channels: int
    input_int16: int
    eps: int
    output_zero_point: int
    mult: np.ndarray
    shift: np.ndarray
    bias: np.ndarray


def _params(graph: Graph, node: Node) -> LayerNormParams:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("int16", "int8"), "input")
    u.require_dtype(node, y, ("int8",), "output")
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if zp_in != 0 and x.dtype == "int16":
        raise u.unsupported(node, f"int16 input zero point {zp_in} (the residual stream is symmetric)")
    channels = int(x.shape[-1]) if x.shape else 1
    if not 0 < channels <= MAX_CHANNELS:
        raise u.unsupported(node, f"{channels} channels (I-LayerNorm takes 1..{MAX_CHANNELS})")
    gamma, beta = (u.in_tensor(graph, node, i) for i in (1, 2))
    for what, t in (("gamma", gamma), ("beta", beta)):
        if t.data is None or t.data.size != channels:
            raise u.unsupported(node, f"{what} must be a constant of {channels} values")
    g = gamma.data.astype(np.float64).reshape(-1)
    b = beta.data.astype(np.float64).reshape(-1)
    eps = float(node.attrs.get("epsilon", 1e-5) or 0.0)
    eps_int = min(int(round(channels * eps / (float(s_in) ** 2))), INT32_MAX)
    base = math.sqrt(channels) / float(1 << 15) / float(s_out)
    mult = np.zeros(channels, dtype=np.int32)
    shift = np.zeros(channels, dtype=np.int32)
    for c in range(channels):
        mult[c], shift[c] = _ivit.dyadic(float(g[c]) * base)
    bias = np.clip(np.round(b / float(s_out)), -(2**30), 2**30).astype(np.int32)
    return LayerNormParams(rows=u.numel(tuple(x.shape)) // channels, channels=channels,
                           input_int16=int(x.dtype == "int16"), eps=eps_int,
                           output_zero_point=zp_out, mult=mult, shift=shift, bias=bias)


def isqrt(v: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(v)) of non-negative int64 values (< 2^62)."""
    v = np.asarray(v, dtype=np.int64)
    k = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    for _ in range(3):  # the float estimate is within 1 for v < 2^62: correct it exactly
        k = np.where(k * k > v, k - 1, k)
        k = np.where((k + 1) * (k + 1) <= v, k + 1, k)
    return k


def layernorm_reference(x: np.ndarray, p: LayerNormParams) -> np.ndarray:
    """The exact integer I-LayerNorm of int16 rows `x` (last axis), int8 out."""
    x64 = x.astype(np.int64)
    c_n = p.channels
    d = c_n * x64 - x64.sum(axis=-1, keepdims=True)  # C·(x − mean), exact
    var = (d * d).sum(axis=-1, keepdims=True) + p.eps * c_n * c_n
    pre = np.zeros_like(var)
    for _ in range(30):  # the largest pre <= 30 with var·4^pre < 2^61
        pre = np.where((pre < 30) & ((var >> (59 - 2 * pre)) == 0), pre + 1, pre)
    k = isqrt(var << (2 * pre))
    factor = np.where(k > 0, (1 << 60) // np.maximum(k, 1), 0)
    z = ((d << pre) * factor) >> NORM_SHIFT
    v = p.output_zero_point + p.bias.astype(np.int64) + _ivit.apply_dyadic(z * p.mult.astype(np.int64), p.shift)
    return np.clip(v, -128, 127).astype(np.int8)


def run_int(graph: Graph, node: Node, args: list) -> list:
    return [layernorm_reference(args[0], _params(graph, node))]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x = args[0]
    return [F.layer_norm(x, (x.shape[-1],), args[1], args[2], float(node.attrs.get("epsilon", 1e-5)))]


def macs(graph: Graph, node: Node) -> int:
    return 4 * u.numel(tuple(u.in_tensor(graph, node, 0).shape))


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    return KernelCall(func="ek_layernorm_s8", params=_params(graph, node), inputs=[x.id], outputs=[y.id],
                      runtime_sources=("ek_ivit.c",))


register(OpDef(name=NAME, infer_shapes=u.same_shape, macs=macs, run_float=run_float, quant=QuantRule(int8=True),
               lower=lower, run_int=run_int, custom=True, doc=__doc__ or ""))
