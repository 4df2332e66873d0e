"""The Python integer reference: runs a quantized graph with each op's exact integer semantics.

Each op's ``run_int`` (its module in :mod:`edgekit.ops`) computes its outputs from integer
activations in int64 numpy, exactly as its C kernel does; this executor feeds it the
activations, batch first (the IR holds batch 1 on axis 0, the executor runs any batch size).
It is the oracle for edgekit's own ops (the I-ViT integer ops, and whole integer-only graphs):
the generated C must agree with it bit for bit (contract 2 of DESIGN.md). For TFLite builtins the
oracle stays the TFLite Micro wheel; their ``run_int`` follows TFLM's reference kernels.

Example::

    outputs = IntExecutor(graph).run(int8_batch)          # list of arrays, one per graph output
    outputs, acts = IntExecutor(graph).run(batch, keep=True)
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import DataError, UnsupportedOpError
from edgekit.ir.graph import Graph
from edgekit.ops.registry import get_op, lookup, supported_ops

__all__ = ["IntExecutor", "int_ops"]

_NUMPY_DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32}


def int_ops() -> list[str]:
    """The ops with a Python integer reference."""
    return [name for name in supported_ops() if lookup(name).run_int is not None]  # type: ignore[union-attr]


class IntExecutor:
    """Runs a quantized IR graph with the ops' integer references."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        for node in graph.nodes:
            if get_op(node).run_int is None:
                raise UnsupportedOpError(
                    f"op {node.op} at node {node.index} has no Python integer reference; "
                    f"ops with one: {', '.join(int_ops())}")

    def run(self, batch: np.ndarray, keep: bool = False):  # type: ignore[no-untyped-def]
        g = self.graph
        if len(g.inputs) != 1:
            raise DataError(f"the integer reference runs single-input graphs; this one has {len(g.inputs)} inputs")
        x_t = g.tensors[g.inputs[0]]
        if np.dtype(_NUMPY_DTYPES.get(x_t.dtype, np.float32)) != batch.dtype:
            raise DataError(f"input '{x_t.name}' is {x_t.dtype}; got {batch.dtype} data")
        if tuple(batch.shape[1:]) != tuple(x_t.shape[1:]):
            raise DataError(f"input '{x_t.name}' has shape {tuple(x_t.shape)}; got a batch of {tuple(batch.shape)}")
        acts: dict[int, np.ndarray] = {g.inputs[0]: batch}
        for node in g.nodes:
            run = get_op(node).run_int
            assert run is not None
            args = [acts[t] if t >= 0 and not g.tensors[t].is_const else None for t in node.inputs]
            outs = run(g, node, args)
            for tid, value in zip(node.outputs, outs, strict=True):
                t = g.tensors[tid]
                want = _NUMPY_DTYPES.get(t.dtype)
                if want is None or value.dtype != want:
                    raise DataError(f"{node.label}: the integer reference gave {value.dtype} for {t.dtype} "
                                    f"tensor '{t.name}'")
                acts[tid] = value
        outputs = [acts[t] for t in g.outputs]
        return (outputs, acts) if keep else outputs
