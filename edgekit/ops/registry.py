"""The op registry: one :class:`OpDef` per op (contract 1 of DESIGN.md, "one op, one place").

An op module in :mod:`edgekit.ops` holds every fact about its op and registers one entry:

* ``infer_shapes`` and ``macs`` (the cost convention is in :mod:`edgekit.ops._util`);
* ``run_float``: its float semantics, run in torch by the float executor
  (:mod:`edgekit.quant.float_exec`) for calibration and float accuracy;
* ``quant``: how post-training quantization treats it (:class:`QuantRule`);
* ``lower``: its integer parameter recipe (TFLM's Prepare()) and the C kernel call it lowers to;
* ``run_int``: its exact integer semantics in int64 numpy (the Python integer reference the C
  kernel must agree with bit for bit; run by :mod:`edgekit.quant.int_exec`);
* ``custom``: the op is not a TFLite builtin: a quantized file stores it as a CUSTOM operator
  with this name as its custom code and its attributes as flexbuffer custom options;
* ``tflite_version``: the builtin operator version the TFLite converter records for it.

Front ends only map their layer/function names onto these op names; the quantizer, the
exporter and the code generator look everything else up here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import Graph, Node

if TYPE_CHECKING:
    from edgekit.ops.params import KernelParams


@dataclass
class KernelCall:
    """One call of a C runtime kernel, produced by lowering one node.

    The C function has the signature
    ``void func(const params_type *p, const void *const *inputs, void *const *outputs, void *scratch)``.
    `params` is the typed parameter struct (:class:`edgekit.ops.params.KernelParams`), checked
    against the C struct of the same name when the library is emitted.
    """

    func: str
    params: KernelParams | None
    inputs: list[int]  # activation tensor ids, passed in order as `inputs[]`
    outputs: list[int]
    scratch_bytes: int = 0
    # positions in `inputs` whose buffer the output may share exactly (in-place op)
    may_alias_input: tuple[int, ...] = ()
    # the output may take an aliased input's buffer when it is smaller (not only of equal size)
    may_alias_smaller: bool = False
    # when True the op is a pure view (reshape/squeeze): output shares the input buffer, no call
    is_view: bool = False
    runtime_sources: tuple[str, ...] = ()  # file names in firmware/runtime this call needs

    @property
    def params_type(self) -> str:
        return "" if self.params is None else self.params.c_struct

    @classmethod
    def view(cls, x: int, y: int) -> KernelCall:
        """A view: the output is the input's buffer read with another shape (no call)."""
        return cls(func="", params=None, inputs=[x], outputs=[y], is_view=True)


#: Shared output quantization: every activation input and the output get one (scale, zp).
SHARED = "shared"
#: The op's output gets its own calibrated quantization.
OWN = "own"


@dataclass(frozen=True)
class QuantRule:
    """How post-training quantization (TFLite's int8 scheme) treats an op.

    ``int8``: PTQ may quantize it (it lowers onto an int8 kernel). ``output``: :data:`OWN`
    (calibrated), :data:`SHARED` (inputs and output share one quantization, the union of their
    ranges) or a fixed ``(scale, zero_point)``. ``weight_axis``: input 1 is a constant weight
    tensor quantized symmetrically per channel along this axis (input 2 is then the int32 bias);
    ``per_tensor_weights``: the weights may be quantized per tensor instead (``--per-tensor-fc``).
    ``activation_operands``: constant float operands are quantized like activations (per-tensor
    int8), not kept as integer operands (shapes, axes). ``fuses_activation``: a standalone
    RELU/RELU6 after it folds into its ``fused_activation_function``.
    """

    int8: bool = False
    output: str | tuple[float, int] = OWN
    weight_axis: int | None = None
    per_tensor_weights: bool = False
    activation_operands: bool = False
    fuses_activation: bool = False
    fusable_as: str | None = None


NOT_QUANTIZABLE = QuantRule()

ShapeFn = Callable[[Graph, Node], list[tuple[int, ...]]]
MacsFn = Callable[[Graph, Node], int]
FloatFn = Callable[[Any, Node, list], list]
LowerFn = Callable[[Graph, Node], KernelCall]
#: fn(graph, node, activation inputs as numpy arrays (batch first), in node order, None for
#: constants and omitted inputs) -> outputs (numpy arrays of the output dtypes)
IntFn = Callable[[Graph, Node, list], list]
VersionFn = Callable[[Node, str | None], int]
#: fn(graph, node) -> the node's sliding window as a convolution geometry (``ConvGeometry``:
#: kernel, stride, dilation, leading pads) for patch-based inference (:mod:`edgekit.patch`)
WindowFn = Callable[[Graph, Node], Any]


def versions(by_dtype: Mapping[str, int], default: int = 1) -> VersionFn:
    """A ``tflite_version`` from a table {input dtype: version}."""
    table = dict(by_dtype)
    return lambda node, dtype: table.get(dtype or "", default)


@dataclass(frozen=True)
class OpDef:
    name: str
    infer_shapes: ShapeFn
    macs: MacsFn
    run_float: FloatFn | None = None  # fn(executor, node, args) -> outputs (torch tensors)
    quant: QuantRule = NOT_QUANTIZABLE
    lower: LowerFn | None = None
    tflite_version: VersionFn = field(default=lambda node, dtype: 1)
    doc: str = ""
    run_int: IntFn | None = None
    custom: bool = False
    #: Patch-based inference (:mod:`edgekit.patch`): a spatial window op gives its geometry (a tile
    #: of it is the same op with explicit pads and output size, the ``explicit_window`` attribute);
    #: a pointwise op (every output pixel from the same pixel of each input) runs on a tile as it is.
    patch_window: WindowFn | None = None
    patch_pointwise: bool = False
    #: Its window's padding reads as the input zero point (convolutions: a padded tap adds 0), so a
    #: PAD with that value before it folds into explicit pads (:func:`edgekit.lower.fold_pads`).
    zero_point_padding: bool = False


_REGISTRY: dict[str, OpDef] = {}
_LOADED = False
_INFRASTRUCTURE = {"registry", "params"}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name} registered twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def _load_all() -> None:
    """Import every op module of :mod:`edgekit.ops` (each registers its ops)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import edgekit.ops as ops_pkg

    for mod in pkgutil.iter_modules(ops_pkg.__path__):
        if not mod.name.startswith("_") and mod.name not in _INFRASTRUCTURE:
            importlib.import_module(f"edgekit.ops.{mod.name}")


def supported_ops() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def lookup(name: str) -> OpDef | None:
    """The entry of op `name`, or None when edgekit does not know it."""
    _load_all()
    return _REGISTRY.get(name)


def get_op(node: Node) -> OpDef:
    opdef = lookup(node.op)
    if opdef is None:
        raise UnsupportedOpError(
            f"unsupported op {node.op} at node {node.index}; edgekit supports: {', '.join(supported_ops())}"
        )
    return opdef


def quantizable_ops() -> list[str]:
    """Ops post-training quantization can make int8 (they lower onto int8 kernels)."""
    _load_all()
    return sorted(name for name, d in _REGISTRY.items() if d.quant.int8)


def bytes_moved(graph: Graph, node: Node) -> int:
    """Bytes read and written by a node: all its inputs (weights included) and outputs."""
    total = sum(graph.tensors[i].nbytes for i in node.inputs if i >= 0)
    return total + sum(graph.tensors[i].nbytes for i in node.outputs)
