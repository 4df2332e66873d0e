"""TRANSPOSE: permute the axes of the input by a constant `perm` (rank <= 6, any element type).

Float: ``x.permute(perm)``. Kernel: a strided copy by element size (``ek_transpose``, int8, int16,
int32 and float32 alike; TFLM's reference Transpose), or a view (no call) when the permutation
keeps the memory order (it only moves axes of size 1). int8: the output shares the input's
quantization (the bytes are copied, as TFLM does). The strided-copy lowering
(:func:`strided_copy_call`, :class:`StridedCopyParams`) is shared with STRIDED_SLICE.
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import DTYPE_BYTES, Graph, Node, Tensor
from edgekit.ops import _float as fl
from edgekit.ops import _int
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.registry import SHARED, KernelCall, OpDef, QuantRule, register, versions

RUNTIME = "ek_transpose.c"


@c_struct("ek_strided_copy_params_t")
class StridedCopyParams(KernelParams):
    rank: int
    elem_bytes: int
    in_offset: int
    out_dims: np.ndarray
    in_strides: np.ndarray


def elem_strides(shape: tuple[int, ...]) -> list[int]:
    """Row-major element strides of `shape`."""
    st = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        st[d] = st[d + 1] * int(shape[d + 1])
    return st


def merge_dims(out_dims: list[int], in_strides: list[int]) -> tuple[list[int], list[int]]:
    """Drop size-1 output dims and merge each dim into the one before it when they are adjacent
    in the input too (``stride[d-1] == stride[d] * dims[d]``): the same gather over fewer dims."""
    dims: list[int] = []
    st: list[int] = []
    for n, s in zip(out_dims, in_strides, strict=True):
        if n == 1:
            continue
        if dims and st[-1] == s * n:
            dims[-1] *= n
            st[-1] = s
        else:
            dims.append(int(n))
            st.append(int(s))
    return dims, st


def strided_copy_call(node: Node, x: Tensor, y: Tensor, func: str, in_offset: int, out_dims: list[int],
                      in_strides: list[int]) -> KernelCall:
    """``out[i...] = in[in_offset + sum_d i_d * in_strides[d]]`` over `out_dims` (element units) as
    a call of `func` (``ek_transpose`` / ``ek_strided_slice``), or a view when it reads the
    input's leading elements in order."""
    if x.dtype != y.dtype:
        raise u.unsupported(node, f"dtype change {x.dtype} -> {y.dtype}")
    eb = DTYPE_BYTES.get(x.dtype, 0)
    if eb not in (1, 2, 4):
        raise u.unsupported(node, f"{x.dtype} tensors; edgekit copies 1-, 2- and 4-byte elements")
    if len(x.shape) > u.RUNTIME_MAX_RANK or len(out_dims) > u.RUNTIME_MAX_RANK:
        raise u.unsupported(node, f"rank {max(len(x.shape), len(out_dims))}; edgekit supports up to "
                                  f"{u.RUNTIME_MAX_RANK} dims")
    if x.nbytes >= 2**31:
        raise u.unsupported(node, f"an input of {x.nbytes} bytes")
    if u.numel(tuple(out_dims)) * eb != y.nbytes:
        raise u.unsupported(node, f"output {tuple(y.shape)} does not hold the {tuple(out_dims)} elements copied")
    dims, strides = merge_dims(out_dims, in_strides)
    if in_offset == 0 and (not dims or (len(dims) == 1 and strides[0] == 1)):
        return KernelCall.view(x.id, y.id)
    if not dims:
        dims, strides = [1], [1]
    params = StridedCopyParams(rank=len(dims), elem_bytes=eb, in_offset=int(in_offset), out_dims=u.i32(dims),
                               in_strides=u.i32(strides))
    return KernelCall(func=func, params=params, inputs=[x.id], outputs=[y.id], runtime_sources=(RUNTIME,))


def _perm(graph: Graph, node: Node) -> list[int]:
    x = u.in_tensor(graph, node, 0)
    perm = u.const_int_values(graph, node, 1, "the perm operand")
    if sorted(perm) != list(range(len(x.shape))):
        raise u.unsupported(node, f"perm {perm} is not a permutation of the {len(x.shape)} axes")
    return perm


def infer_shapes(graph: Graph, node: Node) -> list[tuple[int, ...]]:
    x = u.in_tensor(graph, node, 0)
    return [tuple(int(x.shape[p]) for p in _perm(graph, node))]


def run_float(ex: fl.FloatContext, node: Node, args: list) -> list:
    return [args[0].permute(*ex.const_ints(node.inputs[1]))]


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    perm = _perm(graph, node)
    st = elem_strides(tuple(int(d) for d in x.shape))
    return strided_copy_call(node, x, y, "ek_transpose", 0, [int(x.shape[p]) for p in perm], [st[p] for p in perm])


def run_int(graph: Graph, node: Node, args: list) -> list:
    """TFLM's reference Transpose: ``np.transpose`` of every sample (the values are copied)."""
    x = _int.operand(graph, node, args, 0, int64=False)
    y = np.transpose(x, [0, *(p + 1 for p in _perm(graph, node))])
    return [_int.unsamples(np.ascontiguousarray(y), u.out_shape(graph, node))]


register(OpDef(name="TRANSPOSE", infer_shapes=infer_shapes, macs=u.zero_macs, run_float=run_float,
               quant=QuantRule(int8=True, output=SHARED), lower=lower, run_int=run_int,
               tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
