"""Model analysis: parameters, MACs, weight and arena bytes, a per-layer table, board fit."""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import UnsupportedOpError
from edgekit.ir.graph import DTYPE_BYTES, SUB_BYTE_BITS, Graph, Node
from edgekit.lower import LoweredModel, LoweredNode, lower_graph, lower_node
from edgekit.ops.registry import KernelCall, bytes_moved, get_op
from edgekit.plan.memory import MemoryPlan, plan_memory


@dataclass
class LayerRow:
    index: int
    op: str
    inputs: list[list[int]]
    output: list[int]
    macs: int
    bytes_moved: int
    live_bytes: int
    bitops: int = 0  # MACs × weight bits × activation bits (activation bits squared without weights)


@dataclass
class Analysis:
    name: str
    quantized: bool
    params: int
    macs: int
    weights_bytes: int
    arena_bytes: int
    arena_lower_bound: int
    layers: list[LayerRow]
    lowered: bool  # every layer lowers to a C kernel (False: arena is an estimate from shapes)
    unsupported: list[str]
    precision: str = "int8"  # the kernels it was lowered onto (edgekit.lower.PRECISIONS)
    bitops: int = 0  # the sum over layers (QuantMCU's cost measure)

    def to_json(self) -> dict:
        data = {
            "name": self.name, "quantized": self.quantized, "params": self.params, "macs": self.macs,
            "weights_bytes": self.weights_bytes, "arena_bytes": self.arena_bytes,
            "arena_lower_bound": self.arena_lower_bound, "bitops": self.bitops, "kernels_available": self.lowered,
            "unsupported": self.unsupported,
            "layers": [row.__dict__ for row in self.layers],
        }
        if self.precision != "int8":  # int8 reports stay as they were
            data["precision"] = self.precision
        return data


def _planning_model(graph: Graph, precision: str = "int8") -> tuple[LoweredModel, list[str]]:
    """The model as it is generated (fusions included) when every op lowers; otherwise lower what
    lowers and give other nodes a generic call so the planner can still size the arena."""
    try:
        return lower_graph(graph, precision), []
    except UnsupportedOpError:
        pass
    layers = []
    unsupported = []
    for node in graph.nodes:
        call = None
        try:
            if get_op(node).lower is not None:
                call = lower_node(graph, node, precision)
        except UnsupportedOpError as err:
            unsupported.append(str(err))
        if call is None:  # a stand-in that reads the node's activations and writes its outputs
            call = KernelCall(func="", params=None, inputs=graph.activation_inputs(node), outputs=list(node.outputs))
        layers.append(LoweredNode(node=node, call=call))
    return LoweredModel(graph=graph, layers=layers), unsupported


def _bits(dtype: str) -> int:
    return SUB_BYTE_BITS.get(dtype) or 8 * DTYPE_BYTES.get(dtype, 1)


def layer_bitops(graph: Graph, node: Node, macs: int) -> int:
    """BitOPs of a node: MACs × weight bits × input activation bits (a node without a weight tensor:
    activation bits × activation bits), the cost measure of mixed-precision papers (QuantMCU)."""
    acts = graph.activation_inputs(node)
    a_bits = _bits(graph.tensors[acts[0]].dtype) if acts else 8
    try:
        has_weights = get_op(node).quant.weight_axis is not None  # input 1 is a weight tensor
    except UnsupportedOpError:
        return 0
    weights = [t for t in node.inputs[1:2] if has_weights and t >= 0 and graph.tensors[t].is_const]
    w_bits = _bits(graph.tensors[weights[0]].dtype) if weights else a_bits
    return int(macs) * w_bits * a_bits


def analyze_graph(graph: Graph, precision: str = "int8", input_in_place: bool = False) -> tuple[Analysis, MemoryPlan]:
    """The analysis of `graph` as generated in `precision` (``int8``, or ``float32`` for a float
    model lowered onto the float32 kernels); `input_in_place`: a patch-based graph, whose code reads
    the model input where the caller holds it."""
    model, unsupported = _planning_model(graph, precision)
    model.input_in_place = input_in_place
    plan = plan_memory(model)
    rows = []
    total_macs = 0
    for step, layer in enumerate(model.layers):
        node = layer.node
        try:
            macs = get_op(node).macs(graph, node)
        except UnsupportedOpError:
            macs = 0
        total_macs += macs
        bitops = layer_bitops(graph, node, macs)
        for fused in layer.fused:
            fm = get_op(fused).macs(graph, fused)
            macs += fm
            bitops += layer_bitops(graph, fused, fm)
        total_macs += sum(get_op(f).macs(graph, f) for f in layer.fused)
        rows.append(LayerRow(
            index=node.index, op=layer.label.replace(f"#{node.index}", ""),
            inputs=[list(graph.tensors[i].shape) for i in graph.activation_inputs(node)],
            output=list(graph.tensors[node.outputs[0]].shape) if node.outputs else [],
            macs=macs, bytes_moved=bytes_moved(graph, node), live_bytes=plan.live_bytes[step], bitops=bitops,
        ))
    analysis = Analysis(
        name=graph.name, quantized=graph.is_quantized, params=graph.params(), macs=total_macs,
        weights_bytes=graph.weights_bytes(), arena_bytes=plan.arena_bytes, arena_lower_bound=plan.lower_bound,
        layers=rows, lowered=not unsupported, unsupported=unsupported, precision=precision,
        bitops=sum(r.bitops for r in rows),
    )
    return analysis, plan


def format_analysis(a: Analysis) -> str:
    lines = [
        f"model {a.name} ({'int8' if a.quantized else 'float'}"
        f"{', float32 kernels' if a.precision == 'float32' else ''})",
        f"  params        {a.params:>12,}",
        f"  MACs          {a.macs:>12,}",
        f"  weights       {a.weights_bytes:>12,} B",
        f"  arena         {a.arena_bytes:>12,} B  (lower bound {a.arena_lower_bound:,} B)",
    ]
    if not a.lowered and not a.quantized and a.precision == "int8":
        lines.append("  note: a float model; edgekit's C kernels are int8: `edgekit quantize MODEL --calib DATA -o "
                     "OUT.tflite` makes it deployable. The arena above is for float32 activations.")
    elif not a.lowered:
        lines.append(f"  note: {len(a.unsupported)} layer(s) have no C kernel yet; the arena is estimated from shapes")
        lines += [f"    - {u}" for u in a.unsupported[:5]]
        if len(a.unsupported) > 5:
            lines.append(f"    - ... and {len(a.unsupported) - 5} more")
    lines.append("")
    lines.append(f"  {'#':>3}  {'op':<20} {'input shapes':<28} {'output':<18} {'MACs':>12} {'live B':>9}")
    for r in a.layers:
        ins = " ".join("x".join(map(str, s)) for s in r.inputs)
        out = "x".join(map(str, r.output))
        lines.append(f"  {r.index:>3}  {r.op:<20} {ins:<28} {out:<18} {r.macs:>12,} {r.live_bytes:>9,}")
    return "\n".join(lines)
