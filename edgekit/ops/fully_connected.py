"""FULLY_CONNECTED: int8, weights [out, in] per-tensor or per-channel, optional int32 bias.

Per-tensor uses TFLite's float32 scale product ``double(float(s_in·s_w))/double(s_out)``;
per-channel the double product, as TFLM's ``CalculateOpDataFullyConnected`` does.
"""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _fast
from edgekit.ops import _util as u
from edgekit.quant import tflite_math as tm


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


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    w = u.in_tensor(graph, node, 1)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("int8",), "input")
    u.require_dtype(node, y, ("int8",), "output")
    u.require_dtype(node, w, ("int8",), "filter")
    if not w.is_const:
        raise u.unsupported(node, "a non-constant filter")
    batches, depth, out_c = _dims(graph, node)
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    s_out, zp_out = u.per_tensor_q(node, y, "output")
    if w.quant is None:
        raise u.unsupported(node, "an unquantized filter")
    if any(int(z) != 0 for z in w.quant.zero_point.reshape(-1)):
        raise u.unsupported(node, "non-zero filter zero points")
    per_channel = w.quant.scale.size > 1
    if per_channel:
        if w.quant.scale.size != out_c:
            raise u.unsupported(node, f"filter has {w.quant.scale.size} scales for {out_c} outputs")
        mult, shift = tm.per_channel_multipliers(s_in, w.quant.scale, s_out, out_c)
    else:
        m, s = tm.fc_per_tensor_multiplier(s_in, float(w.quant.scale.reshape(-1)[0]), s_out)
        mult, shift = u.i32([m]), u.i32([s])
    act_min, act_max = u.act_range(node, s_out, zp_out)
    params: dict = dict(
        batches=batches,
        accum_depth=depth,
        out_c=out_c,
        per_channel=int(per_channel),
        input_offset=-zp_in,
        output_offset=zp_out,
        act_min=act_min,
        act_max=act_max,
        weights=w.data.astype("int8").reshape(-1),
        bias=u.bias_array(graph, node, 2, out_c),
        out_mult=mult,
        out_shift=shift,
    )
    if _fast.kernels() == "fast":
        from edgekit.ops.conv_2d import gemm_call

        g = dict(batches=1, in_h=batches, in_w=1, in_c=depth, out_h=batches, out_w=1, out_c=out_c, k_h=1, k_w=1,
                 stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_h=0, pad_w=0)
        cp = dict(params)
        if not per_channel:
            cp["out_mult"] = u.i32([int(mult[0])] * out_c)
            cp["out_shift"] = u.i32([int(shift[0])] * out_c)
        return gemm_call(g, cp, x.id, y.id)
    return KernelCall(
        func="ek_fully_connected_s8",
        params_type="ek_fc_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_fully_connected.c",),
    )


register(OpDef(name="FULLY_CONNECTED", infer_shapes=infer_shapes, macs=macs, lower=lower, doc=__doc__ or ""))
