"""Typed kernel parameters: one frozen dataclass per C parameter struct of the runtime.

Each class mirrors a ``typedef struct {...} name;`` of ``firmware/runtime/ek_runtime.h``
field for field (the class attribute ``c_struct`` names it). Field kinds:

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


def _c_struct(name: str):  # type: ignore[no-untyped-def]
    def deco(cls: type) -> type:
        cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
        cls.c_struct = name  # type: ignore[attr-defined]
        return cls

    return deco


# ---------------------------------------------------------------------------------------------
# shared sub-structs


@_c_struct("ek_mult_t")
class Multiplier(CStruct):
    """A quantized multiplier ``multiplier · 2^(shift − 31)`` (TFLM's QuantizeMultiplier)."""

    multiplier: int
    shift: int


@_c_struct("ek_conv_geom_t")
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


@_c_struct("ek_requant_t")
class Requant(CStruct):
    """Per-channel requantization of int32 accumulators to int8, then the activation clamp."""

    output_offset: int
    act_min: int
    act_max: int
    mult: np.ndarray  # int32 [channels]
    shift: np.ndarray  # int32 [channels]


@_c_struct("ek_broadcast_t")
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


@_c_struct("ek_add_arith_t")
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
# kernel parameter structs


@_c_struct("ek_conv2d_params_t")
class Conv2DParams(KernelParams):
    geom: ConvGeometry
    filter_in_c: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@_c_struct("ek_dwconv2d_params_t")
class DepthwiseConv2DParams(KernelParams):
    geom: ConvGeometry
    depth_multiplier: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@_c_struct("ek_conv2d_gemm_params_t")
class Conv2DGemmParams(KernelParams):
    geom: ConvGeometry
    k4: int
    pad_value: int
    requant_small: int
    rq_mode: int  # a RequantMode
    rq: Requant
    triples: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    fuse_add: int
    add: AddArith


@_c_struct("ek_dwconv2d_fast_params_t")
class DepthwiseConv2DFastParams(KernelParams):
    geom: ConvGeometry
    input_offset: int
    requant_small: int
    rq_mode: int  # a RequantMode
    rq: Requant
    triples: np.ndarray
    weights: np.ndarray
    bias: np.ndarray


@_c_struct("ek_fully_connected_params_t")
class FullyConnectedParams(KernelParams):
    batches: int
    accum_depth: int
    out_c: int
    per_channel: int
    input_offset: int
    rq: Requant
    weights: np.ndarray
    bias: np.ndarray


@_c_struct("ek_add_params_t")
class AddParams(KernelParams):
    bc: Broadcast
    arith: AddArith


@_c_struct("ek_mul_params_t")
class MulParams(KernelParams):
    bc: Broadcast
    input1_offset: int
    input2_offset: int
    output_offset: int
    output: Multiplier
    act_min: int
    act_max: int


@_c_struct("ek_pool_params_t")
class PoolParams(KernelParams):
    geom: ConvGeometry
    act_min: int
    act_max: int


@_c_struct("ek_softmax_params_t")
class SoftmaxParams(KernelParams):
    outer: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


@_c_struct("ek_logistic_params_t")
class LogisticParams(KernelParams):
    size: int
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


@_c_struct("ek_mean_params_t")
class MeanParams(KernelParams):
    num_kept: int
    num_red: int
    kept_dims: np.ndarray
    kept_strides: np.ndarray
    red_dims: np.ndarray
    red_strides: np.ndarray
    num_elements: int
    input_zero_point: int
    output_zero_point: int
    rescale: Multiplier


@_c_struct("ek_pad_params_t")
class PadParams(KernelParams):
    rank: int
    in_dims: np.ndarray
    out_dims: np.ndarray
    pad_before: np.ndarray
    pad_value: int


@_c_struct("ek_concat_params_t")
class ConcatParams(KernelParams):
    num_inputs: int
    outer: int
    out_row_bytes: int
    in_row_bytes: np.ndarray


@_c_struct("ek_quantize_f32_params_t")
class QuantizeF32Params(KernelParams):
    size: int
    scale: float
    zero_point: int


@_c_struct("ek_requantize_params_t")
class RequantizeParams(KernelParams):
    size: int
    input_zero_point: int
    output_zero_point: int
    rescale: Multiplier
    act_min: int
    act_max: int


@_c_struct("ek_dequantize_params_t")
class DequantizeParams(KernelParams):
    size: int
    scale: float
    zero_point: int


@_c_struct("ek_clamp_params_t")
class ClampParams(KernelParams):
    size: int
    lower: int
    upper: int


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
    return (resource_dir("firmware") / "runtime" / RUNTIME_HEADER).read_text()


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
