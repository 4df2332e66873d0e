"""FULLY_CONNECTED: int8, weights [out, in] per-tensor or per-channel, optional int32 bias.

Float: ``F.linear`` over rows of the weights' depth (``keep_num_dims`` keeps the leading axes).
int8: TFLM's reference arithmetic. Per-tensor uses the scale product of
:func:`fc_per_tensor_multiplier`; per-channel the double product, as TFLM's
``CalculateOpDataFullyConnected`` does. In fast builds it runs as a 1×1 convolution on the GEMM
kernel (``ek_conv2d_s8_gemm``), else on ``ek_fully_connected_s8``. An int4 filter is stored
packed and runs on ``ek_conv2d_s4_gemm`` / ``ek_fully_connected_s4`` (``ek_int4.h``).
"""

from __future__ import annotations

import numpy as np

from edgekit import numerics as nm
from edgekit.ir.graph import Graph, Node
from edgekit.ops import _f32, _fast, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.conv_2d import gemm_call
from edgekit.ops.params import ConvGeometry, KernelParams, Requant, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register


@c_struct("ek_fully_connected_params_t")
class FullyConnectedParams(KernelParams):
    batches: int
    accum_depth: int
    out_c: int
    per_channel: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@c_struct("ek_fully_connected_f32_params_t")
class FullyConnectedF32Params(KernelParams):
    batches: int
    accum_depth: int
    out_c: int
    act_min: float
    act_max: float
    weights: np.ndarray
    bias: np.ndarray


def fc_per_tensor_multiplier(input_scale: float, weight_scale: float, output_scale: float) -> tuple[int, int]:
    """``GetQuantizedConvolutionMultipler``: ``double(s_in)·double(s_w) / double(s_out)``.

    The research brief says the product is formed in float32; the pinned TFLM wheel forms it in
    double (measured: the float32 product flips 2 of 200 ad01_int8 outputs by 1 LSB, the double
    product matches all of them)."""
    prod = float(nm.f32(input_scale)) * float(nm.f32(weight_scale))
    return nm.quantize_multiplier(prod / float(nm.f32(output_scale)))


def _dims(graph: Graph, node: Node) -> tuple[int, int, int]:
    x = u.in_tensor(graph, node, 0)
    w = u.in_tensor(graph, node, 1)
    if len(w.shape) != 2:
        raise u.unsupported(node, f"expected a 2-D filter, got {w.shape}")
    out_c, depth = w.shape
    total = u.numel(x.shape)
    if depth <= 0 or total % depth != 0:
        raise u.unsupported(node, f"input of {total} elements does not split into rows of {depth}")
    return total // depth, depth, out_c


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    batches, _, out_c = _dims(graph, node)
    x = u.in_tensor(graph, node, 0)
    if node.attrs.get("keep_num_dims", False):
        return [tuple(x.shape[:-1]) + (out_c,)]
    return [(batches, out_c)]


def macs(graph: Graph, node: Node) -> int:
    batches, depth, out_c = _dims(graph, node)
    return batches * depth * out_c


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch.nn.functional as F

    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    depth = w.shape[1]
    if node.attrs.get("keep_num_dims", False):
        y = F.linear(x, w, b)
    else:
        y = F.linear(x.reshape(-1, depth), w, b)
        y = y.reshape(ex.out_shape(node, x)) if y.numel() == int(np.prod(ex.out_shape(node, x))) else y
    return [fl.fused(node, y)]


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_fully_connected_f32`` over rows of the weights' depth (any keep_num_dims)."""
    x, y = _f32.unary_tensors(graph, node)
    batches, depth, out_c = _dims(graph, node)
    if y.numel != batches * out_c:
        raise u.unsupported(node, f"output shape {tuple(y.shape)} does not hold {batches}x{out_c} values")
    lo, hi = _f32.act_range(node)
    params = FullyConnectedF32Params(batches=batches, accum_depth=depth, out_c=out_c, act_min=lo, act_max=hi,
                                     weights=_f32.const_data(node, u.in_tensor(graph, node, 1), "filter"),
                                     bias=_f32.bias_data(graph, node, 2, out_c))
    return KernelCall(func="ek_fully_connected_f32", params=params, inputs=[x.id], outputs=[y.id],
                      runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    return _lower(graph, node, packed=True)


def _lower(graph: Graph, node: Node, packed: bool) -> KernelCall:
    """The kernel call; an int4 filter goes to the int4 kernels (packed weights, ek_int4.h) when
    `packed`, else (the integer reference) to the int8 kernel on the same values."""
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    x = u.require_activation(graph, node, 0)
    w = u.in_tensor(graph, node, 1)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("int8",), "input")
    u.require_dtype(node, y, ("int8",), "output")
    u.require_dtype(node, w, ("int8", "int4"), "filter")
    if not w.is_const:
        raise u.unsupported(node, "a non-constant filter")
    u.check_int4_range(node, w)
    int4 = packed and _fast.is_int4(w.dtype)
    batches, depth, out_c = _dims(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if w.quant is None:
        raise u.unsupported(node, "an unquantized filter")
    u.check_scales(node, w, "filter")
    if any(int(z) != 0 for z in w.quant.zero_point.reshape(-1)):
        raise u.unsupported(node, "non-zero filter zero points")
    per_channel = w.quant.scale.size > 1
    if per_channel:
        if w.quant.scale.size != out_c:
            raise u.unsupported(node, f"filter has {w.quant.scale.size} scales for {out_c} outputs")
        mult, shift = nm.per_channel_multipliers(s_in, w.quant.scale, s_out, out_c)
    else:
        m, s = fc_per_tensor_multiplier(s_in, float(w.quant.scale.reshape(-1)[0]), s_out)
        mult, shift = u.i32([m]), u.i32([s])
    act_min, act_max = u.act_range(node, s_out, zp_out)
    weights = w.data.astype("int8").reshape(-1)
    bias = u.bias_array(graph, node, 2, out_c)
    if _fast.kernels() == "fast":
        g = ConvGeometry(batches=1, in_h=batches, in_w=1, in_c=depth, out_h=batches, out_w=1, out_c=out_c, k_h=1,
                         k_w=1, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_h=0, pad_w=0)
        if not per_channel:  # the GEMM kernel reads one multiplier per channel
            mult, shift = u.i32([int(mult[0])] * out_c), u.i32([int(shift[0])] * out_c)
        rq = Requant(output_offset=zp_out, act_min=act_min, act_max=act_max, mult=mult, shift=shift)
        return gemm_call(g, rq, weights.reshape(out_c, depth), bias, -zp_in, x.id, y.id, int4=int4)
    params = FullyConnectedParams(
        batches=batches,
        accum_depth=depth,
        out_c=out_c,
        per_channel=int(per_channel),
        input_offset=-zp_in,
        rq=Requant(output_offset=zp_out, act_min=act_min, act_max=act_max, mult=mult, shift=shift),
        weights=_fast.pack_int4(weights) if int4 else weights,
        bias=bias,
    )
    return KernelCall(
        func="ek_fully_connected_s4" if int4 else "ek_fully_connected_s8",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_int4.c",) if int4 else ("ek_fully_connected.c",),
    )


def tflite_version(node: Node, dtype: str | None) -> int:
    """The converter's versions: 4 for int8 (5 with keep_num_dims), 1 for float."""
    if dtype != "int8":
        return 1
    return 5 if node.attrs.get("keep_num_dims") else 4


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference int8 FullyConnected (per tensor or per channel) on the parameters
    ``lower`` gives the portable kernel: int32 sums of ``w·(x + input_offset)`` over each row,
    + bias, MultiplyByQuantizedMultiplier, + zp_out, clamped to the activation range."""
    with _fast.kernel_set("portable"):
        p = _lower(graph, node, packed=False).params  # an int4 filter: its values, one int8 each
    if not isinstance(p, FullyConnectedParams):
        raise u.unsupported(node, "no integer reference for this FULLY_CONNECTED (int8 only)")
    x = _int.operand(graph, node, args, 0)
    n = x.shape[0]
    rows = x.reshape(-1, p.accum_depth) + p.input_offset
    acc = rows @ p.weights.astype(np.int64).reshape(p.out_c, p.accum_depth).T
    out = u.out_shape(graph, node)
    return [_int.unsamples(_int.requant_output(acc, p.bias, p.rq).reshape((n, *out)), out)]


register(OpDef(
    name="FULLY_CONNECTED",
    infer_shapes=infer_shapes,
    macs=macs,
    run_float=run_float,
    quant=QuantRule(int8=True, weight_axis=0, per_tensor_weights=True, fuses_activation=True),
    lower=lower,
    run_int=run_int,
    tflite_version=tflite_version,
    doc=__doc__ or "",
))
