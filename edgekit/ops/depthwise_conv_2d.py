"""DEPTHWISE_CONV_2D: int8, weights 1×H×W×(C·M) per-channel along axis 3, int32 bias.

Float: ``F.conv2d`` with one group per input channel. int8: TFLM's reference arithmetic on the
portable kernel (``ek_dwconv2d_s8``), or four channels per step with 16-bit SIMD
(``ek_dwconv2d_s8_fast``) when the depth multiplier is 1 and the channels a multiple of 4. An
int4 filter is stored packed and runs on ``ek_dwconv2d_s4`` / ``ek_dwconv2d_s4_fast``
(``ek_int4.h``): the same arithmetic on the same values. A node marked ``in_place`` runs one
channel plane at a time (``ek_dwconv2d_s8_inplace``) and may write its output over its input.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _fast, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.params import ConvGeometry, KernelParams, Requant, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions


@c_struct("ek_dwconv2d_params_t")
class DepthwiseConv2DParams(KernelParams):
    geom: ConvGeometry
    depth_multiplier: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@c_struct("ek_dwconv2d_fast_params_t")
class DepthwiseConv2DFastParams(KernelParams):
    geom: ConvGeometry
    input_offset: int
    requant_small: int
    rq_mode: int  # a RequantMode
    rq: Requant
    triples: np.ndarray
    weights: np.ndarray
    bias: np.ndarray


@c_struct("ek_dwconv2d_f32_params_t")
class DepthwiseConv2DF32Params(KernelParams):
    geom: ConvGeometry
    depth_multiplier: int
    act_min: float
    act_max: float
    weights: np.ndarray
    bias: np.ndarray


def _geometry(graph: Graph, node: Node) -> tuple[ConvGeometry, int]:
    """(geometry, depth multiplier)."""
    x = u.in_tensor(graph, node, 0)
    w = u.in_tensor(graph, node, 1)
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise u.unsupported(node, f"expected 4-D input and filter, got {x.shape} and {w.shape}")
    n, in_h, in_w, in_c = x.shape
    _, k_h, k_w, out_c = w.shape
    if in_c <= 0 or out_c % in_c != 0:
        raise u.unsupported(node, f"filter depth {out_c} is not a multiple of the input depth {in_c}")
    s_h, s_w, d_h, d_w = fl.conv_strides(node)
    pad_h, pad_w, out_h, out_w = u.conv_padding(node, in_h, in_w, k_h, k_w, s_h, s_w, d_h, d_w)
    g = ConvGeometry(batches=n, in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h,
                     k_w=k_w, stride_h=s_h, stride_w=s_w, dil_h=d_h, dil_w=d_w, pad_h=pad_h, pad_w=pad_w)
    return g, out_c // in_c


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    g, _ = _geometry(graph, node)
    return [(g.batches, g.out_h, g.out_w, g.out_c)]


def macs(graph: Graph, node: Node) -> int:
    g, _ = _geometry(graph, node)
    return g.batches * g.out_h * g.out_w * g.out_c * g.k_h * g.k_w


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x = args[0]
    wt = ex.prepared(node.inputs[1], "dw", lambda t: t.permute(3, 0, 1, 2))  # (C·M, 1, H, W)
    b = args[2] if len(args) > 2 else None
    sh, sw, dh, dw = fl.conv_strides(node)
    xc = fl.nchw_pad(x.permute(0, 3, 1, 2), node, wt.shape[2], wt.shape[3], sh, sw, dh, dw)
    y = F.conv2d(xc, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=x.shape[3])
    return [fl.fused(node, y.permute(0, 2, 3, 1))]


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_dwconv2d_f32`` (float weights [1, k_h, k_w, C·M])."""
    g, mult = _geometry(graph, node)
    x, y = _f32.unary_tensors(graph, node)
    lo, hi = _f32.act_range(node)
    params = DepthwiseConv2DF32Params(geom=g, depth_multiplier=mult, act_min=lo, act_max=hi,
                                      weights=_f32.const_data(node, u.in_tensor(graph, node, 1), "filter"),
                                      bias=_f32.bias_data(graph, node, 2, g.out_c))
    return KernelCall(func="ek_dwconv2d_f32", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    return _lower(graph, node, packed=True)


def _lower(graph: Graph, node: Node, packed: bool) -> KernelCall:
    """The kernel call; an int4 filter goes to the int4 kernels (packed weights, ek_int4.h) when
    `packed`, else (the integer reference) to the int8 kernel on the same values."""
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    g, mult = _geometry(graph, node)
    fields, x, y = u.conv_like_params(graph, node, g, channel_axis=3)
    int4 = packed and _fast.is_int4(u.in_tensor(graph, node, 1).dtype)
    if node.attrs.get(IN_PLACE) and in_place_legal(graph, node):
        return KernelCall(func="ek_dwconv2d_s8_inplace", params=DepthwiseConv2DParams(geom=g, depth_multiplier=1,
                                                                                     **fields),
                          inputs=[x.id], outputs=[y.id], scratch_bytes=g.out_h * g.out_w, may_alias_input=(0,),
                          may_alias_smaller=True, runtime_sources=("ek_conv.c",))
    if _fast.kernels() == "fast" and mult == 1 and g.in_c % 4 == 0:
        return _fast_call(g, fields, x.id, y.id, int4)
    if int4:
        fields = {**fields, "weights": _fast.pack_int4(fields["weights"])}
    return KernelCall(
        func="ek_dwconv2d_s4" if int4 else "ek_dwconv2d_s8",
        params=DepthwiseConv2DParams(geom=g, depth_multiplier=mult, **fields),
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_int4.c",) if int4 else ("ek_conv.c",),
    )


#: Node attribute: run on ``ek_dwconv2d_s8_inplace``, whose output may be written over its input
#: (set by :func:`edgekit.patch.inplace_depthwise` where that shrinks the arena).
IN_PLACE = "in_place"


def in_place_legal(graph: Graph, node: Node) -> bool:
    """The in-place kernel runs `node`: int8 activations, an int8 filter, depth multiplier 1."""
    x, w, y = u.in_tensor(graph, node, 0), u.in_tensor(graph, node, 1), graph.tensors[node.outputs[0]]
    return (x.dtype == "int8" and w.dtype == "int8" and y.dtype == "int8" and len(x.shape) == 4
            and len(w.shape) == 4 and w.shape[3] == x.shape[3])


def _fast_call(g: ConvGeometry, fields: dict, x_id: int, y_id: int, int4: bool = False) -> KernelCall:
    """Four channels per step with 16-bit SIMD (ek_dwconv_dsp.c); `int4`: the weights nibble-packed
    (``ek_dwconv2d_s4_fast``, one 4-channel group unpacked at a time into 8·k_h·k_w bytes of scratch)."""
    rq: Requant = fields["rq"]
    w = fields["weights"].reshape(g.k_h * g.k_w, g.out_c)
    bound = np.abs(fields["bias"].astype(np.int64)) + 255 * np.abs(w.astype(np.int64)).sum(axis=0)
    shift = np.asarray(rq.shift, dtype=np.int32)
    small = _fast.small_requant(bound, shift)
    out_shift = (-shift).astype(np.int32) if small else shift
    rq_fast, mode, triples = _fast.fast_requant(rq, rq.mult, out_shift, small, uniform_ok=False)
    params = DepthwiseConv2DFastParams(geom=g, input_offset=fields["input_offset"], requant_small=int(small),
                                       rq_mode=int(mode), rq=rq_fast, triples=triples,
                                       weights=_fast.dw_int4_weights(w) if int4 else _fast.pack_dw_weights(w),
                                       bias=fields["bias"])
    return KernelCall(
        func="ek_dwconv2d_s4_fast" if int4 else "ek_dwconv2d_s8_fast",
        params=params,
        inputs=[x_id],
        outputs=[y_id],
        scratch_bytes=8 * g.k_h * g.k_w if int4 else 0,
        runtime_sources=("ek_dwconv_dsp.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 depthwise convolution (``DepthwiseConvPerChannel``) on the
    parameters ``lower`` gives the portable kernel: output channel ``c·M + m`` sums
    ``w·(x[c] + input_offset)`` over the in-bounds taps, + bias, per-channel requantization,
    + zp_out, clamped."""
    with _fast.kernel_set("portable"):
        p = _lower(graph, node, packed=False).params  # an int4 filter: its values, one int8 each
    if not isinstance(p, DepthwiseConv2DParams):
        raise u.unsupported(node, "no integer reference for this convolution (int8 only)")
    g = p.geom
    x = _int.operand(graph, node, args, 0).reshape(-1, g.in_h, g.in_w, g.in_c) + p.input_offset
    x = np.repeat(x, p.depth_multiplier, axis=3)  # output channel c·M + m reads input channel c
    w = p.weights.astype(np.int64).reshape(g.k_h, g.k_w, g.out_c)
    acc = np.zeros((x.shape[0], g.out_h, g.out_w, g.out_c), dtype=np.int64)
    for ky, kx, sl in _int.window_taps(x, g):
        acc += sl * w[ky, kx]
    return [_int.requant_output(acc, p.bias, p.rq)]


register(OpDef(
    name="DEPTHWISE_CONV_2D",
    infer_shapes=infer_shapes,
    macs=macs,
    run_float=run_float,
    quant=QuantRule(int8=True, weight_axis=3, fuses_activation=True),
    lower=lower,
    run_int=run_int,
    tflite_version=versions({"int8": 3}),
    patch_window=lambda graph, node: _geometry(graph, node)[0],
    zero_point_padding=True,
    doc=__doc__ or "",
))
