"""DEQUANTIZE: int8 → float32, ``scale·(q − zp)`` (one float rounding, as TFLM's double path).

Float: the identity on real values (a float model's boundary op; PTQ removes it, or folds it
when it dequantizes a constant).
"""

from __future__ import annotations

import numpy as np

from edgekit.ir.graph import Graph, Node
from edgekit.ops import _util as u
from edgekit.ops.params import KernelParams, c_struct
from edgekit.ops.quantize import run_float
from edgekit.ops.registry import KernelCall, OpDef, register, versions


@c_struct("ek_dequantize_params_t")
class DequantizeParams(KernelParams):
    size: int
    scale: float
    zero_point: int


def lower(graph: Graph, node: Node) -> KernelCall:
    x = u.require_activation(graph, node, 0)
    y = u.out_tensor(graph, node)
    u.require_dtype(node, x, ("int8",), "input")
    u.require_dtype(node, y, ("float32",), "output")
    s_in, zp_in = u.per_tensor_q(node, x, "input")
    return KernelCall(
        func="ek_dequantize_s8_f32",
        params=DequantizeParams(size=u.numel(tuple(x.shape)), scale=float(np.float32(s_in)), zero_point=zp_in),
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_unary.c",),
    )


register(OpDef(name="DEQUANTIZE", infer_shapes=u.same_shape, macs=u.input_elems_macs, run_float=run_float,
               lower=lower, tflite_version=versions({"int8": 2}), doc=__doc__ or ""))
