"""The graph IR: tensors, nodes and the graph that holds them.

One IR for float and quantized models. Node op names are TFLite builtin operator names
("CONV_2D", "FULLY_CONNECTED", ...); each has one registry entry (:mod:`edgekit.ir.registry`).
Activation layout is NHWC as in TFLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Bytes per element of every tensor type with a fixed size (TFLite's TensorType, lower case).
DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
               "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "complex64": 8, "complex128": 16,
               "float8_e4m3fn": 1, "float8_e5m2": 1, "bool": 1}
#: Bits per element of the packed sub-byte types (a tensor of n elements holds ceil(bits·n / 8) bytes).
SUB_BYTE_BITS = {"int4": 4, "uint4": 4, "int2": 2}
#: Tensor types edgekit's C kernels read and write (the emitter's EK_DTYPE_* and the host's I/O
#: types); lowering refuses a node with an activation of any other type.
KERNEL_DTYPES = ("int8", "uint8", "int16", "int32", "float32")


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point), per tensor or along `axis`."""

    scale: np.ndarray  # float32, 1 value per tensor or per channel
    zero_point: np.ndarray  # int64, same length as scale
    axis: int = 0

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1

    @property
    def scalar_scale(self) -> float:
        return float(self.scale.reshape(-1)[0])

    @property
    def scalar_zero_point(self) -> int:
        return int(self.zero_point.reshape(-1)[0])


@dataclass
class Tensor:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None  # constant (weights, bias, shape operands)
    quant: QuantParams | None = None
    is_variable: bool = False  # a state tensor (LSTM, SVDF): kept between invocations, not computed by a node

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        if self.dtype in SUB_BYTE_BITS:
            return -(-self.numel * SUB_BYTE_BITS[self.dtype] // 8)
        return self.numel * DTYPE_BYTES[self.dtype]


@dataclass
class Node:
    index: int
    op: str
    inputs: list[int]  # tensor ids; -1 marks an omitted optional input
    outputs: list[int]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.op}#{self.index}"


@dataclass
class Graph:
    tensors: list[Tensor]
    nodes: list[Node]
    inputs: list[int]
    outputs: list[int]
    name: str = "model"
    source_hash: int = 0  # FNV-1a 32 of the source file
    description: str = ""  # free text from the source file (edgekit stores its deployment JSON here)

    def tensor(self, tid: int) -> Tensor:
        return self.tensors[tid]

    def node_inputs(self, node: Node) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in node.inputs]

    def node_outputs(self, node: Node) -> list[Tensor]:
        return [self.tensors[i] for i in node.outputs]

    def activation_inputs(self, node: Node) -> list[int]:
        """Input tensor ids of `node` computed by the graph: neither constants nor state tensors."""
        return [i for i in node.inputs if i >= 0 and not self.tensors[i].is_const and not self.tensors[i].is_variable]

    @property
    def is_quantized(self) -> bool:
        """True when every graph input and output is an integer tensor."""
        return all(self.tensors[i].dtype in ("int8", "uint8", "int16") for i in self.inputs + self.outputs)

    def weights_bytes(self) -> int:
        used = {i for n in self.nodes for i in n.inputs if i >= 0}
        return sum(self.tensors[i].nbytes for i in used if self.tensors[i].is_const)

    def params(self) -> int:
        """Number of parameters: elements of constant float/weight tensors feeding nodes (not shapes)."""
        used = {i for n in self.nodes for i in n.inputs if i >= 0}
        return sum(
            self.tensors[i].numel
            for i in used
            if self.tensors[i].is_const and self.tensors[i].dtype not in ("int64",) and len(self.tensors[i].shape) > 0
            and not _is_shape_operand(self, i)
        )


def _is_shape_operand(graph: Graph, tid: int) -> bool:
    for node in graph.nodes:
        if tid in node.inputs and node.op in ("RESHAPE", "PAD", "MEAN", "SQUEEZE", "TRANSPOSE", "CONCATENATION"):
            if node.inputs.index(tid) > 0:
                return True
    return False


def fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h
