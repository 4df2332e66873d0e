"""Lowering: every IR node becomes a :class:`KernelCall` of the C runtime (or a view)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import KERNEL_DTYPES, Graph, Node
from edgekit.ops._f32 import is_float32
from edgekit.ops.conv_2d import Conv2DGemmParams
from edgekit.ops.params import AddParams
from edgekit.ops.registry import KernelCall, get_op


@dataclass
class LoweredNode:
    node: Node
    call: KernelCall
    fused: tuple[Node, ...] = ()  # nodes folded into this call (e.g. a residual ADD)

    @property
    def label(self) -> str:
        return "+".join([self.node.label] + [n.label for n in self.fused])


@dataclass
class LoweredModel:
    graph: Graph
    layers: list[LoweredNode]
    #: The generated code reads the model input where the caller holds it (the `input` argument of
    #: ``run``), not from a copy in the arena: patch-based models, whose first stage reads the input
    #: patch after patch (:mod:`edgekit.patch`). No kernel may then write over the input.
    input_in_place: bool = False

    @property
    def runtime_sources(self) -> list[str]:
        names: set[str] = set()
        for layer in self.layers:
            names.update(layer.call.runtime_sources)
        return sorted(names)


#: What a generated library computes in: ``int8`` (a quantized model; float32 nodes are refused
#: except views) or ``float32`` (a float model lowered as it is, onto the float32 kernels).
PRECISIONS = ("int8", "float32")


def lower_graph(graph: Graph, precision: str = "int8") -> LoweredModel:
    """Lower every node; the first unsupported op raises with its name and node index.

    Refused first: a model with nothing to compute, more than one input or output, a model
    input/output with a scale that is not positive and finite, and (per node) an activation of a
    type the C kernels do not take (:data:`KERNEL_DTYPES`). With ``precision="float32"`` the
    model must be a float model (float32 input and output); with ``"int8"`` (the default) a node
    computing in float32 is refused (:func:`lower_node`)."""
    if precision not in PRECISIONS:
        raise UnsupportedOpError(f"precision {precision!r}; edgekit generates {' or '.join(PRECISIONS)} libraries")
    if not graph.nodes:
        raise UnsupportedOpError("the model has no operators; edgekit generates code for a model that computes "
                                 "its output from its input: export the model with its layers")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedOpError(
            f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "edgekit generates code for single-input, single-output models"
        )
    if graph.outputs[0] in graph.inputs:
        raise UnsupportedOpError(f"the model's output is its input (tensor '{graph.tensors[graph.outputs[0]].name}'),"
                                 " no operator computes it; export the model with its layers")
    for what, tid in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        t = graph.tensors[tid]
        scales = np.asarray(t.quant.scale if t.quant is not None else [1.0], dtype=np.float64).reshape(-1)
        bad = scales[~(np.isfinite(scales) & (scales > 0))]
        if bad.size:
            raise UnsupportedOpError(f"{what} tensor '{t.name}' has quantization scale "
                                     f"{float(np.float32(bad[0])):g}; re-convert the model")
    if precision == "float32":
        check_float_model(graph)
    else:
        graph = fold_pads(graph)
    layers = [LoweredNode(node=node, call=lower_node(graph, node, precision)) for node in graph.nodes]
    return LoweredModel(graph=graph, layers=fuse_residual_adds(graph, layers))


def fold_pads(graph: Graph) -> Graph:
    """Fold ``PAD`` (H and W only, the pad value = the input zero point) into the VALID convolution
    that alone reads it: the convolution gets explicit leading pads (``explicit_window``) and reads
    taps beyond its input as the zero point, which is what the PAD wrote; the padded copy is never
    made (PyTorch's symmetric padding of a strided convolution arrives as PAD + VALID). Bit-exact:
    the same taps, the same values. The folded graph shares the tensors; PAD nodes disappear."""
    readers: dict[int, list[Node]] = {}
    for node in graph.nodes:
        for t in node.inputs:
            readers.setdefault(t, []).append(node)
    folded: dict[int, Node] = {}  # conv index → the rewritten conv
    dropped: set[int] = set()
    for node in graph.nodes:
        if node.op not in ("PAD", "PADV2") or len(node.outputs) != 1 or node.outputs[0] in graph.outputs:
            continue
        users = readers.get(node.outputs[0], [])
        if len(users) != 1 or users[0].index in folded:
            continue
        conv = users[0]
        opdef = get_op(conv)
        if (not opdef.zero_point_padding or opdef.patch_window is None or conv.inputs[0] != node.outputs[0]
                or str(conv.attrs.get("padding", "SAME")) != "VALID" or "explicit_window" in conv.attrs):
            continue
        try:
            p = get_op(node).lower(graph, node).params  # type: ignore[misc]
        except UnsupportedOpError:
            continue
        x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
        before = [int(v) for v in getattr(p, "pad_before", [])]
        if (len(x.shape) != 4 or len(before) != 4 or before[0] or before[3] or x.quant is None or y.quant is None
                or x.shape[0] != y.shape[0] or x.shape[3] != y.shape[3]
                or int(getattr(p, "pad_value", 1 << 20)) != y.quant.scalar_zero_point
                or not np.array_equal(np.asarray(x.quant.scale), np.asarray(y.quant.scale))
                or not np.array_equal(np.asarray(x.quant.zero_point), np.asarray(y.quant.zero_point))):
            continue
        out = graph.tensors[conv.outputs[0]]
        folded[conv.index] = Node(index=conv.index, op=conv.op, inputs=[node.inputs[0]] + conv.inputs[1:],
                                  outputs=list(conv.outputs),
                                  attrs={**conv.attrs, "explicit_window": (before[1], before[2], out.shape[1],
                                                                          out.shape[2])})
        dropped.add(node.index)
    if not folded:
        return graph
    nodes = [folded.get(n.index, n) for n in graph.nodes if n.index not in dropped]
    return dataclasses.replace(graph, nodes=nodes)


def check_float_model(graph: Graph) -> None:
    """``--precision float32`` lowers float models: the input and output must be float32."""
    for what, tid in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        t = graph.tensors[tid]
        if t.dtype != "float32":
            raise UnsupportedOpError(f"--precision float32 runs float models, but the model's {what} '{t.name}' is "
                                     f"{t.dtype}: give the float model, or drop --precision float32 for a "
                                     "quantized one")


def lower_node(graph: Graph, node: Node, precision: str = "int8") -> KernelCall:
    """One node → its kernel call (the op's ``lower`` dispatches on the tensor dtype).

    In ``int8`` precision a float32 node (:func:`edgekit.ops._f32.is_float32`) is refused unless it
    lowers to a view, as before float32 kernels existed: a float model must be quantized, or
    generated with ``precision="float32"``."""
    opdef = get_op(node)
    if opdef.lower is None:
        raise UnsupportedOpError(f"op {node.op} at node {node.index} has no C kernel yet")
    check_kernel_dtypes(graph, node)
    if precision == "float32" or not is_float32(graph, node):
        return opdef.lower(graph, node)
    try:
        call = opdef.lower(graph, node)
    except UnsupportedOpError:
        call = None
    if call is None or not call.is_view:
        acts = graph.activation_inputs(node) or list(node.outputs)
        name = graph.tensors[acts[0]].name
        raise UnsupportedOpError(f"{node.op} at node {node.index}: tensor '{name}' is float32; edgekit's int8 "
                                 "kernels take int8 here (float32 kernels run with --precision float32)")
    return call


def check_kernel_dtypes(graph: Graph, node: Node) -> None:
    """Every activation `node` reads or writes has a type the C kernels take."""
    for tid in graph.activation_inputs(node) + node.outputs:
        t = graph.tensors[tid]
        if t.dtype not in KERNEL_DTYPES:
            raise UnsupportedOpError(
                f"unsupported type {t.dtype} at node {node.index} ({node.op}): tensor '{t.name}'; edgekit's "
                f"kernels take {'/'.join(KERNEL_DTYPES)} activations: convert the model to int8")


def fuse_residual_adds(graph: Graph, layers: list[LoweredNode]) -> list[LoweredNode]:
    """Fold ``ADD(conv(x), r)`` into the GEMM convolution that produces its operand.

    Legal when the conv output feeds only that ADD (and is not a graph output), both operands
    are int8 activations of the same shape (no broadcast, no constant) and `r` is computed before
    the conv. The fused call writes the ADD's output and may overwrite `r` (the planner does it
    when `r` dies there): the residual block then needs no third buffer.
    """
    readers: dict[int, int] = {}
    for lay in layers:
        for t in lay.call.inputs:
            readers[t] = readers.get(t, 0) + 1
    producer = {t: i for i, lay in enumerate(layers) for t in lay.call.outputs}
    out: list[LoweredNode | None] = list(layers)
    for k, lay in enumerate(layers):
        call = lay.call
        add = call.params
        if lay.node.op != "ADD" or not isinstance(add, AddParams) or len(call.inputs) != 2 or add.bc.broadcast:
            continue
        for pos in (0, 1):
            t, r = call.inputs[pos], call.inputs[1 - pos]
            j = producer.get(t)
            if j is None or out[j] is None or t == r:
                continue
            conv = out[j]
            assert conv is not None
            cp = conv.call.params
            if (not isinstance(cp, Conv2DGemmParams) or cp.fuse_add or readers.get(t) != 1
                    or t in graph.outputs or len(conv.call.outputs) != 1):
                continue
            rj = producer.get(r, -1)
            if rj >= j or any(k2 > j and k2 < k and r in layers[k2].call.inputs for k2 in range(len(layers))):
                continue
            if tuple(graph.tensors[t].shape) != tuple(graph.tensors[r].shape):
                continue
            # the conv result is the fused ADD's input 1 (ADD is symmetric: swap when it was input 2)
            arith = add.arith if pos == 0 else add.arith.swapped()
            if arith.left_shift > 20 or any(m.shift > 0 for m in (arith.input1, arith.input2, arith.output)):
                continue  # the kernel's fast requantization needs shifts <= 0 (always so for ADD)
            new_call = dataclasses.replace(
                conv.call, params=dataclasses.replace(cp, fuse_add=1, add=arith), inputs=[conv.call.inputs[0], r],
                outputs=list(call.outputs),
                # never over the conv's own input: other pixels still read it
                may_alias_input=() if r in conv.call.inputs else (1,))
            out[j] = LoweredNode(node=conv.node, call=new_call, fused=conv.fused + (lay.node,))
            out[k] = None
            break
    return [lay for lay in out if lay is not None]
