"""CONV_2D: int8 activations, int8 (or int4) per-channel (or per-tensor) OHWI weights, int32 bias.

Float: ``F.conv2d`` over NHWC (weights OHWI → OIHW once), TFLite SAME/VALID padding, grouped
when the input depth is a multiple of the filter depth. int8: TFLM's reference arithmetic, on
the portable kernel (``ek_conv2d_s8``, grouped convolutions) or the SMLAD GEMM over im2col
columns (``ek_conv2d_s8_gemm``, ungrouped; see :mod:`edgekit.ops._fast`). An int4 filter is
stored packed and runs on ``ek_conv2d_s4`` / ``ek_conv2d_s4_gemm`` (``ek_int4.h``): the same
arithmetic on the same values.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _fast, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import AddArith, ConvGeometry, KernelParams, Requant, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_conv2d_params_t")
class Conv2DParams(KernelParams):
    geom: ConvGeometry
    filter_in_c: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@c_struct("ek_conv2d_gemm_params_t")
class Conv2DGemmParams(KernelParams):
    geom: ConvGeometry
    k4: int
    pad_value: int
    requant_small: int
    rq_mode: int  # a RequantMode
    rq: Requant
    triples: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    fuse_add: int
    add: AddArith


@c_struct("ek_conv2d_f32_params_t")
class Conv2DF32Params(KernelParams):
    geom: ConvGeometry
    filter_in_c: int
    act_min: float
    act_max: float
    weights: np.ndarray
    bias: np.ndarray


def _geometry(graph: Graph, node: Node) -> tuple[ConvGeometry, int]:
    """(geometry, filter depth)."""
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
    s_h, s_w, d_h, d_w = fl.conv_strides(node)
    pad_h, pad_w, out_h, out_w = u.conv_padding(node, in_h, in_w, k_h, k_w, s_h, s_w, d_h, d_w)
    g = ConvGeometry(batches=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h,
                     k_w=k_w, stride_h=s_h, stride_w=s_w, dil_h=d_h, dil_w=d_w, pad_h=pad_h, pad_w=pad_w)
    return g, f_in_c


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    g, _ = _geometry(graph, node)
    return [(g.batches, g.out_h, g.out_w, g.out_c)]


def macs(graph: Graph, node: Node) -> int:
    g, f_in_c = _geometry(graph, node)
    return g.batches * g.out_h * g.out_w * g.out_c * g.k_h * g.k_w * f_in_c


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x, w = args[0], args[1]
    if ex.graph.tensors[node.inputs[1]].is_const:
        wt = ex.prepared(node.inputs[1], "oihw", lambda t: t.permute(0, 3, 1, 2))  # OHWI → OIHW, once
    else:
        wt = w.permute(0, 3, 1, 2)
    b = args[2] if len(args) > 2 else None
    sh, sw, dh, dw = fl.conv_strides(node)
    xc = fl.nchw_pad(x.permute(0, 3, 1, 2), node, wt.shape[2], wt.shape[3], sh, sw, dh, dw)
    groups = x.shape[3] // wt.shape[1]
    y = F.conv2d(xc, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
    return [fl.fused(node, y.permute(0, 2, 3, 1))]


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_conv2d_f32`` (direct convolution, OHWI float weights, grouped or not)."""
    g, f_in_c = _geometry(graph, node)
    x, y = _f32.unary_tensors(graph, node)
    lo, hi = _f32.act_range(node)
    params = Conv2DF32Params(geom=g, filter_in_c=f_in_c, act_min=lo, act_max=hi,
                             weights=_f32.const_data(node, u.in_tensor(graph, node, 1), "filter"),
                             bias=_f32.bias_data(graph, node, 2, g.out_c))
    return KernelCall(func="ek_conv2d_f32", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    return _lower(graph, node, packed=True)


def _lower(graph: Graph, node: Node, packed: bool) -> KernelCall:
    """The kernel call; an int4 filter goes to the int4 kernels (packed weights, ek_int4.h) when
    `packed`, else (the integer reference) to the int8 kernel on the same values."""
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    g, f_in_c = _geometry(graph, node)
    fields, x, y = u.conv_like_params(graph, node, g, channel_axis=0)
    int4 = packed and _fast.is_int4(u.in_tensor(graph, node, 1).dtype)
    if _fast.kernels() == "fast" and f_in_c == g.in_c:
        return gemm_call(g, fields["rq"], fields["weights"].reshape(g.out_c, -1), fields["bias"],
                         fields["input_offset"], x.id, y.id, int4=int4)
    if int4:
        fields = {**fields, "weights": _fast.pack_int4(fields["weights"])}
    return KernelCall(
        func="ek_conv2d_s4" if int4 else "ek_conv2d_s8",
        params=Conv2DParams(geom=g, filter_in_c=f_in_c, **fields),
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_int4.c",) if int4 else ("ek_conv.c",),
    )


def gemm_call(g: ConvGeometry, rq: Requant, w2: np.ndarray, bias: np.ndarray, input_offset: int, x_id: int,
              y_id: int, int4: bool = False) -> KernelCall:
    """The im2col + SMLAD GEMM kernel (ek_conv_dsp.c) for an ungrouped convolution (or an FC
    viewed as a 1×1 convolution): `w2` is [out_c, K] int8, `rq` TFLM's per-channel requantization.
    `int4`: the values fit int4 and are stored nibble-packed (``ek_conv2d_s4_gemm``, which unpacks a
    channel pair at a time into 2·k4 more bytes of scratch)."""
    fast = _fast.gemm_params(w2, bias, input_offset, rq.mult, rq.shift)
    rq_fast, mode, triples = _fast.fast_requant(rq, fast["out_mult"], fast["out_shift"], bool(fast["requant_small"]),
                                                uniform_ok=True)
    params = Conv2DGemmParams(geom=g, k4=fast["k4"], pad_value=fast["pad_value"], requant_small=fast["requant_small"],
                              rq_mode=int(mode), rq=rq_fast, triples=triples,
                              weights=_fast.gemm_int4_weights(fast["weights"]) if int4 else fast["weights"],
                              bias=fast["bias"], fuse_add=0, add=AddArith.none())
    scratch = _fast.gemm_scratch(fast["k4"], g.in_c, g.batches * g.out_h * g.out_w)
    return KernelCall(
        func="ek_conv2d_s4_gemm" if int4 else "ek_conv2d_s8_gemm",
        params=params,
        inputs=[x_id],
        outputs=[y_id],
        scratch_bytes=scratch + (2 * fast["k4"] if int4 else 0),
        runtime_sources=("ek_conv_dsp.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 convolution (``ConvPerChannel``) on the parameters ``lower`` gives the
    portable kernel: int32 sums of ``w·(x + input_offset)`` over the in-bounds taps (grouped when
    the filter is shallower than the input), + bias, per-channel MultiplyByQuantizedMultiplier,
    + zp_out, clamped to the activation range."""
    with _fast.kernel_set("portable"):
        p = _lower(graph, node, packed=False).params  # an int4 filter: its values, one int8 each
    if not isinstance(p, Conv2DParams):
        raise u.unsupported(node, "no integer reference for this convolution (int8 only)")
    g = p.geom
    x = _int.operand(graph, node, args, 0).reshape(-1, g.in_h, g.in_w, g.in_c) + p.input_offset
    groups = g.in_c // p.filter_in_c
    w = p.weights.astype(np.int64).reshape(groups, g.out_c // groups, g.k_h, g.k_w, p.filter_in_c)
    acc = np.zeros((x.shape[0], g.out_h, g.out_w, g.out_c), dtype=np.int64)
    for ky, kx, sl in _int.window_taps(x, g):
        sl = sl.reshape(*sl.shape[:3], groups, p.filter_in_c)
        acc += np.einsum("nhwgc,goc->nhwgo", sl, w[:, :, ky, kx, :]).reshape(acc.shape)
    return [_int.requant_output(acc, p.bias, p.rq)]


register(OpDef(
    name="CONV_2D",
    infer_shapes=infer_shapes,
    macs=macs,
    run_float=run_float,
    quant=QuantRule(int8=True, weight_axis=0, fuses_activation=True),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 3}),
    patch_window=lambda graph, node: _geometry(graph, node)[0],
    zero_point_padding=True,
    doc=__doc__ or "",
))
