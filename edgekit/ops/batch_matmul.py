"""BATCH_MATMUL: ``x @ y`` over the last two axes, batch axes broadcast; `adj_x`/`adj_y`
transpose the last two axes of an operand first.

Float: ``torch.matmul``. int8: TFLM's reference BatchMatMul (``ek_batch_matmul_s8``): per-tensor
operands with zero points, an int32 sum of ``(lhs - zp_lhs)·(rhs - zp_rhs)`` over the depth, one
multiplier ``s_lhs·s_rhs / s_out`` in double (:func:`batch_matmul_multiplier`), the output zero point,
clamped to int8 (no fused activation). The kernel reads both operands contiguously over the depth:
a rhs that is not `adj_y` (and a lhs that is `adj_x`) is transposed into scratch, as TFLM does; a
constant operand is stored pre-transposed in flash. PTQ gives the output its own quantization and
quantizes a constant float operand per tensor, like an activation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.ops import _f32, _int
from edgekit.ops import _float as fl
from edgekit.ops import _util as u
from edgekit.ops.fully_connected import fc_per_tensor_multiplier
from edgekit.ops.params import KernelParams, Multiplier, c_struct
from edgekit.ops.registry import KernelCall, OpDef, QuantRule, register, versions

#: deepest product whose int32 sum cannot overflow: 255·255·K < 2^31
MAX_DEPTH = (2**31 - 1) // (255 * 255)


@c_struct("ek_batch_matmul_params_t")
class BatchMatMulParams(KernelParams):
    num_batch_dims: int
    batch_dims: np.ndarray
    lhs_batch_strides: np.ndarray
    rhs_batch_strides: np.ndarray
    rows: int
    depth: int
    cols: int
    adj_x: int
    adj_y: int
    lhs_offset: int
    rhs_offset: int
    output_offset: int
    output: Multiplier
    lhs_const: np.ndarray
    rhs_const: np.ndarray


def batch_matmul_multiplier(s_lhs: float, s_rhs: float, s_out: float) -> Multiplier:
    """TFLM's BatchMatMul Prepare(): ``GetQuantizedConvolutionMultipler`` then ``QuantizeMultiplier``,
    with the scale product in double: ``double(s_lhs)·double(s_rhs) / double(s_out)``.

    The kernel_util.cc of the TFLM source tree (Aug 2026) forms the product of the no-bias variant
    in float32, but the pinned wheel forms it in double — measured on scales where the two differ
    (``tests/test_attention_ops.py``: the float32 product flips 4–48 of 65280 outputs by 1, the
    double product none), as for FULLY_CONNECTED (:func:`fc_per_tensor_multiplier`, the same formula)."""
    return Multiplier(*fc_per_tensor_multiplier(s_lhs, s_rhs, s_out))


@dataclass(frozen=True)
class Int8Arith:
    """The integer parameters of an int8 BATCH_MATMUL (TFLM's OpDataBatchMatmul)."""

    lhs: Tensor
    rhs: Tensor
    out: Tensor
    lhs_offset: int  # -zp_lhs
    rhs_offset: int  # -zp_rhs
    output_offset: int  # zp_out
    output: Multiplier


def int8_arith(graph: Graph, node: Node) -> Int8Arith:
    """Checks of an int8 BATCH_MATMUL and its Prepare() parameters (shared by lower and run_int)."""
    a, b, y = u.in_tensor(graph, node, 0), u.in_tensor(graph, node, 1), u.out_tensor(graph, node)
    for t, what in ((a, "lhs"), (b, "rhs"), (y, "output")):
        u.require_dtype(node, t, ("int8",), what)
    if a.is_const and b.is_const:
        raise u.unsupported(node, "both operands are constants (fold them before lowering)")
    s_a, z_a = u.per_tensor_q(node, a, "lhs")
    s_b, z_b = u.per_tensor_q(node, b, "rhs")
    s_y, z_y = u.per_tensor_q(node, y, "output")
    mult = batch_matmul_multiplier(s_a, s_b, s_y)
    if mult.shift > 31:
        raise u.unsupported(node, f"the output multiplier s_lhs*s_rhs/s_out = {s_a * s_b / s_y:g} is too large")
    return Int8Arith(lhs=a, rhs=b, out=y, lhs_offset=-z_a, rhs_offset=-z_b, output_offset=z_y, output=mult)


def _dims(graph: Graph, node: Node) -> tuple[tuple[int, ...], int, int, int]:
    a = list(u.in_tensor(graph, node, 0).shape)
    b = list(u.in_tensor(graph, node, 1).shape)
    if len(a) < 2 or len(b) < 2:
        raise u.unsupported(node, f"operands of rank < 2: {a} and {b}")
    if node.attrs.get("adj_x"):
        a[-1], a[-2] = a[-2], a[-1]
    if node.attrs.get("adj_y"):
        b[-1], b[-2] = b[-2], b[-1]
    if a[-1] != b[-2]:
        raise u.unsupported(node, f"inner dimensions differ: {a} @ {b}")
    try:
        batch = tuple(int(d) for d in np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))
    except ValueError:
        raise u.unsupported(node, f"batch axes {a[:-2]} and {b[:-2]} do not broadcast") from None
    return batch, a[-2], a[-1], b[-1]


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    batch, m, _, n = _dims(graph, node)
    return [(*batch, m, n)]


def macs(graph: Graph, node: Node) -> int:
    batch, m, k, n = _dims(graph, node)
    return u.numel(batch) * m * k * n


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    import torch

    a, b = args[0], args[1]
    if node.attrs.get("adj_x"):
        a = a.transpose(-1, -2)
    if node.attrs.get("adj_y"):
        b = b.transpose(-1, -2)
    return [torch.matmul(a, b)]


def _batch_strides(shape: tuple[int, ...], batch: tuple[int, ...]) -> list[int]:
    """Element stride of each output batch dim in an operand of `shape` (0 where it broadcasts)."""
    own = (1,) * (len(batch) - (len(shape) - 2)) + tuple(shape[:-2])
    st = [0] * len(batch)
    acc = int(shape[-1]) * int(shape[-2])
    for d in range(len(batch) - 1, -1, -1):
        st[d] = 0 if own[d] == 1 else acc
        acc *= own[d]
    return st


def scratch_bytes(rows: int, depth: int, cols: int, adj_x: bool, adj_y: bool) -> int:
    """``ek_batch_matmul_s8_scratch_bytes``: the rhs row sums, a transposed rhs (not adj_y), a
    transposed lhs (adj_x), each rounded up to 4 bytes."""
    def align4(n: int) -> int:
        return (n + 3) // 4 * 4

    return 4 * cols + (0 if adj_y else align4(depth * cols)) + (align4(rows * depth) if adj_x else 0)


@c_struct("ek_batch_matmul_f32_params_t")
class BatchMatMulF32Params(KernelParams):
    batches: int
    m: int
    k: int
    n: int
    x_row: int
    x_col: int
    y_row: int
    y_col: int
    x_offsets: np.ndarray
    y_offsets: np.ndarray
    in1_const: int
    in2_const: int
    const1: np.ndarray
    const2: np.ndarray


def _lower_float32(graph: Graph, node: Node) -> KernelCall:
    """float32: ``ek_batch_matmul_f32``, one float dot product per output element over strided
    operands (adj_x/adj_y are strides, no transpose); each output matrix's operand offsets are
    listed (a broadcast batch repeats one); a constant operand is read from flash."""
    x, y = u.in_tensor(graph, node, 0), u.in_tensor(graph, node, 1)
    out = u.out_tensor(graph, node)
    batch, m, k, n = _dims(graph, node)
    if tuple(int(d) for d in out.shape) != (*batch, m, n):
        raise u.unsupported(node, f"output shape {tuple(out.shape)}; the product is {(*batch, m, n)}")
    if x.is_const and y.is_const:
        raise u.unsupported(node, "both operands are constants (fold them before lowering)")

    def offsets(t: Tensor) -> np.ndarray:
        own = tuple(int(d) for d in t.shape[:-2])
        index = np.arange(u.numel(own), dtype=np.int64).reshape(own) * (m * k if t is x else k * n)
        return u.i32(np.broadcast_to(index, batch).reshape(-1))

    adj_x, adj_y = bool(node.attrs.get("adj_x")), bool(node.attrs.get("adj_y"))
    dummy = np.zeros(1, dtype=np.float32)
    params = BatchMatMulF32Params(
        batches=u.numel(batch), m=m, k=k, n=n,
        x_row=1 if adj_x else k, x_col=m if adj_x else 1, y_row=1 if adj_y else n, y_col=k if adj_y else 1,
        x_offsets=offsets(x), y_offsets=offsets(y), in1_const=int(x.is_const), in2_const=int(y.is_const),
        const1=_f32.const_data(node, x, "input 0") if x.is_const else dummy,
        const2=_f32.const_data(node, y, "input 1") if y.is_const else dummy,
    )
    return KernelCall(func="ek_batch_matmul_f32", params=params, inputs=[t.id for t in (x, y) if not t.is_const],
                      outputs=[out.id], runtime_sources=(_f32.RUNTIME,))


def lower(graph: Graph, node: Node) -> KernelCall:
    if _f32.is_float32(graph, node):
        return _lower_float32(graph, node)
    q = int8_arith(graph, node)
    batch, m, k, n = _dims(graph, node)
    if tuple(int(d) for d in q.out.shape) != (*batch, m, n):
        raise u.unsupported(node, f"output shape {tuple(q.out.shape)}; the product is {(*batch, m, n)}")
    if len(batch) + 2 > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {len(batch) + 2}; edgekit supports up to {u.RUNTIME_MAX_RANK} dims")
    if k > MAX_DEPTH:
        raise u.unsupported(node, f"depth {k}: the int32 sum could overflow beyond {MAX_DEPTH}")
    adj_x, adj_y = bool(node.attrs.get("adj_x")), bool(node.attrs.get("adj_y"))
    empty = np.zeros(0, dtype=np.int8)
    lhs_const = rhs_const = empty
    if q.lhs.is_const:  # stored [M][K] in flash: no transpose at run time
        data = np.asarray(q.lhs.data).astype(np.int8).reshape(tuple(q.lhs.shape))
        lhs_const = np.ascontiguousarray(np.swapaxes(data, -1, -2) if adj_x else data).reshape(-1)
        adj_x = False
    if q.rhs.is_const:  # stored [N][K] in flash
        data = np.asarray(q.rhs.data).astype(np.int8).reshape(tuple(q.rhs.shape))
        rhs_const = np.ascontiguousarray(data if adj_y else np.swapaxes(data, -1, -2)).reshape(-1)
        adj_y = True
    sa = _batch_strides(tuple(int(d) for d in q.lhs.shape), batch)
    sb = _batch_strides(tuple(int(d) for d in q.rhs.shape), batch)
    keep = [d for d in range(len(batch)) if batch[d] != 1]
    params = BatchMatMulParams(
        num_batch_dims=len(keep),
        batch_dims=u.i32([batch[d] for d in keep]),
        lhs_batch_strides=u.i32([sa[d] for d in keep]),
        rhs_batch_strides=u.i32([sb[d] for d in keep]),
        rows=m, depth=k, cols=n, adj_x=int(adj_x), adj_y=int(adj_y),
        lhs_offset=q.lhs_offset, rhs_offset=q.rhs_offset, output_offset=q.output_offset, output=q.output,
        lhs_const=lhs_const, rhs_const=rhs_const,
    )
    return KernelCall(
        func="ek_batch_matmul_s8",
        params=params,
        inputs=[t.id for t in (q.lhs, q.rhs) if not t.is_const],
        outputs=[q.out.id],
        scratch_bytes=scratch_bytes(m, k, n, adj_x, adj_y),
        runtime_sources=("ek_batch_matmul.c",),
    )


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference BatchMatMul<int8_t, int32_t>: exact int64 products of the offset operands,
    MultiplyByQuantizedMultiplier, the output zero point, clamped to int8."""
    q = int8_arith(graph, node)
    a, b = _int.aligned(_int.operand(graph, node, args, 0), _int.operand(graph, node, args, 1))
    if node.attrs.get("adj_x"):
        a = np.swapaxes(a, -1, -2)
    if node.attrs.get("adj_y"):
        b = np.swapaxes(b, -1, -2)
    acc = _int.wrap32(np.matmul(a + q.lhs_offset, b + q.rhs_offset))
    y = _int.requant(acc, q.output.multiplier, q.output.shift) + q.output_offset
    return [_int.unsamples(_int.clamp_int8(y), u.out_shape(graph, node))]


register(OpDef(name="BATCH_MATMUL", infer_shapes=infer_shapes, macs=macs, run_float=run_float,
               quant=QuantRule(int8=True, activation_operands=True), lower=lower, run_int=run_int,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
