"""Typed kernel parameters: one frozen dataclass per C parameter struct of the runtime.

Each class mirrors a ``typedef struct {...} name;`` of ``firmware/runtime/ek_runtime.h``
field for field (the class attribute ``c_struct`` names it). This module holds the shared
sub-structs and the structs several ops share; an op's own struct is declared with
:func:`c_struct` in its op module. Field kinds:

* ``int`` → an ``int32_t`` field; ``float`` → a ``float`` field;
* ``np.ndarray`` → a ``const T *`` field: the array is emitted as a ``const T[]`` in flash (its
  numpy dtype must be T) and the field points at it;
* another :class:`CStruct` → an embedded sub-struct (``ek_conv_geom_t geom;``).

A lowering must give every field (dataclass construction fails otherwise), and
:func:`check_against_header` — run by the emitter on every struct it writes — fails when a
field is missing, unknown, of another kind or of another array type than the C struct says.
So a field can never silently become 0 through a designated initializer.

The requantization modes of the optimised conv kernels are :class:`RequantMode`, checked against
the C enum ``ek_rq_mode_t`` the same way.
"""

from __future__ import annotations

import dataclasses
import re
from enum import IntEnum
from functools import cache
from typing import Any, ClassVar, get_type_hints

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.resources import resource_dir

RUNTIME_HEADER = "ek_runtime.h"


class CStruct:
    """Base of the dataclasses that mirror C structs."""

    c_struct: ClassVar[str] = ""

    def items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]  # type: ignore[arg-type]


class KernelParams(CStruct):
    """A kernel's parameter struct (the ``p`` of ``void ek_xxx(const P *p, ...)``)."""


def c_struct(name: str):  # type: ignore[no-untyped-def]
    """Class decorator: a frozen dataclass mirroring the C struct `name`."""
    def deco(cls: type) -> type:
        cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
        cls.c_struct = name  # type: ignore[attr-defined]
        return cls

    return deco


# ---------------------------------------------------------------------------------------------
# shared sub-structs


@c_struct("ek_mult_t")
class Multiplier(CStruct):
    """A quantized multiplier ``multiplier · 2^(shift − 31)`` (TFLM's QuantizeMultiplier)."""

    multiplier: int
    shift: int


@c_struct("ek_conv_geom_t")
class ConvGeometry(CStruct):
    """The geometry of a 2-D convolution or pooling window over an NHWC batch."""

    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    k_h: int
    k_w: int
    stride_h: int
    stride_w: int
    dil_h: int
    dil_w: int
    pad_h: int
    pad_w: int


@c_struct("ek_requant_t")
class Requant(CStruct):
    """Per-channel requantization of int32 accumulators to int8, then the activation clamp."""

    output_offset: int
    act_min: int
    act_max: int
    mult: np.ndarray  # int32 [channels]
    shift: np.ndarray  # int32 [channels]


@c_struct("ek_broadcast_t")
class Broadcast(CStruct):
    """The operands of a binary elementwise op: broadcast layout and constant operands."""

    rank: int
    size: int
    broadcast: int
    out_dims: np.ndarray
    in1_strides: np.ndarray
    in2_strides: np.ndarray
    in1_const: int
    in2_const: int
    const1: np.ndarray
    const2: np.ndarray


@c_struct("ek_add_arith_t")
class AddArith(CStruct):
    """TFLM's int8 ADD/SUB arithmetic (also the residual ADD fused into a convolution)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1: Multiplier
    input2: Multiplier
    output: Multiplier
    act_min: int
    act_max: int

    @classmethod
    def none(cls) -> AddArith:
        """The value of an absent fused ADD (``fuse_add = 0``)."""
        zero = Multiplier(0, 0)
        return cls(0, 0, 0, 0, zero, zero, zero, 0, 0)

    def swapped(self) -> AddArith:
        """The same ADD with its two inputs exchanged (ADD is symmetric)."""
        return dataclasses.replace(self, input1_offset=self.input2_offset, input2_offset=self.input1_offset,
                                   input1=self.input2, input2=self.input1)


class RequantMode(IntEnum):
    """``ek_rq_mode_t``: how the optimised conv kernels requantize (bit 0: SSAT, >= 3: one triple)."""

    GENERIC = 0  # TFLM's double rounding from rq.mult/rq.shift (SMMULR when requant_small)
    TRIPLES_SSAT = 1  # per-channel {m, r, d} triples, output range [-128, 127]
    TRIPLES_CLAMP = 2  # per-channel triples, clamp to act_min/act_max
    UNIFORM_SSAT = 3  # one triple for every channel, [-128, 127]
    UNIFORM_CLAMP = 4  # one triple for every channel, clamp


# ---------------------------------------------------------------------------------------------
# kernel parameter structs shared by several ops (an op's own struct lives in its op module)


@c_struct("ek_add_params_t")
class AddParams(KernelParams):
    bc: Broadcast
    arith: AddArith


@c_struct("ek_pool_params_t")
class PoolParams(KernelParams):
    geom: ConvGeometry
    act_min: int
    act_max: int


@c_struct("ek_requantize_params_t")
class RequantizeParams(KernelParams):
    size: int
    input_zero_point: int
    output_zero_point: int
    rescale: Multiplier
    act_min: int
    act_max: int


# ---------------------------------------------------------------------------------------------
# the C side: parse the runtime header and check a struct against it


@dataclasses.dataclass(frozen=True)
class CField:
    name: str
    ctype: str  # "int32_t", "float", "int8_t" (pointee of a pointer), or a struct typedef name
    pointer: bool


_STRUCT_RE = re.compile(r"typedef\s+struct\s*\{(?P<body>[^{}]*)\}\s*(?P<name>\w+)\s*;", re.S)
_ENUM_RE = re.compile(r"typedef\s+enum\s*\{(?P<body>[^{}]*)\}\s*(?P<name>\w+)\s*;", re.S)
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def parse_structs(header_text: str) -> dict[str, list[CField]]:
    """``typedef struct { ... } name;`` blocks of a C header → their fields, in order."""
    text = _COMMENT_RE.sub(" ", header_text)
    structs: dict[str, list[CField]] = {}
    for m in _STRUCT_RE.finditer(text):
        out: list[CField] = []
        for decl in m.group("body").split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            head = re.match(r"^((?:const\s+)?\w+)\s+(.*)$", decl)
            if head is None:
                raise EdgekitError(f"internal: cannot parse field '{decl}' of {m.group('name')}")
            ctype = head.group(1).replace("const ", "")
            for d in head.group(2).split(","):
                d = d.strip()
                pointer = d.startswith("*")
                name = d.lstrip("* ").strip()
                if "[" in name:
                    raise EdgekitError(f"internal: array field {name} in {m.group('name')} is not supported")
                out.append(CField(name=name, ctype=ctype, pointer=pointer))
        structs[m.group("name")] = out
    return structs


def parse_enums(header_text: str) -> dict[str, dict[str, int]]:
    """``typedef enum { A = 0, ... } name;`` blocks → {name: {member: value}} (explicit values)."""
    text = _COMMENT_RE.sub(" ", header_text)
    enums: dict[str, dict[str, int]] = {}
    for m in _ENUM_RE.finditer(text):
        members: dict[str, int] = {}
        for item in m.group("body").split(","):
            item = item.strip()
            if item:
                key, _, value = item.partition("=")
                members[key.strip()] = int(value.strip(), 0)
        enums[m.group("name")] = members
    return enums


@cache
def runtime_header() -> str:
    """``ek_runtime.h`` followed by the runtime headers it includes (``#include "ek_*.h"``)."""
    folder = resource_dir("firmware") / "runtime"
    text = (folder / RUNTIME_HEADER).read_text()
    parts = [text]
    for name in re.findall(r'^#include "(ek_[a-z0-9_]+\.h)"', text, flags=re.M):
        parts.append((folder / name).read_text())
    return "\n".join(parts)


@cache
def runtime_structs() -> dict[str, list[CField]]:
    return parse_structs(runtime_header())


_NUMPY_OF_C = {"int8_t": "int8", "uint8_t": "uint8", "int16_t": "int16", "int32_t": "int32", "uint32_t": "uint32",
               "int64_t": "int64", "float": "float32"}


def _kind(annotation: Any) -> str:
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is np.ndarray:
        return "array"
    if isinstance(annotation, type) and issubclass(annotation, CStruct):
        return "struct"
    raise EdgekitError(f"internal: unsupported kernel-parameter field type {annotation!r}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def check_against_header(value: CStruct, structs: dict[str, list[CField]] | None = None,
                         where: str = "") -> None:
    """Fail unless `value` (a :class:`CStruct` instance) matches its C struct field for field."""
    structs = runtime_structs() if structs is None else structs
    name = type(value).c_struct
    where = where or name
    c_fields = structs.get(name)
    if c_fields is None:
        raise EdgekitError(f"internal: {RUNTIME_HEADER} has no struct {name} ({type(value).__name__})")
    hints = _hints(type(value))
    py_names = [f.name for f in dataclasses.fields(value)]  # type: ignore[arg-type]
    c_names = [f.name for f in c_fields]
    missing, unknown = sorted(set(c_names) - set(py_names)), sorted(set(py_names) - set(c_names))
    if missing or unknown:
        raise EdgekitError(f"internal: {where} ({type(value).__name__}) does not match C struct {name}: "
                           f"missing {missing or 'none'}, unknown {unknown or 'none'}")
    for cf in c_fields:
        kind = _kind(hints[cf.name])
        v = getattr(value, cf.name)
        here = f"{where}.{cf.name}"
        if cf.pointer:
            if kind != "array" or not isinstance(v, np.ndarray):
                raise EdgekitError(f"internal: {here} is a pointer to {cf.ctype} in C; give a numpy array")
            want = _NUMPY_OF_C.get(cf.ctype)
            if want is None or str(v.dtype) != want:
                raise EdgekitError(f"internal: {here} points to {cf.ctype} in C but the array is {v.dtype}")
        elif cf.ctype in structs:
            if kind != "struct" or not isinstance(v, CStruct) or type(v).c_struct != cf.ctype:
                raise EdgekitError(f"internal: {here} is a {cf.ctype} in C, got {type(v).__name__}")
            check_against_header(v, structs, here)
        elif cf.ctype == "float":
            if kind != "float":
                raise EdgekitError(f"internal: {here} is a float in C but declared {kind} in Python")
        elif cf.ctype in ("int32_t", "int16_t", "int8_t", "uint32_t", "uint8_t"):
            if kind != "int" or isinstance(v, (float, np.floating)):
                raise EdgekitError(f"internal: {here} is an integer in C but got {type(v).__name__}")
        else:
            raise EdgekitError(f"internal: {here} has C type {cf.ctype}, which the emitter does not write")


def check_requant_mode_enum(header_text: str | None = None) -> None:
    """Fail unless :class:`RequantMode` equals the C enum ``ek_rq_mode_t`` member for member."""
    enums = parse_enums(runtime_header() if header_text is None else header_text)
    c_enum = enums.get("ek_rq_mode_t")
    py = {f"EK_RQ_{m.name}": int(m.value) for m in RequantMode}
    if c_enum != py:
        raise EdgekitError(f"internal: RequantMode {py} differs from the C enum ek_rq_mode_t {c_enum}")


def check_class_against_header(cls: type[CStruct], structs: dict[str, list[CField]] | None = None) -> None:
    """Fail unless dataclass `cls` declares the fields of its C struct, of the same kinds (no
    instance needed: this checks the declarations; :func:`check_against_header` checks values)."""
    structs = runtime_structs() if structs is None else structs
    c_fields = structs.get(cls.c_struct)
    if c_fields is None:
        raise EdgekitError(f"internal: {RUNTIME_HEADER} has no struct {cls.c_struct} ({cls.__name__})")
    hints = _hints(cls)
    py_names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    missing = sorted({f.name for f in c_fields} - set(py_names))
    unknown = sorted(set(py_names) - {f.name for f in c_fields})
    if missing or unknown:
        raise EdgekitError(f"internal: {cls.__name__} does not match C struct {cls.c_struct}: "
                           f"missing {missing or 'none'}, unknown {unknown or 'none'}")
    for cf in c_fields:
        kind = _kind(hints[cf.name])
        want = "array" if cf.pointer else "struct" if cf.ctype in structs else "float" if cf.ctype == "float" else "int"
        if kind != want:
            raise EdgekitError(f"internal: {cls.__name__}.{cf.name} is declared {kind}; the C struct holds {want}")
        if kind == "struct" and hints[cf.name].c_struct != cf.ctype:
            raise EdgekitError(f"internal: {cls.__name__}.{cf.name} is a {hints[cf.name].c_struct}, C says {cf.ctype}")
