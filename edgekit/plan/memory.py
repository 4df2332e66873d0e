"""Static memory planner: tensor lifetimes → offsets in one arena.

Activation tensors become buffers; a view (reshape/squeeze) shares its input's buffer and an
in-place op (`may_alias_input`) writes over an input whose life ends at that op. Each buffer
lives from the step that writes it to the last step that reads it (graph input from step 0,
graph output to the end). Buffers are placed greedily at the lowest offset that does not
overlap a buffer alive at the same time, trying several orders and keeping the smallest arena.
Per-op scratch is a buffer that lives for its op only. When the model reads its input in place
(``LoweredModel.input_in_place``) the input has no buffer in the arena and nothing aliases it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.lower import LoweredModel

ALIGN = 4


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    id: int
    size: int
    first: int  # step that writes it (-1: before the first step, i.e. the graph input)
    last: int  # last step that reads it
    tensors: list[int] = field(default_factory=list)  # activation tensor ids stored here
    offset: int = -1
    scratch_of: int | None = None  # step index for scratch buffers

    def overlaps(self, other: Buffer) -> bool:
        return not (self.last < other.first or other.last < self.first)


@dataclass
class MemoryPlan:
    arena_bytes: int
    buffers: list[Buffer]
    tensor_offset: dict[int, int]  # activation tensor id → arena offset
    scratch_offset: dict[int, int]  # step → scratch offset
    live_bytes: list[int]  # per step: bytes of buffers alive during the step
    lower_bound: int  # max live bytes: no plan can be smaller

    def timeline(self, labels: list[str]) -> list[tuple[str, int]]:
        return list(zip(labels, self.live_bytes, strict=True))


def plan_memory(model: LoweredModel) -> MemoryPlan:
    graph = model.graph
    n_steps = len(model.layers)
    buf_of: dict[int, Buffer] = {}
    buffers: list[Buffer] = []

    def new_buffer(tid: int, first: int) -> Buffer:
        b = Buffer(id=len(buffers), size=graph.tensors[tid].nbytes, first=first, last=first, tensors=[tid])
        buffers.append(b)
        buf_of[tid] = b
        return b

    external = set(graph.inputs) if model.input_in_place else set()
    for tid in graph.inputs:
        if tid not in external:
            new_buffer(tid, -1)
    last_use: dict[int, int] = {}
    for step, layer in enumerate(model.layers):
        for tid in layer.call.inputs:
            last_use[tid] = step
    for tid in graph.outputs:
        last_use[tid] = n_steps
    # views read their input "at" the steps their output is read: propagate backwards
    for step in reversed(range(n_steps)):
        call = model.layers[step].call
        if call.is_view:
            out_last = last_use.get(call.outputs[0], step)
            last_use[call.inputs[0]] = max(last_use.get(call.inputs[0], step), out_last)

    for step, layer in enumerate(model.layers):
        call = layer.call
        for tid in call.inputs:
            if tid not in external:
                buf_of[tid].last = max(buf_of[tid].last, last_use.get(tid, step))
        if call.is_view:
            if call.inputs[0] in external:
                raise ValueError("internal: a view of an input read in place")
            src = buf_of[call.inputs[0]]
            src.tensors.append(call.outputs[0])
            buf_of[call.outputs[0]] = src
            src.last = max(src.last, last_use.get(call.outputs[0], step))
            continue
        for k, tid in enumerate(call.outputs):
            alias = None
            if k == 0:
                for pos in call.may_alias_input:
                    src_tid = call.inputs[pos]
                    if src_tid in external:
                        continue
                    src = buf_of[src_tid]
                    ends_here = all(last_use.get(t, -2) <= step for t in src.tensors)
                    out_bytes = graph.tensors[tid].nbytes
                    fits = src.size == out_bytes or (call.may_alias_smaller and src.size >= out_bytes)
                    if ends_here and src_tid not in graph.outputs and fits:
                        alias = src
                        break
            if alias is not None:
                alias.tensors.append(tid)
                buf_of[tid] = alias
                alias.last = max(alias.last, last_use.get(tid, step))
            else:
                b = new_buffer(tid, step)
                b.last = max(step, last_use.get(tid, step))
        if call.scratch_bytes > 0:
            buffers.append(Buffer(id=len(buffers), size=call.scratch_bytes, first=step, last=step, scratch_of=step))

    live = [sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(n_steps)]
    best: list[int] | None = None
    best_size = -1
    orders = [
        sorted(buffers, key=lambda b: (-b.size, b.first)),
        sorted(buffers, key=lambda b: (-(b.last - b.first), -b.size)),
        sorted(buffers, key=lambda b: (b.first, -b.size)),
        sorted(buffers, key=lambda b: (-b.size * (b.last - b.first + 1), b.first)),
    ]
    for order in orders:
        offsets = _first_fit(order)
        size = max((offsets[b.id] + _align(b.size) for b in buffers), default=0)
        if best is None or size < best_size:
            best, best_size = offsets, size
    assert best is not None or not buffers
    for b in buffers:
        b.offset = best[b.id] if best is not None else 0
    tensor_offset = {tid: b.offset for b in buffers for tid in b.tensors}
    scratch_offset = {b.scratch_of: b.offset for b in buffers if b.scratch_of is not None}
    return MemoryPlan(arena_bytes=max(best_size, 0), buffers=buffers, tensor_offset=tensor_offset,
                      scratch_offset=scratch_offset, live_bytes=live, lower_bound=max(live, default=0))


def _first_fit(order: list[Buffer]) -> dict[int, int]:
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in order:
        taken = sorted((off, off + _align(p.size)) for p, off in placed if p.overlaps(b))
        pos = 0
        for start, end in taken:
            if pos + _align(b.size) <= start:
                break
            pos = max(pos, end)
        offsets[b.id] = pos
        placed.append((b, pos))
    return offsets
