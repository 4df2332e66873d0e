"""DEPTHWISE_CONV_2D: int8, weights 1×H×W×(C·M) per-channel along axis 3, int32 bias."""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _fast
from edgekit.ops import _util as u


def _geometry(graph: Graph, node: Node) -> dict[str, int]:
    x = u.in_tensor(graph, node, 0)
    w = u.in_tensor(graph, node, 1)
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise u.unsupported(node, f"expected 4-D input and filter, got {x.shape} and {w.shape}")
    n, in_h, in_w, in_c = x.shape
    _, k_h, k_w, out_c = w.shape
    if in_c <= 0 or out_c % in_c != 0:
        raise u.unsupported(node, f"filter depth {out_c} is not a multiple of the input depth {in_c}")
    mult = out_c // in_c
    s_h = int(node.attrs.get("stride_h", 1))
    s_w = int(node.attrs.get("stride_w", 1))
    d_h = int(node.attrs.get("dilation_h_factor", 1))
    d_w = int(node.attrs.get("dilation_w_factor", 1))
    pad_h, pad_w, out_h, out_w = u.conv_padding(node, in_h, in_w, k_h, k_w, s_h, s_w, d_h, d_w)
    return dict(
        batches=n,
        in_h=in_h,
        in_w=in_w,
        in_c=in_c,
        out_h=out_h,
        out_w=out_w,
        out_c=out_c,
        k_h=k_h,
        k_w=k_w,
        depth_multiplier=mult,
        stride_h=s_h,
        stride_w=s_w,
        dil_h=d_h,
        dil_w=d_w,
        pad_h=pad_h,
        pad_w=pad_w,
    )


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    g = _geometry(graph, node)
    return [(g["batches"], g["out_h"], g["out_w"], g["out_c"])]


def macs(graph: Graph, node: Node) -> int:
    g = _geometry(graph, node)
    return g["batches"] * g["out_h"] * g["out_w"] * g["out_c"] * g["k_h"] * g["k_w"]


def lower(graph: Graph, node: Node) -> KernelCall:
    g = _geometry(graph, node)
    params, x, y = u.conv_like_params(graph, node, g, channel_axis=3)
    if _fast.kernels() == "fast" and g["depth_multiplier"] == 1 and g["in_c"] % 4 == 0:
        return _fast_call(g, params, x.id, y.id)
    return KernelCall(
        func="ek_dwconv2d_s8",
        params_type="ek_dwconv_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_conv.c",),
    )


def _fast_call(g: dict, params: dict, x_id: int, y_id: int) -> KernelCall:
    """Four channels per step with 16-bit SIMD (ek_dwconv_dsp.c)."""
    c = g["out_c"]
    w = params["weights"].reshape(g["k_h"] * g["k_w"], c)
    bound = np.abs(params["bias"].astype(np.int64)) + 255 * np.abs(w.astype(np.int64)).sum(axis=0)
    shift = np.asarray(params["out_shift"], dtype=np.int32)
    small = _fast.small_requant(bound, shift)
    keys = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "dil_h",
            "dil_w", "pad_h", "pad_w", "input_offset", "output_offset", "act_min", "act_max")
    fp: dict = {k: params[k] for k in keys}
    fp.update(requant_small=int(small), weights=_fast.pack_dw_weights(w), bias=params["bias"],
              out_mult=params["out_mult"], out_shift=(-shift).astype(np.int32) if small else shift)
    rq = _fast.rq_triples(fp["out_mult"], fp["out_shift"], params["output_offset"]) if small else None
    if rq is not None:
        full = int(params["act_min"]) == -128 and int(params["act_max"]) == 127
        fp.update(rq_mode=1 if full else 2, rq=rq, out_mult=np.zeros(0, dtype=np.int32),
                  out_shift=np.zeros(0, dtype=np.int32))
    return KernelCall(
        func="ek_dwconv2d_s8_fast",
        params_type="ek_dwconvf_params_t",
        params=fp,
        inputs=[x_id],
        outputs=[y_id],
        runtime_sources=("ek_dwconv_dsp.c",),
    )


register(OpDef(name="DEPTHWISE_CONV_2D", infer_shapes=infer_shapes, macs=macs, lower=lower, doc=__doc__ or ""))
