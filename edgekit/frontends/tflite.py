"""TFLite front end: a `.tflite` flatbuffer (int8 full-integer or float) → the graph IR.

No tensorflow needed: the file is read with the bounds-checked reader in
:mod:`edgekit.tflite.reader`, using the schema tables of :mod:`edgekit.tflite.schema`.
Any malformed input raises :class:`ModelFormatError` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from flatbuffers import flexbuffers

from edgekit.errors import EdgekitError, ModelFormatError, UnsupportedOpError
from edgekit.ir.graph import DTYPE_BYTES, SUB_BYTE_BITS, Graph, Node, QuantParams, Tensor, fnv1a32
from edgekit.ops.registry import lookup
from edgekit.tflite import schema
from edgekit.tflite.reader import FlatBuffer, Table

# IR dtypes numpy has no type for: their constants are kept as raw bit patterns
_RAW_STORAGE = {"bfloat16": "uint16", "float8_e4m3fn": "uint8", "float8_e5m2": "uint8"}
_FIELD_KINDS = {"int": "int32", "bool": "bool", "float": "float32", "padding": "int8", "activation": "int8",
                "tensor_type": "int8", "weights_format": "int8"}
_MAX_RANK = 8


def load_tflite(path: str | Path) -> Graph:
    """Read a `.tflite` file into the IR."""
    p = Path(path)
    if not p.exists():
        raise ModelFormatError(f"model file not found: {p}")
    if p.is_dir():
        raise ModelFormatError(f"{p} is a folder; give the path of a .tflite file")
    data = p.read_bytes()
    return parse_tflite(data, name=p.stem, what=str(p))


def parse_tflite(data: bytes, name: str = "model", what: str = "model") -> Graph:
    """Parse TFLite flatbuffer bytes into the IR."""
    if len(data) == 0:
        raise ModelFormatError(f"{what} is empty (0 bytes); give a .tflite model file")
    if len(data) < 16 or data[4:8] != schema.FILE_IDENTIFIER:
        raise ModelFormatError(
            f"{what} is not a TFLite flatbuffer (no 'TFL3' identifier); give a .tflite model file"
        )
    fb = FlatBuffer(bytes(data), what=what)
    try:
        return _Reader(fb, name).graph()
    except EdgekitError:
        raise
    except (ValueError, OverflowError, MemoryError, UnicodeError, KeyError, IndexError) as err:
        raise ModelFormatError(f"malformed {what}: {err}") from None


class _Reader:
    def __init__(self, fb: FlatBuffer, name: str) -> None:
        self.fb = fb
        self.name = name

    def graph(self) -> Graph:
        model = self.fb.root()
        version = int(model.scalar(0, "uint32"))
        if version != schema.SCHEMA_VERSION:
            raise self.fb.fail(f"schema version {version}, expected {schema.SCHEMA_VERSION}")
        opcodes = [self._opcode(t) for t in model.tables(1)]
        subgraphs = model.tables(2)
        if not subgraphs:
            raise self.fb.fail("no subgraph")
        buffers = model.tables(4)
        sg = subgraphs[0]
        tensors = [self._tensor(i, t, buffers) for i, t in enumerate(sg.tables(0))]
        n = len(tensors)
        inputs = self._indices(sg.array(1, "int32"), n, "subgraph input")
        outputs = self._indices(sg.array(2, "int32"), n, "subgraph output")
        nodes = []
        for k, op in enumerate(sg.tables(3)):
            nodes.append(self._node(k, op, opcodes, n))
        if not inputs or not outputs:
            raise self.fb.fail("the subgraph declares no input or no output")
        graph = Graph(tensors=tensors, nodes=nodes, inputs=inputs, outputs=outputs, name=self.name,
                      source_hash=fnv1a32(self.fb.data), description=model.string(3))
        _check_sized(graph)
        _check_dataflow(graph, self.fb)
        return graph

    @staticmethod
    def _indices(arr: np.ndarray, n: int, what: str, allow_none: bool = False) -> list[int]:
        out = [int(v) for v in arr]
        for v in out:
            if not (0 <= v < n or (allow_none and v == -1)):
                raise ModelFormatError(f"malformed model: {what} refers to tensor {v}, the model has {n}")
        return out

    def _opcode(self, t: Table) -> str:
        deprecated = int(t.scalar(0, "int8"))
        code = int(t.scalar(3, "int32"))
        code = max(code, deprecated)
        if code == schema.BUILTIN_OPERATORS["CUSTOM"]:
            return "CUSTOM:" + t.string(1, "?")
        return schema.BUILTIN_OPERATOR_NAMES.get(code, f"UNKNOWN_OP_{code}")

    def _tensor(self, idx: int, t: Table, buffers: list[Table]) -> Tensor:
        shape_arr = t.array(0, "int32")
        if shape_arr.size > _MAX_RANK or (shape_arr < 0).any() and not t.has(7):
            raise self.fb.fail(f"tensor {idx} has shape {shape_arr.tolist()}")
        shape = tuple(max(int(d), 1) if d < 0 else int(d) for d in shape_arr)
        type_code = int(t.scalar(1, "int8"))
        dtype = schema.TENSOR_TYPE_NAMES.get(type_code, f"type code {type_code}").lower()
        name = t.string(3, f"t{idx}")
        data = None
        buf_idx = int(t.scalar(2, "uint32"))
        if buf_idx >= len(buffers):
            raise self.fb.fail(f"tensor {idx} ({name}) uses buffer {buf_idx}, the model has {len(buffers)}")
        if buf_idx > 0:
            data = self._buffer_data(buffers[buf_idx], idx, name, shape, dtype)
        quant = self._quant(t.table(4), idx, name, shape)
        return Tensor(id=idx, name=name, shape=shape, dtype=dtype, data=data, quant=quant,
                      is_variable=bool(t.scalar(5, "bool")))

    def _buffer_data(self, buf: Table, idx: int, name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
        raw = buf.bytes_view(0)
        if raw is None or len(raw) == 0:
            offset, size = int(buf.scalar(1, "uint64")), int(buf.scalar(2, "uint64"))
            if offset > 1:
                self.fb.check(offset, size)
                raw = memoryview(self.fb.data)[offset:offset + size]
            else:
                return None
        if dtype not in DTYPE_BYTES and dtype not in SUB_BYTE_BITS:
            return None  # no fixed size (string, resource, ...): _check_sized refuses it where it is used
        numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
        bits = SUB_BYTE_BITS.get(dtype, 8 * DTYPE_BYTES.get(dtype, 0))
        if -(-numel * bits // 8) != len(raw):
            raise self.fb.fail(f"tensor {idx} ({name}) of shape {list(shape)} {dtype} holds {len(raw)} bytes")
        if dtype in SUB_BYTE_BITS:
            return _unpack_sub_byte(np.frombuffer(raw, dtype=np.uint8), bits, dtype.startswith("int"), numel, shape)
        storage = np.dtype(_RAW_STORAGE.get(dtype, dtype)).newbyteorder("<")
        return np.frombuffer(raw, dtype=storage, count=numel).reshape(shape).copy()

    def _quant(self, q: Table | None, idx: int, name: str, shape: tuple[int, ...]) -> QuantParams | None:
        if q is None:
            return None
        scale = q.array(2, "float32")
        if scale.size == 0:
            return None
        zp = q.array(3, "int64")
        if zp.size == 0:
            zp = np.zeros(scale.size, dtype=np.int64)
        if zp.size != scale.size:
            raise self.fb.fail(f"tensor {idx} ({name}) has {scale.size} scales but {zp.size} zero points")
        axis = int(q.scalar(6, "int32"))
        rank = len(shape)
        if scale.size > 1 and rank == 1:
            axis = 0  # the only axis (older converters write e.g. 3 for a per-channel bias; TFLM reads it)
        if scale.size > 1 and not 0 <= axis < rank:
            raise self.fb.fail(f"tensor {idx} ({name}) quantized along axis {axis} of a rank-{rank} tensor")
        if scale.size > 1 and scale.size != shape[axis]:
            raise self.fb.fail(f"tensor {idx} ({name}) has {scale.size} quantization scales, but its dimension "
                               f"{axis} has size {shape[axis]}; re-convert the model")
        if not np.all(np.isfinite(scale)):
            raise self.fb.fail(f"tensor {idx} ({name}) has a non-finite quantization scale")
        return QuantParams(scale=scale.astype(np.float32), zero_point=zp.astype(np.int64), axis=axis)

    def _node(self, k: int, op: Table, opcodes: list[str], n: int) -> Node:
        code_idx = int(op.scalar(0, "uint32"))
        if code_idx >= len(opcodes):
            raise self.fb.fail(f"operator {k} uses opcode {code_idx}, the model has {len(opcodes)}")
        name = opcodes[code_idx]
        inputs = self._indices(op.array(1, "int32"), n, f"operator {k} ({name}) input", allow_none=True)
        outputs = self._indices(op.array(2, "int32"), n, f"operator {k} ({name}) output")
        if name.startswith("CUSTOM:") and _is_edgekit_custom(name[len("CUSTOM:"):]):
            name = name[len("CUSTOM:"):]
            return Node(index=k, op=name, inputs=inputs, outputs=outputs, attrs=self._custom_options(op, name, k))
        attrs = self._options(op, name, k)
        return Node(index=k, op=name, inputs=inputs, outputs=outputs, attrs=attrs)

    def _custom_options(self, op: Table, name: str, k: int) -> dict[str, Any]:
        """The flexbuffer map of an edgekit custom operator's options."""
        raw = op.bytes_view(5)
        if raw is None or len(raw) == 0:
            return {}
        try:
            value = flexbuffers.Loads(bytes(raw))
        except Exception:  # noqa: BLE001 - any decoding failure is a malformed file
            raise self.fb.fail(f"operator {k} ({name}) has unreadable custom options") from None
        if not isinstance(value, dict):
            raise self.fb.fail(f"operator {k} ({name}) has custom options that are not a map")
        return {str(key): v for key, v in value.items()}

    def _options(self, op: Table, name: str, k: int) -> dict[str, Any]:
        table_name = schema.OP_OPTIONS.get(name)
        fields = schema.OPTIONS_FIELDS.get(table_name or "", ())
        opt_type = int(op.scalar(3, "uint8"))
        table = op.table(4) if opt_type != 0 else None
        if table is not None and table_name is not None and opt_type != schema.BUILTIN_OPTIONS.get(table_name):
            got = schema.BUILTIN_OPTIONS_NAMES.get(opt_type, str(opt_type))
            raise self.fb.fail(f"operator {k} ({name}) carries {got}, expected {table_name}")
        attrs: dict[str, Any] = {}
        for fid, (field, kind, default) in enumerate(fields):
            if table is None or not table.has(fid):
                attrs[field] = default
            elif kind == "int_vector":
                attrs[field] = [int(v) for v in table.array(fid, "int32")]
            else:
                value = table.scalar(fid, _FIELD_KINDS[kind])
                attrs[field] = _decode_enum(kind, value, name, field)
        return attrs


def _is_edgekit_custom(code: str) -> bool:
    opdef = lookup(code)
    return opdef is not None and opdef.custom


def _decode_enum(kind: str, value: int | float, op: str, field: str) -> Any:
    if kind == "bool":
        return bool(value)
    if kind in ("int", "float"):
        return value
    table = schema.ENUM_KINDS[kind]
    names = {v: k for k, v in table.items()}
    if int(value) not in names:
        raise ModelFormatError(f"malformed model: {op} option {field} has unknown value {value}")
    return names[int(value)]


def _unpack_sub_byte(raw: np.ndarray, bits: int, signed: bool, numel: int, shape: tuple[int, ...]) -> np.ndarray:
    """TFLite's packed sub-byte values (the first element in the lowest bits) → one int8/uint8 each."""
    per = 8 // bits
    mask = (1 << bits) - 1
    values = np.stack([(raw >> (k * bits)) & mask for k in range(per)], axis=1).reshape(-1)[:numel]
    if signed:
        values = values.astype(np.int16)
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values.astype(np.int8 if signed else np.uint8).reshape(shape)


def _check_sized(graph: Graph) -> None:
    """Every tensor a node or the model uses has a type of a fixed size (not string, resource, ...)."""
    def refuse(t: Tensor, where: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"unsupported type {t.dtype} {where}: tensor {t.id} ({t.name}); edgekit reads "
                                  "tensors of fixed-size numeric types: re-convert the model without it")

    for node in graph.nodes:
        for tid in node.inputs + node.outputs:
            t = graph.tensors[tid] if tid >= 0 else None
            if t is not None and t.dtype not in DTYPE_BYTES and t.dtype not in SUB_BYTE_BITS:
                raise refuse(t, f"at node {node.index} ({node.op})")
    for tid in graph.inputs + graph.outputs:
        t = graph.tensors[tid]
        if t.dtype not in DTYPE_BYTES and t.dtype not in SUB_BYTE_BITS:
            raise refuse(t, "at the model's input/output")


def _check_dataflow(graph: Graph, fb: FlatBuffer) -> None:
    """Every activation input must be produced by an earlier node, be a graph input or be a
    variable (state) tensor."""
    ready = set(graph.inputs) | {t.id for t in graph.tensors if t.is_const or t.is_variable}
    for node in graph.nodes:
        for tid in node.inputs:
            if tid >= 0 and tid not in ready:
                raise fb.fail(f"operator {node.index} ({node.op}) reads tensor {tid} "
                              f"({graph.tensors[tid].name}) before anything writes it")
        ready.update(node.outputs)
    for tid in graph.outputs:
        if tid not in ready:
            raise fb.fail(f"model output tensor {tid} is never written")
