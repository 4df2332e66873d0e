"""MAX_POOL_2D (int8): max over the clamped window, then the fused activation clamp."""

from __future__ import annotations

from edgekit.ir.graph import Graph, Node
from edgekit.ir.registry import KernelCall, OpDef, register
from edgekit.ops import _util as u


def lower(graph: Graph, node: Node) -> KernelCall:
    params, x, y = u.pool_params(graph, node)
    return KernelCall(
        func="ek_maxpool_s8",
        params_type="ek_pool_params_t",
        params=params,
        inputs=[x.id],
        outputs=[y.id],
        runtime_sources=("ek_pool.c",),
    )


register(OpDef(name="MAX_POOL_2D", infer_shapes=u.pool_infer_shapes, macs=u.pool_macs, lower=lower, doc=__doc__ or ""))
