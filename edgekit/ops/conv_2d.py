"""CONV_2D: int8 activations, int8 per-channel (or per-tensor) OHWI weights, int32 bias."""

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
    out_c, k_h, k_w, f_in_c = w.shape
    if f_in_c <= 0 or in_c % f_in_c != 0:
        raise u.unsupported(node, f"input depth {in_c} is not a multiple of the filter depth {f_in_c}")
    groups = in_c // f_in_c
    if out_c % groups != 0:
        raise u.unsupported(node, f"{out_c} filters do not split into {groups} groups")
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
        filter_in_c=f_in_c,
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
    return g["batches"] * g["out_h"] * g["out_w"] * g["out_c"] * g["k_h"] * g["k_w"] * g["filter_in_c"]


def lower(graph: Graph, node: Node) -> KernelCall:
    g = _geometry(graph, node)
    params, x, y = u.conv_like_params(graph, node, g, channel_axis=0)
    if _fast.kernels() == "fast" and g["filter_in_c"] == g["in_c"]:
        return gemm_call(g, params, x.id, y.id)
    return KernelCall(
        func="ek_conv2d_s8",
        params_type="ek_conv_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_conv.c",),
    )


def gemm_call(g: dict, params: dict, x_id: int, y_id: int) -> KernelCall:
    """The im2col + SMLAD GEMM kernel (ek_conv_dsp.c) for an ungrouped convolution."""
    w2 = params["weights"].reshape(g["out_c"], -1)
    fast = _fast.gemm_params(w2, params["bias"], params["input_offset"], params["out_mult"], params["out_shift"])
    keys = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
            "dil_h", "dil_w", "pad_h", "pad_w")
    fp: dict = {k: g[k] for k in keys}
    fp.update(k4=fast["k4"], pad_value=fast["pad_value"], output_offset=params["output_offset"],
              act_min=params["act_min"], act_max=params["act_max"], requant_small=fast["requant_small"],
              weights=fast["weights"], bias=fast["bias"], out_mult=fast["out_mult"], out_shift=fast["out_shift"])
    rq = _fast.rq_triples(fast["out_mult"], fast["out_shift"], params["output_offset"]) if fast["requant_small"] \
        else None
    if rq is not None:
        full = int(params["act_min"]) == -128 and int(params["act_max"]) == 127
        t = rq.reshape(-1, 3)
        uniform = bool(np.all(t == t[:1]))
        fp.update(rq_mode=(1 if full else 2) + (2 if uniform else 0), rq=t[0].copy() if uniform else rq,
                  out_mult=np.zeros(0, dtype=np.int32), out_shift=np.zeros(0, dtype=np.int32))
    return KernelCall(
        func="ek_conv2d_s8_gemm",
        params_type="ek_convf_params_t",
        params=fp,
        inputs=[x_id],
        outputs=[y_id],
        scratch_bytes=_fast.gemm_scratch(fast["k4"], g["in_c"], g["batches"] * g["out_h"] * g["out_w"]),
        runtime_sources=("ek_conv_dsp.c",),
    )


register(OpDef(name="CONV_2D", infer_shapes=infer_shapes, macs=macs, lower=lower, doc=__doc__ or ""))
