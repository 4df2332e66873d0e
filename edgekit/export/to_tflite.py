"""The one writer of TFLite files: an IR graph → a TFLite flatbuffer.

:func:`graph_to_tflite` serializes any graph whose ops are TFLite builtins (what ``edgekit
quantize`` writes); :func:`export_graph` is ``edgekit export``: a quantized model, checked to be
full-int8, written so that LiteRT runs it and read back to verify it. The graph goes
IR → :class:`ModelSpec` → :func:`edgekit.tflite.writer.build_tflite`, with

* operator versions as the TFLite converter records them (each op's ``tflite_version`` in its
  op module; LiteRT's resolver refuses versions it does not register),
* one constant buffer per weight tensor after the empty sentinel buffer 0,
* a ``serving_default`` SignatureDef (``input_0``…, ``output_0``…),
* the edgekit deployment description (preprocessing) kept as the model description,

and checks that the result is full-int8 (every activation tensor is an integer tensor) and that
only TFLite builtin operators remain. :func:`verify_round_trip` reads the written bytes back and
compares them with the source graph field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flatbuffers import flexbuffers

from edgekit.errors import ModelFormatError, UnsupportedOpError
from edgekit.frontends.tflite import parse_tflite
from edgekit.ir.graph import Graph, Node
from edgekit.ops.registry import lookup
from edgekit.tflite import schema
from edgekit.tflite.writer import ModelSpec, OpSpec, TensorSpec, build_tflite

__all__ = ["graph_to_spec", "graph_to_tflite", "export_graph", "verify_round_trip", "ExportResult", "SIGNATURE_KEY"]

SIGNATURE_KEY = "serving_default"

_INTEGER_ACTIVATIONS = ("int8", "int16", "int32", "uint8", "bool", "int64")


@dataclass
class ExportResult:
    tflite: bytes
    ops: dict[str, int]  # op name -> count
    tensors: int
    weights_bytes: int


def _op_version(node: Node, in_dtype: str | None) -> int:
    """The version the TFLite converter records for this op (its op module says; 1 if unknown)."""
    opdef = lookup(node.op)
    return 1 if opdef is None else int(opdef.tflite_version(node, in_dtype))


def _check_full_int8(graph: Graph) -> None:
    if not graph.is_quantized:
        kinds = sorted({graph.tensors[i].dtype for i in graph.inputs + graph.outputs})
        raise ModelFormatError(
            f"model {graph.name!r} is a float model (inputs/outputs {', '.join(kinds)}); export writes full-int8 "
            "models: quantize it first (`edgekit quantize MODEL --calib DATA -o q.tflite`, or pass --calib "
            "to `edgekit export`)")
    for node in graph.nodes:
        for tid in node.outputs:
            t = graph.tensors[tid]
            if t.dtype not in _INTEGER_ACTIVATIONS:
                raise ModelFormatError(
                    f"{node.label} writes {t.dtype} tensor {t.name!r}: the model is not full-int8; "
                    "re-quantize it with `edgekit quantize` so every activation is an integer tensor")


def graph_to_spec(graph: Graph, *, signature_key: str | None = SIGNATURE_KEY) -> ModelSpec:
    """An IR graph → a :class:`ModelSpec` for :func:`build_tflite` (unused tensors are dropped)."""
    used: list[int] = []
    seen: set[int] = set()

    def use(tid: int) -> None:
        if tid >= 0 and tid not in seen:
            seen.add(tid)
            used.append(tid)

    for tid in graph.inputs:
        use(tid)
    for node in graph.nodes:
        for tid in (*node.inputs, *node.outputs):
            use(tid)
    for tid in graph.outputs:
        use(tid)
    new_index = {tid: k for k, tid in enumerate(used)}

    tensors: list[TensorSpec] = []
    for tid in used:
        t = graph.tensors[tid]
        q = t.quant
        tensors.append(TensorSpec(
            name=t.name, shape=tuple(int(d) for d in t.shape), dtype=t.dtype, data=t.data,
            scale=None if q is None else [float(s) for s in np.asarray(q.scale).reshape(-1)],
            zero_point=None if q is None else [int(z) for z in np.asarray(q.zero_point).reshape(-1)],
            quantized_dimension=0 if q is None else int(q.axis), is_variable=t.is_variable))

    ops: list[OpSpec] = []
    for node in graph.nodes:
        opdef = lookup(node.op)
        if opdef is not None and opdef.custom:
            ops.append(OpSpec(
                op="CUSTOM", inputs=[new_index[i] if i >= 0 else -1 for i in node.inputs],
                outputs=[new_index[i] for i in node.outputs], custom_code=node.op,
                custom_options=flexbuffers.Dumps({k: v for k, v in node.attrs.items() if v is not None})
                if node.attrs else b""))
            continue
        if node.op not in schema.BUILTIN_OPERATORS or node.op == "CUSTOM" or node.op.startswith("CUSTOM:"):
            raise UnsupportedOpError(
                f"{node.label}: {node.op} is not a TFLite builtin operator, so LiteRT cannot run it; "
                "export supports models made of TFLite builtin ops only")
        table = schema.OP_OPTIONS.get(node.op)
        known = {f[0] for f in schema.OPTIONS_FIELDS.get(table, ())} if table else set()
        options = {k: v for k, v in node.attrs.items() if k in known and v is not None}
        first = next((graph.tensors[i] for i in node.inputs if i >= 0), None)
        ops.append(OpSpec(
            op=node.op,
            inputs=[new_index[i] if i >= 0 else -1 for i in node.inputs],
            outputs=[new_index[i] for i in node.outputs],
            options=options,
            version=_op_version(node, None if first is None else first.dtype)))
    return ModelSpec(tensors=tensors, ops=ops, inputs=[new_index[i] for i in graph.inputs],
                     outputs=[new_index[i] for i in graph.outputs],
                     description=graph.description or "edgekit", signature_key=signature_key)


def graph_to_tflite(graph: Graph, *, signature_key: str | None = SIGNATURE_KEY) -> bytes:
    """Serialize `graph` (TFLite builtin ops) to TFLite flatbuffer bytes."""
    return build_tflite(graph_to_spec(graph, signature_key=signature_key))


def export_graph(graph: Graph, *, verify: bool = True) -> ExportResult:
    """A quantized graph → full-int8 TFLite bytes (checked by reading them back when `verify`)."""
    for node in graph.nodes:
        opdef = lookup(node.op)
        if opdef is not None and opdef.custom:
            raise UnsupportedOpError(
                f"{node.label}: {node.op} is an edgekit custom operator (integer-only transformer op) that LiteRT "
                "cannot run; export supports models made of TFLite builtin ops only")
    _check_full_int8(graph)
    spec = graph_to_spec(graph)
    data = build_tflite(spec)
    if verify:
        verify_round_trip(graph, data)
    counts: dict[str, int] = {}
    for op in spec.ops:
        counts[op.op] = counts.get(op.op, 0) + 1
    weights = sum(np.asarray(t.data).nbytes for t in spec.tensors if t.data is not None)
    return ExportResult(tflite=data, ops=counts, tensors=len(spec.tensors), weights_bytes=int(weights))


def _same_quant(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (np.array_equal(np.asarray(a.scale, np.float32).reshape(-1), np.asarray(b.scale, np.float32).reshape(-1))
            and np.array_equal(np.asarray(a.zero_point).reshape(-1), np.asarray(b.zero_point).reshape(-1))
            and (a.scale.size == 1 or a.axis == b.axis))


def verify_round_trip(graph: Graph, data: bytes) -> None:
    """Read `data` back and check ops, attributes, tensors, weights and quantization match `graph`."""
    back = parse_tflite(data, name=graph.name, what="exported model")

    def fail(what: str) -> ModelFormatError:
        return ModelFormatError(f"export round trip of {graph.name!r} changed {what}; please report this as a bug")

    if len(back.nodes) != len(graph.nodes):
        raise fail(f"the number of ops ({len(graph.nodes)} → {len(back.nodes)})")
    if back.description != (graph.description or "edgekit"):
        raise fail("the model description")

    def same_tensor(ta: int, tb: int, where: str) -> None:
        if (ta < 0) != (tb < 0):
            raise fail(f"{where}: an omitted input")
        if ta < 0:
            return
        a, b = graph.tensors[ta], back.tensors[tb]
        if a.shape != b.shape or a.dtype != b.dtype or a.name != b.name:
            raise fail(f"{where}: tensor {a.name!r} {a.dtype}{list(a.shape)} → {b.name!r} {b.dtype}{list(b.shape)}")
        if (a.data is None) != (b.data is None) or (a.data is not None and not np.array_equal(
                np.asarray(a.data).reshape(-1), np.asarray(b.data).reshape(-1))):
            raise fail(f"{where}: the data of tensor {a.name!r}")
        if not _same_quant(a.quant, b.quant):
            raise fail(f"{where}: the quantization of tensor {a.name!r}")

    for na, nb in zip(graph.nodes, back.nodes, strict=True):
        if na.op != nb.op or len(na.inputs) != len(nb.inputs) or len(na.outputs) != len(nb.outputs):
            raise fail(f"{na.label} (now {nb.label})")
        table = schema.OP_OPTIONS.get(na.op)
        for fname, _kind, _default in schema.OPTIONS_FIELDS.get(table or "", ()):
            if fname in na.attrs and na.attrs[fname] is not None and na.attrs[fname] != nb.attrs.get(fname):
                raise fail(f"{na.label} option {fname} ({na.attrs[fname]!r} → {nb.attrs.get(fname)!r})")
        for k, (ta, tb) in enumerate(zip(na.inputs, nb.inputs, strict=True)):
            same_tensor(ta, tb, f"{na.label} input {k}")
        for k, (ta, tb) in enumerate(zip(na.outputs, nb.outputs, strict=True)):
            same_tensor(ta, tb, f"{na.label} output {k}")
    for k, (ta, tb) in enumerate(zip(graph.inputs, back.inputs, strict=True)):
        same_tensor(ta, tb, f"model input {k}")
    for k, (ta, tb) in enumerate(zip(graph.outputs, back.outputs, strict=True)):
        same_tensor(ta, tb, f"model output {k}")
