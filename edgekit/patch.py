"""Patch-based inference (MCUNetV2 / TinyEngine): the first stage of a CNN, one spatial patch at a time.

The memory-hungry first stage (the first nodes, up to a *split* node) is computed for each patch of
an ``n × n`` grid over the split node's output, end to end from the patch's receptive field, and each
patch's output tile is pasted into the full stage-1 map (``EK_PATCH_PASTE``); stage 2 then runs layer
by layer on that map. Peak SRAM drops because only one patch's tiles are alive at a time; the halo
the patches share is computed again (the recompute overhead, reported in MACs).

This is a graph rewrite, so lowering, planning, emitting and the integer reference treat the patch
stage like any other graph: a tile of a window op (convolution, depthwise, pooling: ``OpDef.
patch_window``) is the same op with an explicit window (``explicit_window`` attribute: the leading pads
relative to its input tile, negative when the tile starts inside its input, and the tile's output
size), so inside the image its convolutions are "valid" and only tiles on the image border pad, with
the input zero point, exactly as the layer-by-layer kernel does; hence the patch model is bit-exact
with the layer-by-layer one. A pointwise op (``OpDef.patch_pointwise``: ADD, activations) runs on a
tile as it is; where its operand tile is larger than its output (a residual's skip path, which
another consumer needs with a halo) a STRIDED_SLICE crops it. The first stage reads the model input
directly (the first window op's tile reads the full input with a negative pad): no input tile copy.

Regions are found backwards (TinyEngine's receptive-field walk, generalized to branches): a tensor's
region in a patch is the union of what its consumers read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.ir.graph import Graph, Node, Tensor
from edgekit.lower import LoweredModel, fold_pads, lower_graph
from edgekit.ops.depthwise_conv_2d import IN_PLACE, in_place_legal
from edgekit.ops.registry import get_op
from edgekit.plan.memory import plan_memory

PASTE = "EK_PATCH_PASTE"
_SPEC_RE = re.compile(r"^(\d+)x(\d+)@(\d+)$")
MAX_GRID = 8


@dataclass(frozen=True)
class PatchSpec:
    """An ``grid × grid`` patch grid over the output of node `split` (its index in the graph)."""

    grid: int
    split: int

    def __str__(self) -> str:
        return f"{self.grid}x{self.grid}@{self.split}"


@dataclass
class PatchPlan:
    spec: PatchSpec
    graph: Graph  # the rewritten graph (patch stage + paste + stage 2)
    stage_nodes: int  # nodes in stage 1 (per patch, before the crops)
    split_shape: tuple[int, ...]
    patch_regions: list[tuple[int, int, int, int]]  # (y0, y1, x0, x1) of each patch in the split map
    macs_layer_by_layer: int
    macs_patched: int
    stage_macs_layer_by_layer: int
    stage_macs_patched: int
    tile_bytes: list[int] = field(default_factory=list)  # per patch: bytes of its stage-1 tiles
    arena_bytes: int = 0  # filled by the caller that planned it
    inplace_nodes: list[int] = field(default_factory=list)  # depthwise nodes written over their input

    @property
    def recompute_macs(self) -> int:
        return self.macs_patched - self.macs_layer_by_layer

    def to_json(self) -> dict:
        return {"spec": str(self.spec), "grid": self.spec.grid, "split_node": self.spec.split,
                "stage_nodes": self.stage_nodes, "split_shape": list(self.split_shape),
                "patch_regions": [list(r) for r in self.patch_regions],
                "macs_layer_by_layer": self.macs_layer_by_layer, "macs_patched": self.macs_patched,
                "recompute_macs": self.recompute_macs,
                "stage_macs_layer_by_layer": self.stage_macs_layer_by_layer,
                "stage_macs_patched": self.stage_macs_patched,
                "max_patch_tile_bytes": max(self.tile_bytes, default=0), "arena_bytes": self.arena_bytes,
                "inplace_depthwise_nodes": list(self.inplace_nodes)}


def parse_patch(text: str | None) -> str | PatchSpec:
    """``--patch``: ``off`` (default), ``auto``, or ``GRIDxGRID@LAYER`` (LAYER: the split node's index,
    the ``#`` column of ``edgekit analyze``)."""
    value = (text or "off").strip().lower()
    if value in ("off", "auto"):
        return value
    m = _SPEC_RE.match(value)
    if m is None or m.group(1) != m.group(2):
        raise EdgekitError(f"--patch {text!r}: use off, auto, or GRIDxGRID@LAYER (a square grid after node LAYER, "
                           "e.g. 3x3@5; `edgekit analyze MODEL` numbers the nodes)")
    grid, split = int(m.group(1)), int(m.group(3))
    if not 2 <= grid <= MAX_GRID:
        raise EdgekitError(f"--patch {text!r}: the grid is 2x2 to {MAX_GRID}x{MAX_GRID}")
    return PatchSpec(grid=grid, split=split)


# ---- which nodes a patch stage can hold ---------------------------------------------------------


def _is_map(t: Tensor) -> bool:
    return len(t.shape) == 4 and t.shape[0] == 1


def _stage_op(graph: Graph, node: Node) -> str | None:
    """Why `node` cannot be in a patch stage, or None when it can."""
    opdef = get_op(node)
    outs = [graph.tensors[t] for t in node.outputs]
    acts = [graph.tensors[t] for t in graph.activation_inputs(node)]
    if len(outs) != 1 or not _is_map(outs[0]) or not acts or not all(_is_map(t) for t in acts):
        return f"{node.label} does not map 4-D, batch-1 feature maps"
    if opdef.patch_window is not None:
        return None if len(acts) == 1 else f"{node.label} reads {len(acts)} feature maps"
    if opdef.patch_pointwise:
        consts = [i for i in node.inputs if i >= 0 and graph.tensors[i].is_const]
        if consts or any(tuple(t.shape) != tuple(outs[0].shape) for t in acts):
            return f"{node.label} broadcasts"
        return None
    return f"{node.op} is neither a window nor a pointwise op"


def candidate_splits(graph: Graph) -> list[int]:
    """Node indices (``Node.index``, the ``#`` of ``edgekit analyze``) after which the graph can be
    cut into a patch stage and the rest: every node up to it can run on tiles, and the only feature
    map that crosses the cut is its output. PADs before convolutions are folded first
    (:func:`edgekit.lower.fold_pads`)."""
    graph = fold_pads(graph)
    out: list[int] = []
    produced: set[int] = set()
    for k, node in enumerate(graph.nodes):
        if _stage_op(graph, node) is not None:
            break
        produced.update(node.outputs)
        split_t = node.outputs[0]
        crossing = {t for later in graph.nodes[k + 1:] for t in later.inputs if t in produced or t in graph.inputs}
        h, w = graph.tensors[split_t].shape[1:3]
        if crossing == {split_t} and split_t not in graph.outputs and min(h, w) >= 2:
            out.append(node.index)
    return out


# ---- the rewrite --------------------------------------------------------------------------------


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    edges = [k * n // parts for k in range(parts + 1)]
    return [(edges[k], edges[k + 1]) for k in range(parts)]


Region = tuple[int, int, int, int]  # y0, y1, x0, x1 (half-open, in the tensor's full coordinates)


def _union(a: Region | None, b: Region) -> Region:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _window_need(geom, out: Region, in_h: int, in_w: int) -> Region:  # type: ignore[no-untyped-def]
    """The input rows/columns a window op reads for output region `out` (clipped to the input)."""
    def axis(o0: int, o1: int, s: int, p: int, k: int, d: int, size: int) -> tuple[int, int]:
        return max(0, o0 * s - p), min(size, (o1 - 1) * s - p + (k - 1) * d + 1)
    y = axis(out[0], out[1], geom.stride_h, geom.pad_h, geom.k_h, geom.dil_h, in_h)
    x = axis(out[2], out[3], geom.stride_w, geom.pad_w, geom.k_w, geom.dil_w, in_w)
    return y[0], y[1], x[0], x[1]


def plan_patches(graph: Graph, spec: PatchSpec) -> PatchPlan:
    """The patch-based graph for `spec` (refused in one line when the split is not a valid cut)."""
    graph = fold_pads(graph)
    splits = candidate_splits(graph)
    if spec.split not in splits:
        hint = f"valid split nodes: {', '.join(map(str, splits))}" if splits else "this model has no patchable stage"
        raise EdgekitError(f"--patch {spec}: node {spec.split} does not end a patchable first stage ({hint})")
    pos = next(k for k, n in enumerate(graph.nodes) if n.index == spec.split)
    stage = graph.nodes[:pos + 1]
    split_t = stage[-1].outputs[0]
    split_shape = tuple(graph.tensors[split_t].shape)
    if spec.grid > min(split_shape[1:3]):
        raise EdgekitError(f"--patch {spec}: a {spec.grid}x{spec.grid} grid over a {split_shape[1]}x{split_shape[2]} "
                           "map leaves empty patches; use a smaller grid")
    tensors = list(graph.tensors)
    nodes: list[Node] = []

    def new_tensor(like: Tensor, shape: tuple[int, ...], name: str) -> int:
        t = Tensor(id=len(tensors), name=name, shape=shape, dtype=like.dtype, quant=like.quant)
        tensors.append(t)
        return t.id

    def add_node(op: str, inputs: list[int], outputs: list[int], attrs: dict) -> None:
        nodes.append(Node(index=len(nodes), op=op, inputs=inputs, outputs=outputs, attrs=attrs))

    def const_i32(values: list[int], name: str) -> int:
        arr = np.asarray(values, dtype=np.int32)
        t = Tensor(id=len(tensors), name=name, shape=arr.shape, dtype="int32", data=arr)
        tensors.append(t)
        return t.id

    regions = [(y0, y1, x0, x1) for (y0, y1) in _bounds(split_shape[1], spec.grid)
               for (x0, x1) in _bounds(split_shape[2], spec.grid)]
    map_t: int | None = None
    tile_bytes: list[int] = []
    stage_macs = 0
    for p, region in enumerate(regions):
        need: dict[int, Region] = {split_t: region}
        for node in reversed(stage):
            out = need.get(node.outputs[0])
            if out is None:
                continue
            opdef = get_op(node)
            for tid in graph.activation_inputs(node):
                x = graph.tensors[tid]
                want = (_window_need(opdef.patch_window(graph, node), out, x.shape[1], x.shape[2])
                        if opdef.patch_window is not None else out)
                need[tid] = _union(need.get(tid), want)
        for tid in graph.inputs:
            t = graph.tensors[tid]
            need[tid] = (0, t.shape[1], 0, t.shape[2])  # the model input is read in place, whole
        tile_of: dict[int, int] = {tid: tid for tid in graph.inputs}
        first = len(nodes)
        for node in stage:
            out_r = need.get(node.outputs[0])
            if out_r is None:
                continue
            y = graph.tensors[node.outputs[0]]
            oh, ow = out_r[1] - out_r[0], out_r[3] - out_r[2]
            last = node is stage[-1]
            out_id = new_tensor(y, (1, oh, ow, y.shape[3]), f"{y.name}@p{p}")
            opdef = get_op(node)
            inputs = list(node.inputs)
            attrs = dict(node.attrs)
            if opdef.patch_window is not None:
                (tid,) = graph.activation_inputs(node)
                g = opdef.patch_window(graph, node)
                reg = need[tid]
                attrs["explicit_window"] = (g.pad_h + reg[0] - out_r[0] * g.stride_h,
                                         g.pad_w + reg[2] - out_r[2] * g.stride_w, oh, ow)
                inputs = [tile_of[i] if i in tile_of else i for i in inputs]
            else:
                for k, tid in enumerate(inputs):
                    if tid not in tile_of:
                        continue
                    reg = need[tid]
                    if reg != out_r:  # a larger tile (another consumer reads a halo): crop it
                        x = graph.tensors[tid]
                        begin = [0, out_r[0] - reg[0], out_r[2] - reg[2], 0]
                        end = [1, begin[1] + oh, begin[2] + ow, x.shape[3]]
                        crop = new_tensor(x, (1, oh, ow, x.shape[3]), f"{x.name}@p{p}/crop")
                        add_node("STRIDED_SLICE", [tile_of[tid], const_i32(begin, f"{x.name}@p{p}/begin"),
                                                   const_i32(end, f"{x.name}@p{p}/end"),
                                                   const_i32([1, 1, 1, 1], f"{x.name}@p{p}/strides")], [crop], {})
                        inputs[k] = crop
                    else:
                        inputs[k] = tile_of[tid]
            attrs["patch"] = p
            add_node(node.op, inputs, [out_id], attrs)
            tile_of[node.outputs[0]] = out_id
            if last:
                map_out = split_t if p == len(regions) - 1 else new_tensor(
                    graph.tensors[split_t], split_shape, f"{graph.tensors[split_t].name}@map{p}")
                add_node(PASTE, ([map_t] if map_t is not None else []) + [out_id], [map_out],
                         {"y0": region[0], "x0": region[2], "map_shape": list(split_shape), "patch": p})
                map_t = map_out
        patch_nodes = nodes[first:]
        tile_bytes.append(sum(tensors[t].nbytes for n in patch_nodes if n.op != PASTE for t in n.outputs))
        stage_macs += sum(_macs(Graph(tensors, nodes, graph.inputs, graph.outputs), n) for n in patch_nodes)
    n_stage_nodes = len(nodes)
    for node in graph.nodes[pos + 1:]:
        nodes.append(Node(index=len(nodes), op=node.op, inputs=list(node.inputs), outputs=list(node.outputs),
                          attrs=dict(node.attrs)))
    patched = Graph(tensors=tensors, nodes=nodes, inputs=list(graph.inputs), outputs=list(graph.outputs),
                    name=graph.name, source_hash=graph.source_hash, description=graph.description)
    base_stage = sum(_macs(graph, n) for n in stage)
    total = sum(_macs(graph, n) for n in graph.nodes)
    rest = sum(_macs(patched, n) for n in patched.nodes[n_stage_nodes:])
    return PatchPlan(spec=spec, graph=patched, stage_nodes=len(stage), split_shape=split_shape,
                     patch_regions=regions, macs_layer_by_layer=total, macs_patched=stage_macs + rest,
                     stage_macs_layer_by_layer=base_stage, stage_macs_patched=stage_macs, tile_bytes=tile_bytes)


def _macs(graph: Graph, node: Node) -> int:
    return int(get_op(node).macs(graph, node))


# ---- choosing a plan ----------------------------------------------------------------------------


#: Without a budget, ``auto`` takes the smallest arena among the plans that recompute at most this
#: share of the model's MACs (or the least recomputing plan when none does).
MAX_AUTO_OVERHEAD = 0.25
#: Under a budget, ``auto`` plans at most this many candidates (fewest MACs first) for real.
MAX_MEASURED = 40


def choose_patches(graph: Graph, arena_of: Callable[[Graph], int], budget: int | None = None,
                   layer_by_layer_arena: int | None = None, measured: int = 10) -> PatchPlan | None:
    """``--patch auto``: the split and grid. `arena_of` plans a graph (lower → plan) and gives its
    arena bytes; the `measured` most promising plans (by a quick estimate) are planned for real.
    With a `budget` (the arena bytes the board leaves): None when layer by layer fits it, else the
    plan with the fewest MACs whose planned arena fits it (among the :data:`MAX_MEASURED`
    fewest-MAC candidates whose estimate fits), else the smallest arena; without: the smallest
    arena among the plans that recompute at most :data:`MAX_AUTO_OVERHEAD` of the model's MACs (all
    plans when none does). None when no plan beats `layer_by_layer_arena`."""
    graph = fold_pads(graph)
    plans: list[PatchPlan] = []
    for split in candidate_splits(graph):
        shape = graph.tensors[next(n for n in graph.nodes if n.index == split).outputs[0]].shape
        for grid in range(2, min(MAX_GRID, shape[1], shape[2]) + 1):
            plan = plan_patches(graph, PatchSpec(grid=grid, split=split))
            plan.arena_bytes = _live_estimate(plan.graph)
            plans.append(plan)
    if budget is not None and layer_by_layer_arena is not None and layer_by_layer_arena <= budget:
        return None  # layer by layer fits: no recompute is the least
    if budget is not None:
        # in MAC order, the first plan whose planned arena fits and beats layer by layer
        limit = layer_by_layer_arena if layer_by_layer_arena is not None else budget + 1
        fitting = sorted((pl for pl in plans if pl.arena_bytes <= budget), key=lambda pl: (pl.macs_patched,
                                                                                            pl.arena_bytes))
        for plan in fitting[:MAX_MEASURED]:
            plan.arena_bytes = arena_of(plan.graph)
            if plan.arena_bytes <= budget and plan.arena_bytes < limit:
                return plan
        pool = sorted(plans, key=lambda pl: (pl.arena_bytes, pl.macs_patched))[:measured]
    else:
        cheap = [pl for pl in plans if pl.recompute_macs <= MAX_AUTO_OVERHEAD * pl.macs_layer_by_layer] or plans
        pool = sorted(cheap, key=lambda pl: (pl.arena_bytes, pl.macs_patched))[:measured]
    seen: set[PatchSpec] = set()
    shortlist = []
    for plan in pool:
        if plan.spec not in seen:
            seen.add(plan.spec)
            plan.arena_bytes = arena_of(plan.graph)
            shortlist.append(plan)
    if layer_by_layer_arena is not None:
        shortlist = [pl for pl in shortlist if pl.arena_bytes < layer_by_layer_arena]
    if not shortlist:
        return None
    if budget is not None:
        fits = [pl for pl in shortlist if pl.arena_bytes <= budget]
        if fits:
            return min(fits, key=lambda pl: (pl.macs_patched, pl.arena_bytes))
    return min(shortlist, key=lambda pl: (pl.arena_bytes, pl.macs_patched))


def _live_estimate(graph: Graph) -> int:
    """Peak bytes of the feature maps alive at once (the model input read in place; no scratch, no
    in-place sharing): a quick ranking of plans before the real planner sizes the best few."""
    last: dict[int, int] = {}
    for k, node in enumerate(graph.nodes):
        for t in graph.activation_inputs(node):
            last[t] = k
    for t in graph.outputs:
        last[t] = len(graph.nodes)
    live: dict[int, int] = {}
    peak = 0
    for k, node in enumerate(graph.nodes):
        for t in node.outputs:
            live[t] = k
        peak = max(peak, sum(graph.tensors[t].nbytes for t in live))
        live = {t: s for t, s in live.items() if last.get(t, k) > k}
    return peak


def inplace_depthwise(graph: Graph, input_in_place: bool = False) -> tuple[Graph, list[int]]:
    """TinyEngine's in-place depthwise where it shrinks the arena: mark (attr ``in_place``) the
    depthwise convolutions whose output, written one channel plane at a time over their input
    (``ek_dwconv2d_s8_inplace``: scratch of one output plane), makes the planned arena smaller.
    A layer is marked in all its patches or in none (its tiles share one filter tensor, stored once
    in the in-place kernel's layout). Greedy: each layer is marked when the arena is no larger;
    then each mark the arena does not need is dropped again (the in-place kernel is the portable
    one, slower than the SIMD kernel it replaces). Bit-exact: the same arithmetic. Gives the graph
    and the marked node indices."""
    graph = fold_pads(graph)
    base = lower_graph(graph)
    step_of = {layer.node.index: k for k, layer in enumerate(base.layers) if not layer.fused}
    marked: dict[int, tuple[Node, object]] = {}  # node index → (marked node, its kernel call)
    layers_of: dict[int, list[int]] = {}  # filter tensor → its depthwise nodes
    for node in graph.nodes:
        if node.op == "DEPTHWISE_CONV_2D" and node.index in step_of and in_place_legal(graph, node):
            m = dataclasses.replace(node, attrs={**node.attrs, IN_PLACE: True})
            marked[node.index] = (m, get_op(m).lower(graph, m))  # type: ignore[misc]
            layers_of.setdefault(node.inputs[1], []).append(node.index)

    def arena(chosen: set[int]) -> int:
        layers = list(base.layers)
        for w in chosen:
            for idx in layers_of[w]:
                k = step_of[idx]
                layers[k] = dataclasses.replace(layers[k], call=marked[idx][1])
        return plan_memory(LoweredModel(graph=graph, layers=layers, input_in_place=input_in_place)).arena_bytes

    chosen: set[int] = set()
    plain = best = arena(chosen)
    for w in layers_of:
        size = arena(chosen | {w})
        if size <= best:
            chosen.add(w)
            best = size
    for w in sorted(chosen):
        if arena(chosen - {w}) <= best:
            chosen.discard(w)
    if not chosen or best >= plain:
        return graph, []
    nodes = {idx for w in chosen for idx in layers_of[w]}
    out = [marked[n.index][0] if n.index in nodes else n for n in graph.nodes]
    return dataclasses.replace(graph, nodes=out), sorted(nodes)
