"""Write TFLite flatbuffers (schema version 3) from a plain Python spec.

The spec is deliberately flat: a list of tensors, a list of ops referring to tensors by index,
and the graph's input/output tensor indices. Constant tensors carry their ``data`` and get a
buffer of their own; every other tensor points at buffer 0, the empty sentinel buffer.

Example::

    spec = ModelSpec(
        tensors=[TensorSpec("x", (1, 4), "int8", scale=[0.1], zero_point=[0]),
                 TensorSpec("y", (1, 4), "int8", scale=[0.1], zero_point=[0])],
        ops=[OpSpec("RELU", inputs=[0], outputs=[1])],
        inputs=[0], outputs=[1])
    flatbuffer = build_tflite(spec)

Options are given as a dict keyed by the schema's snake_case field names; enum fields take
their schema names as strings (``"SAME"``, ``"RELU6"``, ``"INT8"``). Field ids come from
:data:`edgekit.tflite.schema.OPTIONS_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

from edgekit.errors import ModelFormatError, UnsupportedOpError
from edgekit.tflite import schema

__all__ = ["TensorSpec", "OpSpec", "ModelSpec", "build_tflite", "validate_spec", "DTYPES"]

#: Tensor dtypes a spec may use (``int4``/``uint4``/``int2`` data is one value per element; it is
#: written packed, as TFLite stores it).
DTYPES: tuple[str, ...] = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool", "uint16", "uint32",
                           "uint64", "float16", "float64", "int4", "uint4", "int2")

@dataclass
class TensorSpec:
    """One tensor. ``data`` makes it a constant (stored in its own buffer).

    ``scale``/``zero_point`` are the quantization parameters (one entry per tensor, or one per
    slice along ``quantized_dimension`` for per-channel tensors). ``is_variable`` marks a state
    tensor (LSTM, SVDF memory): no data, the op reads and updates it.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None
    scale: Sequence[float] | None = None
    zero_point: Sequence[int] | None = None
    quantized_dimension: int = 0
    shape_signature: tuple[int, ...] | None = None
    is_variable: bool = False


@dataclass
class OpSpec:
    """One builtin operator; ``inputs``/``outputs`` index :attr:`ModelSpec.tensors` (-1 = absent).

    ``version`` is the builtin operator version recorded in the file (TFLite Micro ignores it;
    LiteRT's resolver checks it: :mod:`edgekit.export` writes the converter's versions)."""

    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    custom_code: str | None = None  # op == "CUSTOM": the custom operator's name
    custom_options: bytes = b""  # op == "CUSTOM": its options (flexbuffer)


@dataclass
class ModelSpec:
    """A single-subgraph model."""

    tensors: list[TensorSpec]
    ops: list[OpSpec]
    inputs: list[int]
    outputs: list[int]
    description: str = "edgekit"
    #: When set, the model gets one SignatureDef with this key (e.g. ``"serving_default"``) naming
    #: the graph inputs ``input_0..`` and outputs ``output_0..``; LiteRT's signature runners use it.
    signature_key: str | None = None


# --------------------------------------------------------------------------------------------
# validation


def _check_tensor(i: int, t: TensorSpec) -> None:
    where = f"tensor {i} ({t.name!r})"
    if t.dtype not in DTYPES:
        raise ModelFormatError(f"{where}: dtype {t.dtype!r} is not one of {', '.join(DTYPES)}")
    if any(int(d) < 0 for d in t.shape):
        raise ModelFormatError(f"{where}: shape {t.shape} has a negative dimension")
    if t.data is not None and t.is_variable:
        raise ModelFormatError(f"{where}: a variable (state) tensor has no data; drop data or is_variable")
    if t.data is not None:
        size = int(np.prod(t.shape, dtype=np.int64))
        if np.asarray(t.data).size != size:
            raise ModelFormatError(
                f"{where}: data has {np.asarray(t.data).size} elements but shape {t.shape} needs {size}"
            )
    if t.scale is None:
        if t.zero_point is not None:
            raise ModelFormatError(f"{where}: zero_point given without scale")
        return
    n = len(t.scale)
    if n == 0:
        raise ModelFormatError(f"{where}: scale is empty")
    if t.zero_point is not None and len(t.zero_point) != n:
        raise ModelFormatError(f"{where}: {n} scales but {len(t.zero_point)} zero points")
    if n > 1:
        qd = 0 if len(t.shape) == 1 else t.quantized_dimension  # rank 1: any axis means 0 (older converters)
        if not 0 <= qd < len(t.shape) or t.shape[qd] != n:
            raise ModelFormatError(
                f"{where}: {n} per-channel scales do not match shape {t.shape} along quantized_dimension {qd}"
            )
    if t.shape_signature is not None and len(t.shape_signature) != len(t.shape):
        raise ModelFormatError(f"{where}: shape_signature rank differs from shape rank")


def _check_op(i: int, op: OpSpec, n_tensors: int) -> None:
    where = f"op {i} ({op.op})"
    if op.op not in schema.BUILTIN_OPERATORS:
        raise UnsupportedOpError(f"{where}: {op.op!r} is not a TFLite builtin operator name")
    for idx in op.inputs:
        if not -1 <= idx < n_tensors:
            raise ModelFormatError(f"{where}: input tensor index {idx} out of range 0..{n_tensors - 1}")
    for idx in op.outputs:
        if not 0 <= idx < n_tensors:
            raise ModelFormatError(f"{where}: output tensor index {idx} out of range 0..{n_tensors - 1}")
    if (op.op == "CUSTOM") != (op.custom_code is not None):
        raise UnsupportedOpError(f"{where}: a CUSTOM operator needs a custom code, and only it takes one")
    table = schema.OP_OPTIONS.get(op.op)
    known = {f[0] for f in schema.OPTIONS_FIELDS.get(table, ())} if table else set()
    unknown = sorted(set(op.options) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise UnsupportedOpError(f"{where}: unknown option(s) {unknown}; {op.op} takes: {allowed}")


def validate_spec(spec: ModelSpec) -> None:
    """Raise :class:`ModelFormatError`/:class:`UnsupportedOpError` if ``spec`` is inconsistent."""
    n = len(spec.tensors)
    for i, t in enumerate(spec.tensors):
        _check_tensor(i, t)
    for i, op in enumerate(spec.ops):
        _check_op(i, op, n)
    for kind, idxs in (("input", spec.inputs), ("output", spec.outputs)):
        for idx in idxs:
            if not 0 <= idx < n:
                raise ModelFormatError(f"model {kind} tensor index {idx} out of range 0..{n - 1}")


# --------------------------------------------------------------------------------------------
# flatbuffer writing helpers


def _int32_vector(b: flatbuffers.Builder, values: Sequence[int]) -> int:
    return b.CreateNumpyVector(np.asarray(list(values), dtype="<i4"))


def _bytes_vector(b: flatbuffers.Builder, payload: bytes, alignment: int = 16) -> int:
    b.StartVector(1, len(payload), alignment)
    b.head = b.head - len(payload)
    b.Bytes[b.head : b.head + len(payload)] = payload
    return b.EndVector()


def _packed_bytes(t: TensorSpec, bits: int) -> bytes:
    """Sub-byte values packed as TFLite stores them: 8 // bits per byte, the first in the lowest bits."""
    assert t.data is not None
    arr = np.asarray(t.data)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if t.dtype.startswith("int") else (0, (1 << bits) - 1)
    if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < lo or arr.max() > hi)):
        raise ModelFormatError(f"tensor {t.name!r}: {t.dtype} data must be integers in [{lo}, {hi}]")
    per = 8 // bits
    values = (arr.reshape(-1).astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    values = np.concatenate([values, np.zeros(-values.size % per, np.uint8)]).reshape(-1, per)
    packed = np.zeros(values.shape[0], np.uint8)
    for k in range(per):
        packed |= values[:, k] << (k * bits)
    return packed.tobytes()


def _tensor_bytes(t: TensorSpec) -> bytes:
    assert t.data is not None
    if t.dtype.upper() in schema.SUB_BYTE_BITS:
        return _packed_bytes(t, schema.SUB_BYTE_BITS[t.dtype.upper()])
    np_dtype = np.dtype(t.dtype).newbyteorder("<") if t.dtype != "bool" else np.dtype(bool)
    arr = np.asarray(t.data)
    if arr.dtype != np_dtype:
        if arr.dtype.kind == "f" and np_dtype.kind in "iu":
            raise ModelFormatError(
                f"tensor {t.name!r}: float data given for {t.dtype} tensor; quantize it first"
            )
        info = np.iinfo(np_dtype) if np_dtype.kind in "iu" else None
        if info is not None and arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise ModelFormatError(f"tensor {t.name!r}: data outside the {t.dtype} range")
        arr = arr.astype(np_dtype)
    return np.ascontiguousarray(arr).reshape(-1).tobytes()


def _build_buffer(b: flatbuffers.Builder, payload: bytes | None) -> int:
    data = _bytes_vector(b, payload) if payload else None
    b.StartObject(3)  # Buffer: data, offset, size
    if data is not None:
        b.PrependUOffsetTRelativeSlot(0, data, 0)
    return b.EndObject()


def _build_quantization(b: flatbuffers.Builder, t: TensorSpec) -> int | None:
    if t.scale is None:
        return None
    scale = b.CreateNumpyVector(np.asarray(t.scale, dtype="<f4"))
    zps = t.zero_point if t.zero_point is not None else [0] * len(t.scale)
    zp = b.CreateNumpyVector(np.asarray(zps, dtype="<i8"))
    # QuantizationParameters: min 0, max 1, scale 2, zero_point 3, details_type 4, details 5,
    # quantized_dimension 6
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(2, scale, 0)
    b.PrependUOffsetTRelativeSlot(3, zp, 0)
    b.PrependInt32Slot(6, int(t.quantized_dimension), 0)
    return b.EndObject()


def _build_tensor(b: flatbuffers.Builder, t: TensorSpec, buffer_index: int) -> int:
    name = b.CreateString(t.name)
    shape = _int32_vector(b, t.shape)
    sig = _int32_vector(b, t.shape_signature) if t.shape_signature is not None else None
    quant = _build_quantization(b, t)
    ttype = schema.TENSOR_TYPES[schema.NUMPY_TO_TENSOR_TYPE.get(t.dtype, t.dtype.upper())]
    # Tensor: shape 0, type 1, buffer 2, name 3, quantization 4, is_variable 5, sparsity 6,
    # shape_signature 7, has_rank 8, variant_tensors 9
    b.StartObject(10)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependInt8Slot(1, ttype, 0)
    b.PrependUint32Slot(2, buffer_index, 0)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    if quant is not None:
        b.PrependUOffsetTRelativeSlot(4, quant, 0)
    if t.is_variable:
        b.PrependBoolSlot(5, True, False)
    if sig is not None:
        b.PrependUOffsetTRelativeSlot(7, sig, 0)
    return b.EndObject()


def _enum_value(kind: str, value: Any, where: str) -> int:
    table = schema.ENUM_KINDS[kind]
    if isinstance(value, str):
        if value not in table:
            raise UnsupportedOpError(f"{where}: {value!r} is not one of {', '.join(table)}")
        return table[value]
    return int(value)


def _build_options(b: flatbuffers.Builder, op: OpSpec, table: str) -> int:
    fields = schema.OPTIONS_FIELDS[table]
    # vectors must be written before the table is started
    vectors: dict[int, int] = {}
    for slot, (name, kind, _default) in enumerate(fields):
        if kind == "int_vector" and op.options.get(name) is not None:
            vectors[slot] = _int32_vector(b, [int(v) for v in op.options[name]])
    b.StartObject(len(fields))
    for slot, (name, kind, default) in enumerate(fields):
        if name not in op.options:
            continue
        value = op.options[name]
        where = f"{op.op} option {name}"
        if kind == "int_vector":
            if slot in vectors:
                b.PrependUOffsetTRelativeSlot(slot, vectors[slot], 0)
        elif kind == "int":
            b.PrependInt32Slot(slot, int(value), int(default))  # type: ignore[call-overload]
        elif kind == "bool":
            b.PrependBoolSlot(slot, bool(value), bool(default))
        elif kind == "float":
            b.PrependFloat32Slot(slot, float(value), float(default))  # type: ignore[arg-type]
        else:
            b.PrependInt8Slot(slot, _enum_value(kind, value, where), _enum_value(kind, default, where))
    return b.EndObject()


def _build_operator_code(b: flatbuffers.Builder, code: int, version: int, custom_code: str | None = None) -> int:
    # OperatorCode: deprecated_builtin_code 0 (byte), custom_code 1, version 2, builtin_code 3
    name = b.CreateString(custom_code) if custom_code is not None else None
    b.StartObject(4)
    if name is not None:
        b.PrependUOffsetTRelativeSlot(1, name, 0)
    b.PrependInt8Slot(0, min(code, schema.PLACEHOLDER_FOR_GREATER_OP_CODES), 0)
    b.PrependInt32Slot(2, version, 1)
    b.PrependInt32Slot(3, code, 0)
    return b.EndObject()


def _build_operator(b: flatbuffers.Builder, op: OpSpec, opcode_index: int) -> int:
    inputs = _int32_vector(b, op.inputs)
    outputs = _int32_vector(b, op.outputs)
    table = schema.OP_OPTIONS.get(op.op)
    options = _build_options(b, op, table) if table else None
    custom = b.CreateByteVector(op.custom_options) if op.custom_options else None
    # Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4,
    # custom_options 5, custom_options_format 6 (0: FLEXBUFFERS), ...
    b.StartObject(13)
    if custom is not None:
        b.PrependUOffsetTRelativeSlot(5, custom, 0)
    b.PrependUint32Slot(0, opcode_index, 0)
    b.PrependUOffsetTRelativeSlot(1, inputs, 0)
    b.PrependUOffsetTRelativeSlot(2, outputs, 0)
    if options is not None and table is not None:
        b.PrependUint8Slot(3, schema.BUILTIN_OPTIONS[table], 0)
        b.PrependUOffsetTRelativeSlot(4, options, 0)
    return b.EndObject()


def _offsets_vector(b: flatbuffers.Builder, offsets: Sequence[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _build_signature(b: flatbuffers.Builder, spec: ModelSpec) -> int:
    assert spec.signature_key is not None

    def tensor_maps(prefix: str, idxs: Sequence[int]) -> int:
        maps = []
        for k, idx in enumerate(idxs):
            name = b.CreateString(f"{prefix}_{k}")
            # TensorMap: name 0, tensor_index 1
            b.StartObject(2)
            b.PrependUOffsetTRelativeSlot(0, name, 0)
            b.PrependUint32Slot(1, int(idx), 0)
            maps.append(b.EndObject())
        return _offsets_vector(b, maps)

    ins = tensor_maps("input", spec.inputs)
    outs = tensor_maps("output", spec.outputs)
    key = b.CreateString(spec.signature_key)
    # SignatureDef: inputs 0, outputs 1, signature_key 2, deprecated_tag 3, subgraph_index 4
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, ins, 0)
    b.PrependUOffsetTRelativeSlot(1, outs, 0)
    b.PrependUOffsetTRelativeSlot(2, key, 0)
    b.PrependUint32Slot(4, 0, 0)
    return b.EndObject()


# --------------------------------------------------------------------------------------------
# entry point


def build_tflite(spec: ModelSpec) -> bytes:
    """Serialize ``spec`` to TFLite flatbuffer bytes (file identifier ``TFL3``, schema version 3).

    Raises :class:`ModelFormatError` or :class:`UnsupportedOpError` for an inconsistent spec.
    """
    validate_spec(spec)
    b = flatbuffers.Builder(1024 + sum(t.data.nbytes for t in spec.tensors if t.data is not None))

    # buffers: 0 is the empty sentinel; then one per constant tensor
    payloads: list[bytes | None] = [None]
    buffer_of: list[int] = []
    for t in spec.tensors:
        if t.data is None:
            buffer_of.append(0)
        else:
            buffer_of.append(len(payloads))
            payloads.append(_tensor_bytes(t))
    buffers = [_build_buffer(b, p) for p in payloads]

    # operator codes, deduplicated by (op, version), in first-use order
    code_index: dict[tuple[str, int, str | None], int] = {}
    op_code_idx: list[int] = []
    for op in spec.ops:
        key = (op.op, int(op.version), op.custom_code)
        op_code_idx.append(code_index.setdefault(key, len(code_index)))
    opcodes = [_build_operator_code(b, schema.BUILTIN_OPERATORS[n], v, c) for (n, v, c) in code_index]

    tensors = [_build_tensor(b, t, buf) for t, buf in zip(spec.tensors, buffer_of, strict=True)]
    operators = [_build_operator(b, op, ci) for op, ci in zip(spec.ops, op_code_idx, strict=True)]

    tensors_vec = _offsets_vector(b, tensors)
    inputs_vec = _int32_vector(b, spec.inputs)
    outputs_vec = _int32_vector(b, spec.outputs)
    operators_vec = _offsets_vector(b, operators)
    sg_name = b.CreateString("main")
    # SubGraph: tensors 0, inputs 1, outputs 2, operators 3, name 4
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensors_vec, 0)
    b.PrependUOffsetTRelativeSlot(1, inputs_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, outputs_vec, 0)
    b.PrependUOffsetTRelativeSlot(3, operators_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()

    opcodes_vec = _offsets_vector(b, opcodes)
    subgraphs_vec = _offsets_vector(b, [subgraph])
    description = b.CreateString(spec.description)
    buffers_vec = _offsets_vector(b, buffers)
    signatures_vec = _offsets_vector(b, [_build_signature(b, spec)]) if spec.signature_key else None
    # Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4, metadata_buffer 5,
    # metadata 6, signature_defs 7
    b.StartObject(8)
    b.PrependUint32Slot(0, schema.SCHEMA_VERSION, 0)
    b.PrependUOffsetTRelativeSlot(1, opcodes_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs_vec, 0)
    b.PrependUOffsetTRelativeSlot(3, description, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
    if signatures_vec is not None:
        b.PrependUOffsetTRelativeSlot(7, signatures_vec, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=schema.FILE_IDENTIFIER)
    return bytes(b.Output())
