"""Helpers shared by the op modules (no op registers here).

Cost convention (``OpDef.macs``):

* CONV_2D: out_h·out_w·out_c·k_h·k_w·(in_c / groups) per batch; DEPTHWISE_CONV_2D: output
  elements·k_h·k_w; FULLY_CONNECTED: batches·out·in.
* ADD, SUB, MUL: one per output element.
* AVERAGE_POOL_2D / MAX_POOL_2D: output elements·filter_h·filter_w.
* SOFTMAX, LOGISTIC, RELU*, QUANTIZE, DEQUANTIZE: one per element; MEAN: one per input element.
* RESHAPE, SQUEEZE, PAD, CONCATENATION (data movement only): 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgekit import numerics as nm
from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.ops.params import AddArith, AddParams, Broadcast, ConvGeometry, Multiplier, PoolParams, Requant
from edgekit.ops.registry import KernelCall

RUNTIME_MAX_RANK = 6


def unsupported(node: Node, reason: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"{node.op} at node {node.index}: {reason}")


def in_tensor(graph: Graph, node: Node, i: int) -> Tensor:
    if i >= len(node.inputs) or node.inputs[i] < 0:
        raise unsupported(node, f"input {i} is missing")
    return graph.tensors[node.inputs[i]]


def opt_in_tensor(graph: Graph, node: Node, i: int) -> Tensor | None:
    if i >= len(node.inputs) or node.inputs[i] < 0:
        return None
    return graph.tensors[node.inputs[i]]


def out_tensor(graph: Graph, node: Node, i: int = 0) -> Tensor:
    return graph.tensors[node.outputs[i]]


def require_dtype(node: Node, t: Tensor, dtypes: tuple[str, ...], what: str) -> None:
    if t.dtype not in dtypes:
        want = "/".join(dtypes)
        raise unsupported(node, f"{what} tensor '{t.name}' is {t.dtype}; edgekit supports {want} here")


def check_scales(node: Node, t: Tensor, what: str) -> None:
    """Every quantization scale of `t` is positive and finite (a zero scale makes a constant output)."""
    if t.quant is None:
        return
    scales = np.asarray(t.quant.scale, dtype=np.float64).reshape(-1)
    bad = scales[~(np.isfinite(scales) & (scales > 0))]
    if bad.size:
        raise unsupported(node, f"{what} tensor '{t.name}' has quantization scale {float(np.float32(bad[0])):g}; "
                                "re-convert the model")


def per_tensor_q(node: Node, t: Tensor, what: str) -> tuple[float, int]:
    """(scale, zero_point) of a per-tensor quantized tensor; the scale is positive and finite."""
    if t.quant is None or t.quant.scale.size == 0:
        raise unsupported(node, f"{what} tensor '{t.name}' has no quantization parameters")
    if t.quant.scale.size != 1:
        raise unsupported(node, f"{what} tensor '{t.name}' is quantized per axis; expected per-tensor")
    check_scales(node, t, what)
    return float(np.float32(t.quant.scalar_scale)), int(t.quant.scalar_zero_point)


def require_activation(graph: Graph, node: Node, i: int) -> Tensor:
    t = in_tensor(graph, node, i)
    if t.is_const:
        raise unsupported(node, f"input {i} ('{t.name}') is a constant; edgekit expects an activation here")
    return t


def fused_act(node: Node) -> str:
    act = node.attrs.get("fused_activation_function", "NONE") or "NONE"
    return str(act)


def act_range(node: Node, out_scale: float, out_zp: int) -> tuple[int, int]:
    act = fused_act(node)
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise unsupported(node, f"fused activation {act} is not supported on int8 outputs")
    return nm.calculate_activation_range_quantized(act, out_scale, out_zp)


def numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def i32(values: list[int] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int32).reshape(-1)


def out_shape(graph: Graph, node: Node, i: int = 0) -> tuple[int, ...]:
    return tuple(int(d) for d in graph.tensors[node.outputs[i]].shape)


def broadcast_shape(node: Node, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(a, b))
    except ValueError as exc:
        raise unsupported(node, f"input shapes {a} and {b} do not broadcast") from exc


def broadcast_layout(
    node: Node, a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out_dims, a_strides, b_strides) for the runtime's broadcast loop (rank ≤ 6).

    Size-1 output dims are dropped and adjacent dims that broadcast the same way merged, so
    the loop runs over as few dims as possible.
    """
    rank = len(out)
    if rank > RUNTIME_MAX_RANK:
        raise unsupported(node, f"rank {rank} broadcast; edgekit supports up to {RUNTIME_MAX_RANK} dims")

    def strides(shape: tuple[int, ...]) -> list[int]:
        full = (1,) * (rank - len(shape)) + tuple(shape)
        st = [0] * rank
        acc = 1
        for d in range(rank - 1, -1, -1):
            st[d] = 0 if full[d] == 1 else acc
            acc *= full[d]
        return st

    sa, sb = strides(a), strides(b)
    dims: list[int] = []
    stA: list[int] = []
    stB: list[int] = []
    for d in range(rank):
        if out[d] == 1:
            continue
        if dims and (stA[-1] == 0) == (sa[d] == 0) and (stB[-1] == 0) == (sb[d] == 0):
            # merge with the previous (outer) dim: it is contiguous with this one
            if (stA[-1] == 0 or stA[-1] == sa[d] * out[d]) and (stB[-1] == 0 or stB[-1] == sb[d] * out[d]):
                dims[-1] *= out[d]
                stA[-1] = sa[d]
                stB[-1] = sb[d]
                continue
        dims.append(out[d])
        stA.append(sa[d])
        stB.append(sb[d])
    if not dims:
        dims, stA, stB = [1], [0], [0]
    return i32(dims), i32(stA), i32(stB)


def conv_padding(
    node: Node, in_h: int, in_w: int, k_h: int, k_w: int, stride_h: int, stride_w: int, dil_h: int, dil_w: int
) -> tuple[int, int, int, int]:
    """(pad_h, pad_w, out_h, out_w) for the node's SAME/VALID padding, or the explicit window of
    a patch tile (``explicit_window`` attribute, :mod:`edgekit.patch`): leading pads, negative when
    the tile starts inside its input, and the tile's output size."""
    window = node.attrs.get("explicit_window")
    if window is not None:
        pad_h, pad_w, out_h, out_w = (int(v) for v in window)
        return pad_h, pad_w, out_h, out_w
    padding = str(node.attrs.get("padding", "SAME"))
    if padding not in ("SAME", "VALID"):
        raise unsupported(node, f"padding {padding!r}")
    if stride_h <= 0 or stride_w <= 0 or dil_h <= 0 or dil_w <= 0:
        raise unsupported(node, "non-positive stride or dilation")
    return nm.compute_padding_height_width(stride_h, stride_w, dil_h, dil_w, in_h, in_w, k_h, k_w, padding)


def zero_bias(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int32)


def bias_array(graph: Graph, node: Node, idx: int, n: int) -> np.ndarray:
    bias = opt_in_tensor(graph, node, idx)
    if bias is None:
        return zero_bias(n)
    if not bias.is_const:
        raise unsupported(node, "a non-constant bias")
    if bias.dtype != "int32":
        raise unsupported(node, f"bias of type {bias.dtype}; edgekit supports int32 bias for int8 kernels")
    data = np.asarray(bias.data).astype(np.int32).reshape(-1)
    if data.size != n:
        raise unsupported(node, f"bias has {data.size} values, expected {n}")
    return data


def const_int_values(graph: Graph, node: Node, idx: int, what: str) -> list[int]:
    t = in_tensor(graph, node, idx)
    if not t.is_const:
        raise unsupported(node, f"{what} must be a constant tensor")
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def binary_operands(graph: Graph, node: Node) -> dict:
    """Common lowering of the int8 binary elementwise ops (ADD, SUB, MUL).

    Returns the broadcast layout with the constant operands (``bc``), the tensors and the
    activation inputs.
    """
    a = in_tensor(graph, node, 0)
    b = in_tensor(graph, node, 1)
    y = out_tensor(graph, node)
    for t, what in ((a, "input 0"), (b, "input 1"), (y, "output")):
        require_dtype(node, t, ("int8",), what)
    if a.is_const and b.is_const:
        raise unsupported(node, "both operands are constants (fold them before lowering)")
    out = broadcast_shape(node, tuple(a.shape), tuple(b.shape))
    if tuple(y.shape) != out:
        raise unsupported(node, f"output shape {tuple(y.shape)} is not the broadcast shape {out}")
    same = tuple(a.shape) == tuple(b.shape)
    dims, sa, sb = broadcast_layout(node, tuple(a.shape), tuple(b.shape), out)
    dummy = np.zeros(1, dtype=np.int8)
    bc = Broadcast(
        rank=int(dims.size),
        size=numel(out),
        broadcast=int(not same),
        out_dims=dims,
        in1_strides=sa,
        in2_strides=sb,
        in1_const=int(a.is_const),
        in2_const=int(b.is_const),
        const1=np.asarray(a.data).astype(np.int8).reshape(-1) if a.is_const else dummy,
        const2=np.asarray(b.data).astype(np.int8).reshape(-1) if b.is_const else dummy,
    )
    inputs = [t.id for t in (a, b) if not t.is_const]
    # in place only when the output has the same shape as that (non-broadcast) activation input
    alias = tuple(k for k, t in enumerate(t for t in (a, b) if not t.is_const) if tuple(t.shape) == out)
    return {"a": a, "b": b, "y": y, "bc": bc, "inputs": inputs, "alias": alias}


def binary_infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    a = in_tensor(graph, node, 0)
    b = in_tensor(graph, node, 1)
    return [broadcast_shape(node, tuple(a.shape), tuple(b.shape))]


def elementwise_macs(graph: Graph, node: Node) -> int:
    return numel(out_shape(graph, node))


def pool_geometry(graph: Graph, node: Node) -> ConvGeometry:
    """The pooling window as a convolution geometry (channels in = out, no dilation)."""
    x = in_tensor(graph, node, 0)
    if len(x.shape) != 4:
        raise unsupported(node, f"expected a 4-D NHWC input, got {tuple(x.shape)}")
    n, in_h, in_w, c = x.shape
    f_h = int(node.attrs.get("filter_height", 1))
    f_w = int(node.attrs.get("filter_width", 1))
    s_h = int(node.attrs.get("stride_h", 1))
    s_w = int(node.attrs.get("stride_w", 1))
    if f_h <= 0 or f_w <= 0:
        raise unsupported(node, f"filter {f_h}x{f_w}")
    pad_h, pad_w, out_h, out_w = conv_padding(node, in_h, in_w, f_h, f_w, s_h, s_w, 1, 1)
    return ConvGeometry(batches=n, in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=c, k_h=f_h,
                        k_w=f_w, stride_h=s_h, stride_w=s_w, dil_h=1, dil_w=1, pad_h=pad_h, pad_w=pad_w)


def pool_infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    g = pool_geometry(graph, node)
    return [(g.batches, g.out_h, g.out_w, g.out_c)]


def pool_macs(graph: Graph, node: Node) -> int:
    g = pool_geometry(graph, node)
    return g.batches * g.out_h * g.out_w * g.out_c * g.k_h * g.k_w


def pool_params(graph: Graph, node: Node) -> tuple[PoolParams, Tensor, Tensor]:
    x = require_activation(graph, node, 0)
    y = out_tensor(graph, node)
    require_dtype(node, x, ("int8",), "input")
    require_dtype(node, y, ("int8",), "output")
    s_in, zp_in = per_tensor_q(node, x, "input")
    s_out, zp_out = per_tensor_q(node, y, "output")
    if abs(float(np.float32(s_in) - np.float32(s_out))) > 1e-6 or zp_in != zp_out:
        raise unsupported(node, "input and output quantization differ (TFLM requires them equal)")
    act_min, act_max = act_range(node, s_out, zp_out)
    return PoolParams(geom=pool_geometry(graph, node), act_min=act_min, act_max=act_max), x, y


def unary_int8(graph: Graph, node: Node) -> tuple[Tensor, Tensor]:
    x = require_activation(graph, node, 0)
    y = out_tensor(graph, node)
    require_dtype(node, x, ("int8",), "input")
    require_dtype(node, y, ("int8",), "output")
    return x, y


def same_shape(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in in_tensor(graph, node, 0).shape)]


def zero_macs(graph: Graph, node: Node) -> int:
    return 0


def input_elems_macs(graph: Graph, node: Node) -> int:
    return numel(tuple(in_tensor(graph, node, 0).shape))


def lower_add_like(graph: Graph, node: Node, func: str,
                   multipliers: Callable[[float, float, float], tuple[int, Multiplier, Multiplier, Multiplier]]
                   ) -> KernelCall:
    """ADD and SUB: the same operands, offsets and kernel parameters; only the multiplier recipe
    (`multipliers(s1, s2, s_out)` → left shift and the input 1, input 2, output multipliers) and
    the C function differ."""
    ops = binary_operands(graph, node)
    s1, z1 = per_tensor_q(node, ops["a"], "input 0")
    s2, z2 = per_tensor_q(node, ops["b"], "input 1")
    so, zo = per_tensor_q(node, ops["y"], "output")
    act_min, act_max = act_range(node, so, zo)
    left_shift, m1, m2, mo = multipliers(s1, s2, so)
    arith = AddArith(input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=left_shift, input1=m1,
                     input2=m2, output=mo, act_min=act_min, act_max=act_max)
    return KernelCall(func=func, params=AddParams(bc=ops["bc"], arith=arith), inputs=ops["inputs"],
                      outputs=[ops["y"].id], may_alias_input=ops["alias"], runtime_sources=("ek_elementwise.c",))


def check_int4_range(node: Node, w: Tensor) -> None:
    """An int4 filter's values (one int8 each in the IR) lie in [-8, 7]."""
    if w.dtype == "int4" and w.data is not None and w.data.size and (int(w.data.min()) < -8 or int(w.data.max()) > 7):
        raise unsupported(node, "int4 filter values outside [-8, 7]")


def conv_like_params(graph: Graph, node: Node, g: ConvGeometry, channel_axis: int) -> tuple[dict, Tensor, Tensor]:
    """CONV_2D and DEPTHWISE_CONV_2D: checks of the int8 operands and the TFLM parameters they
    share (input offset, per-channel requantization, weights, bias) for the geometry `g`. The
    filter is quantized per channel along `channel_axis`. Returns (fields, input tensor, output
    tensor); fields holds ``input_offset``, ``rq`` (:class:`Requant`), ``weights`` and ``bias``."""
    x = require_activation(graph, node, 0)
    w = in_tensor(graph, node, 1)
    y = out_tensor(graph, node)
    require_dtype(node, x, ("int8",), "input")
    require_dtype(node, y, ("int8",), "output")
    require_dtype(node, w, ("int8", "int4"), "filter")
    if not w.is_const:
        raise unsupported(node, "a non-constant filter")
    check_int4_range(node, w)
    s_in, zp_in = per_tensor_q(node, x, "input")
    s_out, zp_out = per_tensor_q(node, y, "output")
    if w.quant is None:
        raise unsupported(node, "an unquantized filter")
    if w.quant.scale.size not in (1, g.out_c):
        raise unsupported(node, f"filter has {w.quant.scale.size} scales for {g.out_c} output channels")
    if w.quant.scale.size > 1 and w.quant.axis != channel_axis:
        raise unsupported(node, f"filter quantized along axis {w.quant.axis}; expected axis {channel_axis}")
    check_scales(node, w, "filter")
    if any(int(z) != 0 for z in w.quant.zero_point.reshape(-1)):
        raise unsupported(node, "non-zero filter zero points")
    mult, shift = nm.per_channel_multipliers(s_in, w.quant.scale, s_out, g.out_c)
    act_min, act_max = act_range(node, s_out, zp_out)
    fields = dict(
        input_offset=-zp_in,
        rq=Requant(output_offset=zp_out, act_min=act_min, act_max=act_max, mult=mult, shift=shift),
        weights=w.data.astype("int8").reshape(-1),
        bias=bias_array(graph, node, 2, g.out_c),
    )
    return fields, x, y


def reduce_axes(graph: Graph, node: Node) -> list[int]:
    """The distinct, non-negative axes of a reduction (MEAN, SUM, …) from its constant operand."""
    x = in_tensor(graph, node, 0)
    rank = len(x.shape)
    axes: list[int] = []
    for a in const_int_values(graph, node, 1, "the axis operand"):
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise unsupported(node, f"axis {a} out of range for rank {rank}")
        if r not in axes:
            axes.append(r)
    return axes


def reduce_infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = in_tensor(graph, node, 0)
    axes = reduce_axes(graph, node)
    keep = bool(node.attrs.get("keep_dims", False))
    out = []
    for d, n in enumerate(x.shape):
        if d in axes:
            if keep:
                out.append(1)
        else:
            out.append(int(n))
    return [tuple(out)]


def run_reduce(fn_name: str):  # type: ignore[no-untyped-def]
    """``run_float`` of a reduction: ``x.<fn_name>(dim=axes, keepdim=keep_dims)``."""

    def run(ex, node: Node, args: list) -> list:  # type: ignore[no-untyped-def]
        x = args[0]
        axes = sorted({a % x.dim() for a in ex.const_ints(node.inputs[1])})
        return [getattr(x, fn_name)(dim=axes, keepdim=bool(node.attrs.get("keep_dims", False)))]

    return run


def lower_view(graph: Graph, node: Node) -> KernelCall:
    """A view op (RESHAPE, SQUEEZE, EXPAND_DIMS): the output shares the input's buffer."""
    x = in_tensor(graph, node, 0)
    y = out_tensor(graph, node)
    if x.dtype != y.dtype:
        raise unsupported(node, f"dtype change {x.dtype} -> {y.dtype}")
    if x.nbytes != y.nbytes:
        raise unsupported(node, f"size change {tuple(x.shape)} -> {tuple(y.shape)}")
    return KernelCall.view(x.id, y.id)
