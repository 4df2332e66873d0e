"""The op registry: one entry per op (contract 1 of DESIGN.md, "one op, one place").

Each entry holds shape inference, cost (MACs, bytes moved) and the lowering to a C kernel
call. Op modules live in :mod:`edgekit.ops` and register themselves with :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node


@dataclass
class KernelCall:
    """One call of a C runtime kernel, produced by lowering one node.

    The C function has the signature
    ``void func(const params_type *p, const void *const *inputs, void *const *outputs, void *scratch)``.
    `params` are the struct fields: ints/floats are emitted as literals, numpy arrays as `const`
    arrays in flash (the field then holds a pointer to the array).
    """

    func: str
    params_type: str
    params: dict[str, int | float | np.ndarray]
    inputs: list[int]  # activation tensor ids, passed in order as `inputs[]`
    outputs: list[int]
    scratch_bytes: int = 0
    # positions in `inputs` whose buffer the output may share exactly (in-place op)
    may_alias_input: tuple[int, ...] = ()
    # when True the op is a pure view (reshape/squeeze): output shares the input buffer, no call
    is_view: bool = False
    runtime_sources: tuple[str, ...] = ()  # file names in firmware/runtime this call needs


@dataclass
class OpDef:
    name: str
    infer_shapes: Callable[[Graph, Node], list[tuple[int, ...]]]
    macs: Callable[[Graph, Node], int]
    lower: Callable[[Graph, Node], KernelCall] | None = None
    float_ok: bool = False  # whether a float32 (non-quantized) variant lowers
    doc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}
_LOADED = False


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name} registered twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import edgekit.ops as ops_pkg

    for mod in pkgutil.iter_modules(ops_pkg.__path__):
        importlib.import_module(f"edgekit.ops.{mod.name}")


def supported_ops() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_op(node: Node) -> OpDef:
    _load_all()
    opdef = _REGISTRY.get(node.op)
    if opdef is None:
        raise UnsupportedOpError(
            f"unsupported op {node.op} at node {node.index}; edgekit supports: {', '.join(supported_ops())}"
        )
    return opdef


def bytes_moved(graph: Graph, node: Node) -> int:
    """Bytes read and written by a node: all its inputs (weights included) and outputs."""
    total = sum(graph.tensors[i].nbytes for i in node.inputs if i >= 0)
    return total + sum(graph.tensors[i].nbytes for i in node.outputs)
